//! The writer: appends sealed records and makes them durable before it
//! returns. Safe to share between threads and between processes appending to
//! the same file (an exclusive `flock` is held for each append).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bulwark_core::Clock;

use crate::chain::Head;
use crate::error::{AuditError, Tamper};
use crate::files::{self, Tail};
use crate::record::{Digest, Entry, Record};

/// Proof that an entry is in the log and on stable storage. Only
/// [`AuditLog::append`] makes one: code that must not act before its
/// decision is recorded takes a `Recorded` as a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    seq: u64,
    hash: Digest,
}

impl Recorded {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn hash(&self) -> Digest {
        self.hash
    }

    /// `SEQ:HASH`, to keep as an external anchor.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// An open, append-only audit log.
pub struct AuditLog {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

struct State {
    log: File,
    head_file: File,
    /// Length of the log file after our last write; another length means
    /// another process appended and the tail must be read again.
    len: u64,
    last: Head,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens the log at `path` (creating it and its head file `PATH.head`),
    /// checking that its end agrees with its head. A torn last line left by a
    /// writer that died mid-append (never acknowledged) is cut off and the
    /// cut is itself recorded.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<AuditLog, AuditError> {
        let io = |op| {
            let path = path.to_path_buf();
            move |source| AuditError::Io { path, op, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("create directory"))?;
        }
        let existed = path.exists();
        let head_file = files::open_rw(&files::head_path(path)).map_err(io("open head file"))?;
        let log = files::open_append(path).map_err(io("open"))?;
        let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let (false, Some(dir)) = (existed, parent) {
            files::sync_dir(dir).map_err(io("sync directory"))?;
        }
        let state = State {
            log,
            head_file,
            len: u64::MAX,
            last: Head::EMPTY,
        };
        let audit = AuditLog {
            path: path.to_path_buf(),
            clock,
            state: Mutex::new(state),
        };
        audit.with_lock(|_, _| Ok(()))?;
        Ok(audit)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry; returns once it and the head are fsync'd.
    pub fn append(&self, entry: &Entry) -> Result<Recorded, AuditError> {
        self.with_lock(|this, state| this.write_record(state, entry))
    }

    /// Appends several entries with one lock; each is fsync'd in turn.
    pub fn append_all(&self, entries: &[Entry]) -> Result<Vec<Recorded>, AuditError> {
        self.with_lock(|this, state| {
            entries
                .iter()
                .map(|entry| this.write_record(state, entry))
                .collect()
        })
    }

    /// The last record written, as `SEQ:HASH`.
    pub fn head(&self) -> Result<Head, AuditError> {
        self.with_lock(|_, state| Ok(state.last))
    }

    fn with_lock<T>(
        &self,
        f: impl FnOnce(&Self, &mut State) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.log.lock().map_err(|source| self.io("lock", source))?;
        let result = self
            .sync_state(&mut state)
            .and_then(|()| f(self, &mut state));
        if result.is_err() {
            state.len = u64::MAX;
        }
        let unlocked = state
            .log
            .unlock()
            .map_err(|source| self.io("unlock", source));
        let value = result?;
        unlocked?;
        Ok(value)
    }

    /// Re-reads the tail and head if the file changed since our last write.
    fn sync_state(&self, state: &mut State) -> Result<(), AuditError> {
        let len = state
            .log
            .metadata()
            .map_err(|source| self.io("stat", source))?
            .len();
        if len == state.len {
            return Ok(());
        }
        let tail = files::read_tail(&state.log).map_err(|source| self.io("read tail", source))?;
        let last = self.last_of(&tail)?;
        let head = self.read_head(state, &tail, last)?;
        if head.seq > last.seq {
            return Err(self.damaged(Tamper::Truncated {
                by: "head file",
                expected: head.seq,
                last: last.seq,
            }));
        }
        if head.seq == last.seq && head.hash != last.hash {
            return Err(self.damaged(Tamper::HeadMismatch {
                by: "head file",
                seq: head.seq,
            }));
        }
        state.last = last;
        state.len = tail.len;
        if tail.torn > 0 {
            self.discard_torn(state, &tail)?;
        }
        Ok(())
    }

