//! The server's use of the audit log (`bulwark-audit`): one record per API
//! call, appended and fsync'd before the response leaves; for writes, the
//! append is the gate of the database transaction, so a change the log
//! refuses is never committed. Also reads recent records for the API.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_audit::{AuditError, AuditLog, Entry, Record, Recorded};

use crate::db::Gate;

/// The shared audit log.
#[derive(Clone, Debug)]
pub struct AuditTrail {
    log: Arc<AuditLog>,
}

impl AuditTrail {
    pub fn open(path: &Path) -> Result<AuditTrail, AuditError> {
        let log = AuditLog::open(path, Arc::new(bulwark_core::SystemClock))?;
        Ok(AuditTrail { log: Arc::new(log) })
    }

    pub fn path(&self) -> PathBuf {
        self.log.path().to_path_buf()
    }

    /// A commit gate that appends `entry` (blocking; runs on the storage
    /// worker thread).
    pub fn gate(&self, entry: Entry) -> Gate<Recorded> {
        let log = Arc::clone(&self.log);
        Box::new(move || log.append(&entry).map_err(|e| e.to_string()))
    }

    /// Appends on the calling thread (blocking: a write and an fsync).
    pub fn append_blocking(&self, entry: &Entry) -> Result<Recorded, AuditError> {
        self.log.append(entry)
    }

    /// Appends outside a transaction.
    pub async fn append(&self, entry: Entry) -> Result<Recorded, AuditError> {
        let log = Arc::clone(&self.log);
        match tokio::task::spawn_blocking(move || log.append(&entry)).await {
            Ok(result) => result,
            Err(e) => Err(AuditError::Io {
                path: self.path(),
                op: "append (worker)",
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

/// Why recent records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: a record is unreadable: {problem}")]
    Record { path: PathBuf, problem: String },
}

const CHUNK: u64 = 64 * 1024;
const MAX_LINE: usize = 1 << 20;

/// The newest `limit` records with `seq < before` (all when `None`),
/// newest first, read backwards from the end of the file.
pub fn read_recent(
    path: &Path,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut pos = file.seek(SeekFrom::End(0)).map_err(io)?;
    let mut carry: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while pos > 0 && out.len() < limit {
        let step = pos.min(CHUNK);
        pos -= step;
        file.seek(SeekFrom::Start(pos)).map_err(io)?;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        file.read_exact(&mut chunk).map_err(io)?;
        chunk.extend_from_slice(&carry);
        carry = chunk;
        // Every line but the first of the buffer is complete.
        while let Some(nl) = carry.iter().rposition(|b| *b == b'\n') {
            let line = carry.split_off(nl + 1);
            carry.truncate(nl);
            take(path, &line, before, &mut out)?;
            if out.len() >= limit {
                return Ok(out);
            }
        }
        if carry.len() > MAX_LINE {
            return Err(ReadError::Record {
                path: path.to_path_buf(),
                problem: "a line longer than 1 MiB".into(),
            });
        }
    }
    if out.len() < limit {
        take(path, &carry, before, &mut out)?;
    }
    Ok(out)
}

fn take(
    path: &Path,
    line: &[u8],
    before: Option<u64>,
    out: &mut Vec<Record>,
) -> Result<(), ReadError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let text = std::str::from_utf8(line).map_err(|e| ReadError::Record {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    let record = Record::from_line(text.trim_end()).map_err(|e| ReadError::Record {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    if before.is_none_or(|b| record.seq < b) {
        out.push(record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_newest_first_across_chunk_boundaries_and_pages() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, Arc::new(bulwark_core::SystemClock))?;
        let big = "x".repeat(20_000);
        for i in 0..40 {
            log.append(
                &Entry::new("t", "a")
                    .target(format!("{i}"))
                    .detail(serde_json::json!({"pad": big})),
            )?;
        }
        let recent = read_recent(&path, None, 5)?;
        let seqs: Vec<u64> = recent.iter().map(|r| r.seq).collect();
        let last = recent.first().map_or(0, |r| r.seq);
        assert_eq!(seqs, (last - 4..=last).rev().collect::<Vec<_>>());
        let page = read_recent(&path, Some(last - 4), 100)?;
        assert_eq!(page.len() + 5, 40);
        assert!(page.iter().all(|r| r.seq < last - 4));
        Ok(())
    }
}
