use std::io;
use std::path::PathBuf;

/// Why attribution could not read or understand the host's state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is larger than the {limit}-byte limit for runtime state files")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: not a valid {what}")]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("{path}: invalid container id")]
    BadId {
        path: PathBuf,
        #[source]
        source: bulwark_core::IdError,
    },
    #[error("watching runtime state directories: {what}")]
    Watch {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup v2 hierarchy is mounted (no cgroup2 line in {path})")]
    NoCgroup2 { path: PathBuf },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the file or process simply is not there (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(3))
    }
}
