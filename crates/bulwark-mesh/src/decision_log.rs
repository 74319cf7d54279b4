//! The decision log: one JSON line per connection (and per HTTP request in
//! HTTP mode) with both identities, the verdict, the policy that decided and
//! why. Refused handshakes are logged too, with the reason. Control
//! characters in any field are escaped by JSON, so a peer can not forge lines.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use tracing::{info, warn};

/// Whether denials are enforced or only reported (dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Audit,
}

/// Which way the connection goes through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub time: String,
    pub direction: Direction,
    pub listener: SocketAddr,
    pub peer_addr: SocketAddr,
    pub local_id: String,
    /// `None` when the peer never proved an identity.
    pub peer_id: Option<String>,
    /// Outbound: the identity the route expects the callee to prove (set
    /// even when nothing was dialled, so a refusal names both identities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_peer_id: Option<String>,
    /// `allow`, `deny`, or `audit-deny` (would have been denied; audit mode).
    pub decision: &'static str,
    pub policy: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Where records go.
pub struct DecisionLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog").finish_non_exhaustive()
    }
}

impl DecisionLog {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        DecisionLog {
            out: Mutex::new(out),
        }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    /// Appends to `path` (created 0640 if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        Ok(Self::new(Box::new(f)))
    }

    pub fn record(&self, rec: &Record) {
        if rec.decision == "allow" {
            info!(peer = ?rec.peer_id, local = %rec.local_id, reason = %rec.reason, "mesh decision: allow");
        } else {
            warn!(peer = ?rec.peer_id, local = %rec.local_id, peer_addr = %rec.peer_addr,
                reason = %rec.reason, decision = rec.decision, "mesh decision: refused");
        }
        let Ok(mut line) = serde_json::to_vec(rec) else {
            return;
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            warn!(error = %e, "writing the decision log failed");
        }
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::format_description::well_known::Rfc3339;
    now.format(&fmt).unwrap_or_default()
}
