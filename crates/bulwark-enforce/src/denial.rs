//! What a refusal (or, in Monitor mode, a would-be refusal) is reported as:
//! exactly one [`Denial`] per refused action, which becomes one
//! [`bulwark_core::Alert`] and one audit record.

use bulwark_core::{
    Alert, AlertReason, ContainerId, Decision, Mode, Process, Severity, WorkloadId,
};
use serde::{Deserialize, Serialize};

/// Which kind of action was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Process,
    File,
    Network,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Process, Class::File, Class::Network];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Process => "process",
            Class::File => "file",
            Class::Network => "network",
        }
    }
}

/// One refused (or, in Monitor mode, reported) action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
    pub container: ContainerId,
    pub workload: WorkloadId,
    pub profile_version: u64,
    pub mode: Mode,
    /// `deny` (refused) or `alert` (Monitor mode, or a fail-open fallback).
    pub decision: Decision,
    pub class: Class,
    /// What was attempted, e.g. `exec /usr/bin/nc`.
    pub action: String,
    /// Why it is outside the policy.
    pub reason: String,
    /// Which enforcement point decided (`fanotify`, `cgroup-bpf`, ...).
    pub enforcer: String,
    /// The acting process first, then its ancestors.
    pub ancestry: Vec<Process>,
}

impl Denial {
    pub fn severity(&self) -> Severity {
        match self.class {
            Class::Process => Severity::High,
            Class::File | Class::Network => Severity::Medium,
        }
    }

    /// The alert for this refusal. Its id is stable for the same action of
    /// the same container, so the alert pipeline folds repeats (a denied
    /// binary retried a thousand times is one alert with a count, while
    /// the audit log keeps every refusal).
    pub fn to_alert(&self) -> Alert {
        use sha2::Digest;
        let key = format!(
            "{}\n{}\n{}",
            self.container,
            self.class.as_str(),
            self.action
        );
        let digest = sha2::Sha256::digest(key.as_bytes());
        Alert {
            id: format!("enforce-{}", hex::encode(&digest[..8])),
            time: self.time,
            severity: self.severity(),
            workload: Some(self.workload.clone()),
            container_id: Some(self.container.clone()),
            image_digest: None,
            profile_version: Some(self.profile_version),
            mode: self.mode,
            reason: AlertReason::Deviation {
                class: self.class.as_str().into(),
                detail: self.reason.clone(),
            },
            decision: self.decision,
            message: format!("{}: {}", verb(self.decision), self.action),
            ancestry: self.ancestry.clone(),
            count: 1,
            throttled: 0,
        }
    }
}

fn verb(decision: Decision) -> &'static str {
    match decision {
        Decision::Deny => "refused",
        Decision::Alert => "outside profile (allowed)",
        Decision::Allow => "allowed",
    }
}

/// Where denials go: alert sinks and the audit log. Called on the decision
/// path, after the kernel has been answered; must not block for long.
pub trait DenialSink: Send + Sync {
    fn record(&self, denial: &Denial);
    /// Enforcement itself is degraded (a decision fell back to the failure
    /// mode, a mark or program is missing, the canary failed).
    fn health(&self, alert: &Alert);
}

/// A health alert (no workload action involved).
pub fn health_alert(
    container: Option<&ContainerId>,
    workload: Option<&WorkloadId>,
    mode: Mode,
    decision: Decision,
    detail: String,
    seq: u64,
) -> Alert {
    Alert {
        id: format!("enforce-health-{seq}"),
        time: time::OffsetDateTime::now_utc(),
        severity: Severity::High,
        workload: workload.cloned(),
        container_id: container.cloned(),
        image_digest: None,
        profile_version: None,
        mode,
        reason: AlertReason::Health {
            detail: detail.clone(),
        },
        decision,
        message: detail,
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_carries_deny_decision_and_deviation_class() {
        let d = Denial {
            time: time::OffsetDateTime::UNIX_EPOCH,
            container: ContainerId::new("abcdef0123456789").unwrap(),
            workload: WorkloadId::new("image:web").unwrap(),
            profile_version: 3,
            mode: Mode::Protect,
            decision: Decision::Deny,
            class: Class::Process,
            action: "exec /usr/bin/nc".into(),
            reason: "program not in the profile".into(),
            enforcer: "fanotify".into(),
            ancestry: vec![],
        };
        let a = d.to_alert();
        assert_eq!(a.decision, Decision::Deny);
        assert!(a.id.starts_with("enforce-") && a.id.len() == 24, "{}", a.id);
        let mut other = d.clone();
        other.action = "exec /usr/bin/curl".into();
        assert_ne!(other.to_alert().id, a.id);
        assert_eq!(d.clone().to_alert().id, a.id);
        assert_eq!(a.message, "refused: exec /usr/bin/nc");
        assert!(matches!(a.reason, AlertReason::Deviation { ref class, .. } if class == "process"));
    }
}