    fn last_of(&self, tail: &Tail) -> Result<Head, AuditError> {
        let Some(line) = &tail.last_line else {
            return Ok(Head::EMPTY);
        };
        let record = Record::from_line(line).map_err(|e| {
            self.damaged(Tamper::Malformed {
                line: 0,
                reason: format!("last record: {e}"),
            })
        })?;
        if record.computed_hash().ok() != Some(record.hash) {
            return Err(self.damaged(Tamper::HashMismatch {
                line: 0,
                seq: record.seq,
            }));
        }
        Ok(Head {
            seq: record.seq,
            hash: record.hash,
        })
    }

    fn read_head(&self, state: &State, tail: &Tail, last: Head) -> Result<Head, AuditError> {
        let head = files::read_head(&state.head_file)
            .map_err(|source| self.io("read head file", source))?;
        match head {
            Some(Ok(head)) => Ok(head),
            Some(Err(problem)) => Err(self.bad_head(problem)),
            None if tail.len == 0 => {
                files::write_head(&state.head_file, Head::EMPTY)
                    .map_err(|source| self.io("write head file", source))?;
                Ok(Head::EMPTY)
            }
            None if last.seq > 0 || tail.torn > 0 => Err(self.bad_head("missing".into())),
            None => Ok(Head::EMPTY),
        }
    }

    /// Cuts a torn last line (a write that never completed, so was never
    /// acknowledged) and records that it did so.
    fn discard_torn(&self, state: &mut State, tail: &Tail) -> Result<(), AuditError> {
        let keep = tail.len - tail.torn;
        state
            .log
            .set_len(keep)
            .and_then(|()| state.log.sync_data())
            .map_err(|source| self.io("cut torn record", source))?;
        state.len = keep;
        let entry = Entry::new("bulwark-audit", "audit.torn_record_discarded")
            .outcome(crate::Outcome::Success)
            .detail(serde_json::json!({ "bytes": tail.torn }));
        self.write_record(state, &entry).map(|_| ())
    }

    fn write_record(&self, state: &mut State, entry: &Entry) -> Result<Recorded, AuditError> {
        let time = self.now()?;
        let record =
            Record::seal(entry, state.last.seq + 1, time, state.last.hash).map_err(|source| {
                AuditError::Record {
                    path: self.path.clone(),
                    source,
                }
            })?;
        let mut line = record.to_line().map_err(|source| AuditError::Record {
            path: self.path.clone(),
            source,
        })?;
        line.push('\n');
        state.len = u64::MAX;
        state
            .log
            .write_all(line.as_bytes())
            .and_then(|()| state.log.sync_data())
            .map_err(|source| self.io("append", source))?;
        let head = Head {
            seq: record.seq,
            hash: record.hash,
        };
        files::write_head(&state.head_file, head)
            .map_err(|source| self.io("write head file", source))?;
        state.last = head;
        state.len = state
            .log
            .metadata()
            .map_err(|source| self.io("stat", source))?
            .len();
        Ok(Recorded {
            seq: record.seq,
            hash: record.hash,
        })
    }

    fn now(&self) -> Result<String, AuditError> {
        rfc3339(self.clock.now()).ok_or_else(|| AuditError::Clock {
            path: self.path.clone(),
        })
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn damaged(&self, source: Tamper) -> AuditError {
        AuditError::Damaged {
            path: self.path.clone(),
            source,
        }
    }

    fn bad_head(&self, problem: String) -> AuditError {
        self.damaged(Tamper::BadHead {
            path: files::head_path(&self.path),
            problem,
        })
    }
}

/// `at` as RFC 3339 UTC, or `None` if it is before 1970 or out of range.
fn rfc3339(at: std::time::SystemTime) -> Option<String> {
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    let since = time::Duration::try_from(since).ok()?;
    time::OffsetDateTime::UNIX_EPOCH
        .checked_add(since)?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}
