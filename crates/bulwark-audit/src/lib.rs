//! The audit log: an append-only, hash-chained record of who did what, kept
//! durable before anyone is told it happened.
//!
//! Every record is one JSON line with a sequence number, time, actor, action,
//! target, outcome and detail, plus `prev` (the hash of the record before)
//! and `hash` (SHA-256 over all of its other fields). [`AuditLog::append`]
//! returns a [`Recorded`] only after the line is fsync'd and the head file
//! (`PATH.head`, a lower bound `SEQ:HASH` on the log's length) rewritten, so
//! a process killed at any instant loses no acknowledged record. Threads
//! appending at once share one write and one `fdatasync` (group commit). [`verify_file`] detects edited,
//! deleted, inserted, reordered and truncated records; an anchor kept outside
//! the machine (`SEQ:HASH`) also detects a log rewritten together with its
//! head. Field values cannot forge records: JSON escapes every control
//! character, so CR/LF/ESC inside a field never leave its line.
//!
//! It does not decide what is worth recording (callers do), rotate or ship
//! logs, or sign records with a key: someone who can rewrite both the log and
//! its head on this machine is caught only by an external anchor.

mod chain;
mod error;
mod files;
mod log;
mod record;
mod verify;

pub use chain::{ChainVerifier, Head, Verified};
pub use error::{AuditError, RecordError, Tamper};
pub use files::head_path;
pub use log::{AuditLog, Recorded};
pub use record::{Digest, Entry, MAX_DETAIL_LEN, MAX_FIELD_LEN, Outcome, Record};
pub use verify::verify_file;
