//! Verification of a log file against its head file and optional anchors.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::chain::{ChainVerifier, Head, Verified};
use crate::error::{AuditError, Tamper};
use crate::files;
use crate::record::MAX_LINE_LEN;

/// Verifies every record of the log at `path`: hashes, sequence, chain, the
/// head file `PATH.head`, and `anchor` (a `SEQ:HASH` kept elsewhere, which
/// also catches a log rewritten together with its head).
pub fn verify_file(path: &Path, anchor: Option<Head>) -> Result<Verified, AuditError> {
    let io = |op| {
        move |source| AuditError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let tampered = |source| AuditError::Tampered {
        path: path.to_path_buf(),
        source,
    };
    let log = File::open(path).map_err(io("open"))?;
    let head = read_head_for_verify(path, &log).map_err(tampered)?;
    let mut expect = vec![(head, "head file")];
    if let Some(anchor) = anchor {
        expect.push((anchor, "anchor"));
    }
    let mut verifier = ChainVerifier::new(expect);
    let mut reader = BufReader::new(log);
    let mut line = Vec::new();
    while files::read_line(&mut reader, &mut line).map_err(io("read"))? > 0 {
        if line.len() > MAX_LINE_LEN && !line.ends_with(b"\n") {
            return Err(tampered(Tamper::LineTooLong {
                line: verifier.lines_read() + 1,
            }));
        }
        verifier.push(&line).map_err(tampered)?;
    }
    verifier.finish().map_err(tampered)
}

fn read_head_for_verify(path: &Path, log: &File) -> Result<Head, Tamper> {
    let head_path = files::head_path(path);
    let bad = |problem: String| Tamper::BadHead {
        path: head_path.clone(),
        problem,
    };
    let log_len = log.metadata().map_err(|e| bad(e.to_string()))?.len();
    let file = match File::open(&head_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && log_len == 0 => {
            return Ok(Head::EMPTY);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(bad("missing".into())),
        Err(e) => return Err(bad(e.to_string())),
    };
    match files::read_head(&file).map_err(|e| bad(e.to_string()))? {
        Some(Ok(head)) => Ok(head),
        Some(Err(problem)) => Err(bad(problem)),
        None if log_len == 0 => Ok(Head::EMPTY),
        None => Err(bad("empty".into())),
    }
}
