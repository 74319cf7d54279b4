//! What is decided about an event and what a person is told about it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::Process;
use crate::ids::{ContainerId, WorkloadId};
use crate::severity::Severity;

/// Enforcement mode of a workload (or of one behaviour class of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Learn behaviour into the profile; only built-in detections alert.
    Discover,
    /// Alert on anything outside the profile.
    Monitor,
    /// Block anything outside the profile, in the kernel.
    Protect,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Discover => "discover",
            Mode::Monitor => "monitor",
            Mode::Protect => "protect",
        })
    }
}

/// What was done about an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Within policy (or learned in Discover mode).
    Allow,
    /// Outside policy; allowed to proceed but reported.
    Alert,
    /// Outside policy; refused.
    Deny,
}

/// A detection rule, with its MITRE ATT&CK technique ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitre: Vec<String>,
}

/// Why an alert was raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertReason {
    /// A built-in or custom detection rule fired.
    Rule { rule: RuleRef },
    /// The action is outside the workload's learned profile.
    Deviation {
        /// `process`, `file`, `network` or `capability`.
        class: String,
        detail: String,
    },
    /// The platform itself is degraded (events lost, enforcement not live).
    Health { detail: String },
    /// A container was not allowed to start: a stage of the OCI runtime
    /// hook (`image` policy, `protect` registration) refused it.
    StartRefused { stage: String, detail: String },
}

/// One alert: a JSON object per line in every sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of the (deduplicated) alert.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_version: Option<u64>,
    pub mode: Mode,
    pub reason: AlertReason,
    pub decision: Decision,
    pub message: String,
    /// The acting process first, then its parent, and so on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestry: Vec<Process>,
    /// How many identical occurrences this alert stands for.
    pub count: u64,
    /// How many further occurrences were suppressed by rate limiting.
    #[serde(default)]
    pub throttled: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_order_from_learning_to_blocking() {
        assert!(Mode::Discover < Mode::Monitor && Mode::Monitor < Mode::Protect);
    }

    #[test]
    fn alert_json_carries_reason_kind() {
        let alert = Alert {
            id: "a1".into(),
            time: time::OffsetDateTime::UNIX_EPOCH,
            severity: Severity::High,
            workload: WorkloadId::new("image:nginx").ok(),
            container_id: None,
            image_digest: None,
            profile_version: Some(3),
            mode: Mode::Monitor,
            reason: AlertReason::Rule {
                rule: RuleRef {
                    id: "reverse-shell".into(),
                    name: "Reverse shell".into(),
                    mitre: vec!["T1059".into()],
                },
            },
            decision: Decision::Alert,
            message: "sh with a socket on stdin".into(),
            ancestry: vec![],
            count: 1,
            throttled: 0,
        };
        let v = serde_json::to_value(&alert).map_err(|e| e.to_string());
        assert_eq!(
            v.as_ref()
                .map(|v| v["reason"]["kind"].as_str().map(str::to_owned)),
            Ok(Some("rule".to_owned()))
        );
    }
}
