//! Where the service's denials go: one audit record each (hash-chained,
//! fsync'd before the kernel is answered for exec and file refusals) and one
//! alert through the alert pipeline (deduplicated per container and action,
//! rate limited per workload, with visible throttled counts).

use std::sync::Mutex;

use bulwark_alert::Router;
use bulwark_audit::{AuditLog, Entry, Outcome};
use bulwark_core::{Alert, Decision};

use crate::denial::{Denial, DenialSink, StartRefusal};

/// Audit log + alert router.
pub struct Reporter {
    audit: Option<AuditLog>,
    alerts: Mutex<Router>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("audit", &self.audit.as_ref().map(AuditLog::path))
            .finish_non_exhaustive()
    }
}

impl Reporter {
    pub fn new(audit: Option<AuditLog>, alerts: Router) -> Reporter {
        Reporter {
            audit,
            alerts: Mutex::new(alerts),
        }
    }

    /// Flush alerts the throttle holds; call about once a second.
    pub fn tick(&self) {
        self.router().tick();
    }

    fn router(&self) -> std::sync::MutexGuard<'_, Router> {
        self.alerts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The audit entry for a denial.
pub fn audit_entry(d: &Denial) -> Entry {
    let (action, outcome) = match d.decision {
        Decision::Deny => ("enforce.deny", Outcome::Denied),
        _ => ("enforce.alert", Outcome::Success),
    };
    Entry::new("agent:enforce", action)
        .target(d.container.to_string())
        .outcome(outcome)
        .detail(serde_json::to_value(d).unwrap_or(serde_json::Value::Null))
}

impl DenialSink for Reporter {
    fn record(&self, denial: &Denial) {
        if let Some(log) = &self.audit
            && let Err(e) = log.append(&audit_entry(denial))
        {
            tracing::error!("audit log: recording a refusal failed: {e}");
        }
        self.router().send(denial.to_alert());
    }

    fn start_refused(&self, refusal: &StartRefusal) {
        let entry = Entry::new("agent:enforce", "enforce.start-refused")
            .target(refusal.container.to_string())
            .outcome(Outcome::Denied)
            .detail(serde_json::to_value(refusal).unwrap_or(serde_json::Value::Null));
        if let Some(log) = &self.audit
            && let Err(e) = log.append(&entry)
        {
            tracing::error!("audit log: recording a refused start failed: {e}");
        }
        self.router().send(refusal.to_alert());
    }

    fn health(&self, alert: &Alert) {
        let entry = Entry::new("agent:enforce", "enforce.health")
            .outcome(Outcome::Failure)
            .detail(serde_json::json!({ "message": alert.message }));
        if let Some(log) = &self.audit
            && let Err(e) = log.append(&entry)
        {
            tracing::error!("audit log: recording a health alert failed: {e}");
        }
        self.router().send(alert.clone());
    }
}
