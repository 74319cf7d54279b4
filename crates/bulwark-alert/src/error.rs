//! Errors of alert sinks.

use std::path::PathBuf;

/// A sink could not be opened or could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A file or socket operation failed.
    #[error("alert sink {sink}: {op} {path}")]
    Io {
        sink: &'static str,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An alert could not be encoded.
    #[error("alert sink {sink}: cannot encode alert")]
    Encode {
        sink: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The webhook configuration is unusable.
    #[error("alert webhook {url}: {problem}")]
    Webhook { url: String, problem: String },
    /// The webhook queue is full; the alert was dropped and counted.
    #[error("alert webhook {url}: queue full, alert dropped")]
    QueueFull { url: String },
}
