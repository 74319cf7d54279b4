//! The writer: appends sealed records and makes them durable before it
//! returns. Safe to share between threads and between processes appending to
//! the same file (an exclusive `flock` is held for each write).
//!
//! Group commit: threads appending at the same time share one write and one
//! `fdatasync`. The first waiting thread writes everything queued so far
//! while later arrivals queue up for the next round.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

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
    group: Mutex<Group>,
    committed: Condvar,
}

/// Appends waiting for the next write.
#[derive(Default)]
struct Group {
    queue: Vec<(u64, Entry)>,
    done: HashMap<u64, Result<Recorded, AuditError>>,
    next_ticket: u64,
    writing: bool,
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
            group: Mutex::new(Group::default()),
            committed: Condvar::new(),
        };
        audit.with_lock(|_, _| Ok(()))?;
        Ok(audit)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry; returns once it is on stable storage.
    pub fn append(&self, entry: &Entry) -> Result<Recorded, AuditError> {
        let mut group = self.group.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = group.next_ticket;
        group.next_ticket += 1;
        group.queue.push((ticket, entry.clone()));
        loop {
            if let Some(result) = group.done.remove(&ticket) {
                return result;
            }
            if group.writing {
                group = self
                    .committed
                    .wait(group)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            group.writing = true;
            let batch = std::mem::take(&mut group.queue);
            drop(group);
            let (tickets, entries): (Vec<u64>, Vec<Entry>) = batch.into_iter().unzip();
            let results = self.write_batch(&entries);
            group = self.group.lock().unwrap_or_else(|p| p.into_inner());
            group.done.extend(tickets.into_iter().zip(results));
            group.writing = false;
            self.committed.notify_all();
        }
    }

    /// Appends several entries in one write and one `fdatasync`; all or none
    /// are recorded unless an entry itself is invalid.
    pub fn append_all(&self, entries: &[Entry]) -> Result<Vec<Recorded>, AuditError> {
        self.write_batch(entries).into_iter().collect()
    }

    /// Writes `entries` (each result in order: invalid entries fail alone).
    fn write_batch(&self, entries: &[Entry]) -> Vec<Result<Recorded, AuditError>> {
        let mut results: Vec<Option<Result<Recorded, AuditError>>> = Vec::new();
        let outcome = self.with_lock(|this, state| {
            results = this.write_records(state, entries);
            Ok(())
        });
        match outcome {
            Ok(()) => results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(self.unwritten())))
                .collect(),
            Err(e) => entries.iter().map(|_| Err(duplicate(&e))).collect(),
        }
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
                files::write_head(&state.head_file, Head::EMPTY, true)
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
        match self.write_records(state, &[entry]).pop().flatten() {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(self.unwritten()),
        }
    }

    /// Seals and writes `entries` after the last record: one write, one
    /// `fdatasync`, then the head. `None` for entries not attempted.
    fn write_records(
        &self,
        state: &mut State,
        entries: &[Entry],
    ) -> Vec<Option<Result<Recorded, AuditError>>> {
        let mut results: Vec<Option<Result<Recorded, AuditError>>> =
            Vec::with_capacity(entries.len());
        let mut buf = String::new();
        let mut last = state.last;
        let time = match self.now() {
            Ok(t) => t,
            Err(e) => return entries.iter().map(|_| Some(Err(duplicate(&e)))).collect(),
        };
        for entry in entries {
            let sealed = Record::seal(entry, last.seq + 1, time.clone(), last.hash)
                .and_then(|r| r.to_line().map(|line| (r, line)));
            match sealed {
                Ok((record, line)) => {
                    buf.push_str(&line);
                    buf.push('\n');
                    last = Head {
                        seq: record.seq,
                        hash: record.hash,
                    };
                    results.push(Some(Ok(Recorded {
                        seq: record.seq,
                        hash: record.hash,
                    })));
                }
                Err(source) => results.push(Some(Err(AuditError::Record {
                    path: self.path.clone(),
                    source,
                }))),
            }
        }
        if buf.is_empty() {
            return results;
        }
        if let Err(e) = self.write_lines(state, &buf, last) {
            for r in &mut results {
                if matches!(r, Some(Ok(_))) {
                    *r = Some(Err(duplicate(&e)));
                }
            }
        }
        results
    }

    /// Appends `buf`, makes it durable, then records `last` in the head.
    /// The head is rewritten without its own `fdatasync`: it is a lower
    /// bound, and whatever state of it survives a crash is still one.
    fn write_lines(&self, state: &mut State, buf: &str, last: Head) -> Result<(), AuditError> {
        state.len = u64::MAX;
        state
            .log
            .write_all(buf.as_bytes())
            .and_then(|()| state.log.sync_data())
            .map_err(|source| self.io("append", source))?;
        files::write_head(&state.head_file, last, false)
            .map_err(|source| self.io("write head file", source))?;
        state.last = last;
        state.len = state
            .log
            .metadata()
            .map_err(|source| self.io("stat", source))?
            .len();
        Ok(())
    }

    fn unwritten(&self) -> AuditError {
        self.io("append", std::io::Error::other("entry was not written"))
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

/// A copy of `e` for every waiter of a failed group write.
fn duplicate(e: &AuditError) -> AuditError {
    match e {
        AuditError::Io { path, op, source } => AuditError::Io {
            path: path.clone(),
            op,
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        AuditError::Damaged { path, source } => AuditError::Damaged {
            path: path.clone(),
            source: source.clone(),
        },
        AuditError::Tampered { path, source } => AuditError::Tampered {
            path: path.clone(),
            source: source.clone(),
        },
        AuditError::Clock { path } => AuditError::Clock { path: path.clone() },
        AuditError::Record { path, source } => AuditError::Io {
            path: path.clone(),
            op: "append",
            source: std::io::Error::other(source.to_string()),
        },
    }
}
