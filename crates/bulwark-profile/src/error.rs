//! Errors of the profile crate.

/// A profile document could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The stream is larger than any real profile.
    #[error("{source_name}: {len} bytes, the limit for profile documents is {limit}")]
    TooLarge {
        source_name: String,
        len: usize,
        limit: usize,
    },
    /// YAML syntax or a field of the wrong shape.
    #[error("{source_name}: document {index}: {message}")]
    Yaml {
        source_name: String,
        index: usize,
        message: String,
    },
    /// Well-formed but not an acceptable profile.
    #[error("{source_name}: document {index}: {problem}")]
    Invalid {
        source_name: String,
        index: usize,
        problem: String,
    },
    /// No document at all.
    #[error("{source_name}: no profile document found")]
    Empty { source_name: String },
}
