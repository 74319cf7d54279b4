//! RFC 5424 syslog over a unix datagram socket (`/dev/log` by default): one
//! datagram per alert, the alert's JSON as the message.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use bulwark_core::{Alert, Severity};

use crate::error::SinkError;
use crate::sink::Sink;

/// Facility `authpriv` (10): security messages.
const FACILITY_AUTHPRIV: u8 = 10;

#[derive(Debug)]
pub struct SyslogSink {
    socket: UnixDatagram,
    path: PathBuf,
    hostname: String,
    pid: u32,
}

impl SyslogSink {
    /// Connects to the syslog socket at `path`.
    pub fn connect(path: &Path) -> Result<SyslogSink, SinkError> {
        let io = |op| {
            move |source| SinkError::Io {
                sink: "syslog",
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let socket = UnixDatagram::unbound().map_err(io("create socket for"))?;
        socket.connect(path).map_err(io("connect to"))?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(|| "-".to_owned());
        Ok(SyslogSink {
            socket,
            path: path.to_path_buf(),
            hostname,
            pid: std::process::id(),
        })
    }

    /// The datagram for `alert`.
    pub fn format(&self, alert: &Alert) -> Result<String, SinkError> {
        let json = serde_json::to_string(alert).map_err(|source| SinkError::Encode {
            sink: "syslog",
            source,
        })?;
        let pri = u16::from(FACILITY_AUTHPRIV) * 8 + u16::from(level(alert.severity));
        let time = alert
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "-".to_owned());
        Ok(format!(
            "<{pri}>1 {time} {} bulwark {} alert - {json}",
            self.hostname, self.pid
        ))
    }
}

/// Syslog severity (0 emergency .. 7 debug) for an alert severity.
fn level(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Unknown => 6,
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let msg = self.format(alert)?;
        self.socket
            .send(msg.as_bytes())
            .map(|_| ())
            .map_err(|source| SinkError::Io {
                sink: "syslog",
                op: "send to",
                path: self.path.clone(),
                source,
            })
    }
}
