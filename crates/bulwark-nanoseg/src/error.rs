//! Errors of the profile store and the stage.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("profile store: {op} {path}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A profile file is not a valid profile.
    #[error("profile store: {path}")]
    Document {
        path: PathBuf,
        #[source]
        source: bulwark_profile::DocumentError,
    },
    /// A profile file is larger than any profile.
    #[error("profile store: {path} is {len} bytes, larger than any profile")]
    TooLarge { path: PathBuf, len: u64 },
    /// A file holds another workload's profile than its name says.
    #[error(
        "profile store: {path} holds the profile of {workload}, not the workload its name encodes"
    )]
    Misplaced { path: PathBuf, workload: String },
}

impl StoreError {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A profile change could not be recorded; the change was rolled back.
    #[error("profile change for {workload} not recorded in the audit log, rolled back")]
    Audit {
        workload: String,
        #[source]
        source: bulwark_audit::AuditError,
    },
}

/// Why a profile pushed by the control plane was not applied. Nothing was
/// changed: not the engine, not the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushFailure {
    /// The document is larger than any profile.
    #[error("profile {name:?} from the server: {len} bytes, the limit is {limit}")]
    TooLarge {
        name: String,
        len: usize,
        limit: usize,
    },
    /// Not a valid profile document.
    #[error("profile {name:?} from the server is not a valid profile")]
    Document {
        name: String,
        #[source]
        source: bulwark_profile::DocumentError,
    },
    /// Not exactly one document, or not the one the update names.
    #[error("profile {name:?} from the server: {problem}")]
    Invalid { name: String, problem: String },
    /// Refused by the apply rule (rollback, wrong workload).
    #[error("profile {name:?} from the server refused")]
    Refused {
        name: String,
        #[source]
        source: bulwark_profile::PushError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The change could not be recorded, so it was not made.
    #[error("profile {name:?} from the server: not recorded in the audit log, not applied")]
    Audit {
        name: String,
        #[source]
        source: bulwark_audit::AuditError,
    },
}
