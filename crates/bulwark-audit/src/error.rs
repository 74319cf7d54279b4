//! Errors of the audit log: a record that cannot be made, evidence of
//! tampering found by verification, and I/O failures with the file named.

use std::path::PathBuf;

/// A record could not be built or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A required field is empty.
    #[error("audit field {field} is empty")]
    Empty { field: &'static str },
    /// A field is over its size limit.
    #[error("audit field {field} is {len} bytes, the limit is {limit}")]
    TooLarge {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    /// JSON encoding or decoding failed.
    #[error("audit record JSON")]
    Json {
        #[source]
        source: serde_json::Error,
    },
}

/// What verification found wrong with a log. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Tamper {
    /// The line is not a record.
    #[error("line {line}: not an audit record: {reason}")]
    Malformed { line: u64, reason: String },
    /// The line is longer than any record the writer produces.
    #[error("line {line}: longer than any audit record")]
    LineTooLong { line: u64 },
    /// The record's fields do not hash to its hash: it was edited.
    #[error("line {line}: record {seq} was edited (its hash does not match its fields)")]
    HashMismatch { line: u64, seq: u64 },
    /// The record's bytes are not the writer's canonical form: it was edited.
    #[error("line {line}: record {seq} was edited (not in canonical form)")]
    NotCanonical { line: u64, seq: u64 },
    /// A sequence number is missing or out of place.
    #[error(
        "line {line}: record {found} where {expected} was expected: records were deleted, inserted or reordered"
    )]
    SequenceGap {
        line: u64,
        expected: u64,
        found: u64,
    },
    /// The record does not name the hash of the record before it.
    #[error("line {line}: record {seq} does not follow the record before it: the chain was broken")]
    ChainBroken { line: u64, seq: u64 },
    /// The file ends in the middle of a line.
    #[error(
        "line {line}: the log ends inside a record ({bytes} bytes without a newline): truncated"
    )]
    TornTail { line: u64, bytes: usize },
    /// The log ends before a record the writer (or an anchor) vouched for.
    #[error(
        "the log ends at record {last} but the {by} names record {expected}: records were removed from the end"
    )]
    Truncated {
        by: &'static str,
        expected: u64,
        last: u64,
    },
    /// The record at an expected sequence number has another hash.
    #[error("record {seq} is not the one the {by} names: the log was rewritten")]
    HeadMismatch { by: &'static str, seq: u64 },
    /// The head file is missing or unreadable while the log has records.
    #[error("the head file {path} is {problem}")]
    BadHead { path: PathBuf, problem: String },
}

/// Errors of the log file itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or writing a file failed.
    #[error("audit log {path}: {op}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The entry could not be recorded.
    #[error("audit log {path}: cannot record entry")]
    Record {
        path: PathBuf,
        #[source]
        source: RecordError,
    },
    /// The existing log is damaged or was tampered with; nothing is appended
    /// to it until a person has looked.
    #[error("audit log {path} is damaged, refusing to append")]
    Damaged {
        path: PathBuf,
        #[source]
        source: Tamper,
    },
    /// Verification found the log tampered with.
    #[error("audit log {path} failed verification")]
    Tampered {
        path: PathBuf,
        #[source]
        source: Tamper,
    },
    /// The system clock is before 1970 or beyond what RFC 3339 can hold.
    #[error("audit log {path}: the clock reads an impossible time")]
    Clock { path: PathBuf },
}
