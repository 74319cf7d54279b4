//! The one error type of this crate. Every variant names the input it is
//! about (a file, a layer, a registry URL) so the message stands on its own.

use std::io;

use crate::digest::Digest;
use crate::limits::Limit;

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Reading or opening a local file failed.
    #[error("{input}: {source}")]
    Io {
        /// The file or stream.
        input: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The argument names no image this crate can read.
    #[error("{input}: {reason}")]
    UnknownInput {
        /// The argument as given.
        input: String,
        /// What was looked for.
        reason: String,
    },
    /// A document or archive does not follow its format.
    #[error("{input}: {reason}")]
    Malformed {
        /// The document or archive.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document does not parse.
    #[error("{input}: invalid JSON: {source}")]
    Json {
        /// The document.
        input: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Content does not hash to the digest it is addressed by.
    #[error("{input}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The blob, layer or document.
        input: String,
        /// The digest that names it.
        expected: Digest,
        /// The digest of what was read.
        actual: Digest,
    },
    /// Content size differs from the size its descriptor declares.
    #[error("{input}: size mismatch: descriptor says {expected} bytes, read {actual}")]
    SizeMismatch {
        /// The blob.
        input: String,
        /// Declared size.
        expected: u64,
        /// Bytes read.
        actual: u64,
    },
    /// A resource limit was hit.
    #[error("{input}: limit exceeded: {what} (limit {limit})")]
    LimitExceeded {
        /// Which limit.
        what: Limit,
        /// Its value.
        limit: u64,
        /// Where it was hit.
        input: String,
    },
    /// An entry or link would point outside the image root.
    #[error("{input}: unsafe path {path:?}: {reason}")]
    UnsafePath {
        /// The layer or archive.
        input: String,
        /// The path as found (lossy UTF-8, truncated).
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The image uses something this crate does not read.
    #[error("{input}: unsupported {what}")]
    Unsupported {
        /// The image, layer or document.
        input: String,
        /// What is unsupported.
        what: String,
    },
    /// No manifest in an index matches the wanted platform or name.
    #[error("{input}: no image for {wanted}; available: {available}")]
    NoMatch {
        /// The index.
        input: String,
        /// The platform or name asked for.
        wanted: String,
        /// What the index offers.
        available: String,
    },
    /// A stream ended before its declared end.
    #[error("{input}: truncated: {reason}")]
    Truncated {
        /// The layer or blob.
        input: String,
        /// What was cut.
        reason: String,
    },
    /// Talking to a registry failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A visitor returned an error for an entry.
    #[error("{input}: {path}: {source}")]
    Visitor {
        /// The layer.
        input: String,
        /// The entry path (lossy UTF-8).
        path: String,
        /// The visitor's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ImageError {
    pub(crate) fn io(input: impl Into<String>, source: io::Error) -> Self {
        ImageError::Io {
            input: input.into(),
            source,
        }
    }

    pub(crate) fn malformed(input: impl Into<String>, reason: impl Into<String>) -> Self {
        ImageError::Malformed {
            input: input.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(what: Limit, limit: u64, input: impl Into<String>) -> Self {
        ImageError::LimitExceeded {
            what,
            limit,
            input: input.into(),
        }
    }

    /// Turns an I/O error from a stream into the typed error it carries
    /// (a limit or a digest mismatch raised inside a reader), or wraps it.
    pub(crate) fn from_stream(input: &str, err: io::Error) -> Self {
        if err.get_ref().is_some_and(|e| e.is::<ImageError>()) {
            if let Some(Ok(image)) = err.into_inner().map(|inner| inner.downcast::<ImageError>()) {
                return *image;
            }
            return ImageError::malformed(input, "stream error");
        }
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return ImageError::Truncated {
                input: input.to_owned(),
                reason: err.to_string(),
            };
        }
        ImageError::io(input, err)
    }

    /// Wraps this error in an `io::Error` so it can cross a `Read` boundary.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Lossy, truncated text of a raw path for messages.
pub(crate) fn show_path(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > 200 {
        let head: String = text.chars().take(200).collect();
        format!("{head}...")
    } else {
        text.into_owned()
    }
}
