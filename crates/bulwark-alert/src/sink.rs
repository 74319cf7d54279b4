//! The sink interface and the JSON-lines sink (stdout or a file).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bulwark_core::Alert;

use crate::error::SinkError;

/// Somewhere alerts go.
pub trait Sink: Send {
    /// A short name for errors and metrics: `stdout`, `file`, `syslog`, `webhook`.
    fn name(&self) -> &'static str;
    /// Delivers (or queues) one alert.
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError>;
}

/// One JSON object per line. Serde escapes control characters, so no field
/// of an alert can start a new line.
pub struct JsonLinesSink {
    name: &'static str,
    path: PathBuf,
    out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink")
            .field("path", &self.path)
            .finish()
    }
}

impl JsonLinesSink {
    pub fn stdout() -> JsonLinesSink {
        JsonLinesSink {
            name: "stdout",
            path: PathBuf::from("<stdout>"),
            out: Box::new(std::io::stdout()),
        }
    }

    /// Appends to `path` (created with mode 0600).
    pub fn file(path: &Path) -> Result<JsonLinesSink, SinkError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| SinkError::Io {
                sink: "file",
                op: "open",
                path: path.to_path_buf(),
                source,
            })?;
        Ok(JsonLinesSink {
            name: "file",
            path: path.to_path_buf(),
            out: Box::new(file),
        })
    }

    /// Any writer, for tests and pipes.
    pub fn writer(name: &'static str, out: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            name,
            path: PathBuf::from(format!("<{name}>")),
            out,
        }
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &'static str {
        self.name
    }

    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(alert).map_err(|source| SinkError::Encode {
            sink: self.name,
            source,
        })?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .map_err(|source| SinkError::Io {
                sink: self.name,
                op: "write",
                path: self.path.clone(),
                source,
            })
    }
}
