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

/// A container the OCI hook did not let start: one per refused start,
/// reported by the hook to the service, which makes it one alert and one
/// audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRefusal {
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
    pub container: ContainerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadId>,
    /// The hook stage that refused (`image`, `protect`).
    pub stage: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

impl StartRefusal {
    pub fn to_alert(&self) -> Alert {
        use sha2::Digest;
        let key = format!("{}\nstart\n{}", self.container, self.stage);
        let digest = sha2::Sha256::digest(key.as_bytes());
        let image = self
            .image
            .as_deref()
            .map(|i| format!(" (image {i})"))
            .unwrap_or_default();
        Alert {
            id: format!("enforce-start-{}", hex::encode(&digest[..8])),
            time: self.time,
            severity: Severity::High,
            workload: self.workload.clone(),
            container_id: Some(self.container.clone()),
            image_digest: self.image_digest.clone(),
            profile_version: None,
            mode: Mode::Protect,
            reason: AlertReason::StartRefused {
                stage: self.stage.clone(),
                detail: self.reason.clone(),
            },
            decision: Decision::Deny,
            message: format!(
                "container not started{image}: {} stage: {}",
                self.stage, self.reason
            ),
            ancestry: Vec::new(),
            count: 1,
            throttled: 0,
        }
    }
}

/// Where denials go: alert sinks and the audit log. Called on the decision
/// path, after the kernel has been answered; must not block for long.
pub trait DenialSink: Send + Sync {
    fn record(&self, denial: &Denial);
    /// Enforcement itself is degraded (a decision fell back to the failure
    /// mode, a mark or program is missing, the canary failed).
    fn health(&self, alert: &Alert);
    /// The OCI hook refused to let a container start.
    fn start_refused(&self, refusal: &StartRefusal);
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

    #[test]
    fn refused_start_alert_names_the_image_and_stage() {
        let r = StartRefusal {
            time: time::OffsetDateTime::UNIX_EPOCH,
            container: ContainerId::new("job-1").unwrap(),
            workload: Some(WorkloadId::new("image:web").unwrap()),
            stage: "image".into(),
            reason: "policy release: no valid signature".into(),
            image: Some("registry.example/web:1".into()),
            image_digest: None,
        };
        let a = r.to_alert();
        assert_eq!(a.decision, Decision::Deny);
        assert!(a.id.starts_with("enforce-start-"), "{}", a.id);
        assert_eq!(
            a.message,
            "container not started (image registry.example/web:1): image stage: \
             policy release: no valid signature"
        );
        assert!(
            matches!(a.reason, AlertReason::StartRefused { ref stage, .. } if stage == "image")
        );
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<StartRefusal>(&text).unwrap(), r);
    }
}
