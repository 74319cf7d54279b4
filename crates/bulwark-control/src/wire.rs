//! The agent <-> server protocol, over HTTP/2 on the server's mTLS listener.
//!
//! - Up: `POST /agent/v1/report` with a JSON [`Report`] (alerts, aggregated
//!   flows, listeners, containers with their compliance facts, changed
//!   profiles, counters). The server answers with a [`ReportAck`] only
//!   after the report is stored and audited; an agent keeps a report until
//!   it is acknowledged and resends it with the same `seq` (the server
//!   ignores a `seq` it already has). An empty report is the heartbeat.
//! - Down: `GET /agent/v1/updates?since=V` streams [`Downlink`] messages,
//!   one JSON object per line: every [`Update`] after version `V` (profiles
//!   and policies to write on the node), then new ones as they are made,
//!   and a keepalive every few seconds.
//!
//! The node is whoever the client certificate (an X.509-SVID of the trust
//! domain) says it is; nothing in a report names the node.

use std::net::SocketAddr;

use bulwark_core::Alert;
use serde::{Deserialize, Serialize};

use crate::compliance::ContainerFacts;

/// Bumped on incompatible changes; sent as `x-bulwark-protocol`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Most alerts in one report.
pub const MAX_ALERTS: usize = 10_000;
/// Most flows, listeners, containers or profiles in one report.
pub const MAX_ITEMS: usize = 10_000;
/// Most (source, destination, port, protocol) keys an agent aggregates
/// in one report; connections to further keys are counted in
/// [`Counters::flows_dropped`].
pub const MAX_FLOWS: usize = 4_096;

/// About the agent (not the node's identity, which is its certificate).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    pub version: String,
}

/// Counters since the agent started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events the sensor delivered.
    pub events: u64,
    /// Events or records lost anywhere in the agent (sensor hops, queues).
    pub events_lost: u64,
    /// Alerts dropped because the uplink buffer was full.
    pub alerts_dropped: u64,
    /// Alerts handed to the uplink.
    #[serde(default)]
    pub alerts: u64,
    /// Events dropped at the sensor's queue to the agent's consumer (part
    /// of `events_lost`).
    #[serde(default)]
    pub queue_drops: u64,
    /// Connections not counted in any flow because the agent's flow table
    /// was full (at most [`MAX_FLOWS`] keys per report).
    #[serde(default)]
    pub flows_dropped: u64,
}

/// Connections from a workload to an address, counted over the report's
/// period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub src: String,
    pub dst: SocketAddr,
    /// The workload that accepted connections on `dst`'s address on this
    /// node (the profile engine's peer attribution), when the agent knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_workload: Option<String>,
    /// `tcp`, `udp`.
    pub protocol: String,
    pub count: u64,
    /// Unix milliseconds of the last connection.
    pub last_seen: i64,
}

/// A workload accepting connections on an address (from bind, listen or
/// accept; `0.0.0.0`/`::` for any address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub workload: String,
    pub addr: SocketAddr,
    pub protocol: String,
}

/// A container the node runs (or ran until `running` turned false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerReport {
    pub id: String,
    pub workload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    pub running: bool,
    /// From the container's OCI `config.json`, for the compliance report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<ContainerFacts>,
}

/// A profile the agent learned or changed (`kind: WorkloadProfile` YAML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDoc {
    pub workload: String,
    pub yaml: String,
}

/// One report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Per agent run, strictly increasing; with `boot` it identifies the
    /// report for de-duplication of resends.
    pub seq: u64,
    /// A random id of this agent run.
    pub boot: String,
    pub agent: AgentInfo,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    #[serde(default)]
    pub flows: Vec<Flow>,
    #[serde(default)]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub containers: Vec<ContainerReport>,
    /// `containers` lists every container on the node: the server marks
    /// the node's other containers as no longer running.
    #[serde(default)]
    pub containers_complete: bool,
    #[serde(default)]
    pub profiles: Vec<ProfileDoc>,
    #[serde(default)]
    pub counters: Counters,
    /// The newest update version that took effect on the node (applied to
    /// the engine, or written where its consumer reads it).
    #[serde(default)]
    pub applied_update: u64,
    /// The newest update the node refused, until a later update of the same
    /// document takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_failure: Option<UpdateFailure>,
}

/// An update the node did not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateFailure {
    pub version: u64,
    pub kind: UpdateKind,
    pub name: String,
    /// One line naming the problem.
    pub reason: String,
}

impl UpdateFailure {
    /// Longest name or reason kept (a report must stay small).
    pub const MAX_TEXT: usize = 1024;

    /// Cuts `name` and `reason` to [`Self::MAX_TEXT`] bytes (on a character
    /// boundary) and turns control characters into spaces.
    pub fn bounded(mut self) -> UpdateFailure {
        self.name = bounded_text(&self.name);
        self.reason = bounded_text(&self.reason);
        self
    }
}

fn bounded_text(s: &str) -> String {
    let mut end = s.len().min(UpdateFailure::MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Report {
    /// Checks sizes (the body limit bounds bytes; this bounds items).
    pub fn check_limits(&self) -> Result<(), String> {
        if self.alerts.len() > MAX_ALERTS {
            return Err(format!(
                "{} alerts in one report, the limit is {MAX_ALERTS}",
                self.alerts.len()
            ));
        }
        for (what, n) in [
            ("flows", self.flows.len()),
            ("listeners", self.listeners.len()),
            ("containers", self.containers.len()),
            ("profiles", self.profiles.len()),
        ] {
            if n > MAX_ITEMS {
                return Err(format!(
                    "{n} {what} in one report, the limit is {MAX_ITEMS}"
                ));
            }
        }
        if let Some(f) = &self.update_failure
            && (f.name.len() > UpdateFailure::MAX_TEXT || f.reason.len() > UpdateFailure::MAX_TEXT)
        {
            return Err(format!(
                "update_failure: name and reason are limited to {} bytes",
                UpdateFailure::MAX_TEXT
            ));
        }
        if self.boot.is_empty()
            || self.boot.len() > 64
            || self.boot.chars().any(|c| !c.is_ascii_alphanumeric())
        {
            return Err("boot: 1 to 64 ASCII letters or digits".into());
        }
        Ok(())
    }
}

/// The server's answer to a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    pub seq: u64,
    /// False when this `seq` was already stored (a resend).
    pub stored: bool,
    /// The newest update version; an agent behind it should be streaming.
    pub latest_update: u64,
    /// Seconds without a report after which the server flags the node.
    pub stale_after_secs: u64,
    /// Parts of the report the server refused (a container another node
    /// runs, a flow or listener of a workload this node does not run),
    /// each named with the reason; the rest was stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<String>,
}

/// What an update carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpdateKind {
    WorkloadProfile,
    EnforcementPolicy,
    ImagePolicy,
    AccessPolicy,
    WorkloadIdentity,
}

impl UpdateKind {
    pub const ALL: [UpdateKind; 5] = [
        UpdateKind::WorkloadProfile,
        UpdateKind::EnforcementPolicy,
        UpdateKind::ImagePolicy,
        UpdateKind::AccessPolicy,
        UpdateKind::WorkloadIdentity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::WorkloadProfile => "WorkloadProfile",
            UpdateKind::EnforcementPolicy => "EnforcementPolicy",
            UpdateKind::ImagePolicy => "ImagePolicy",
            UpdateKind::AccessPolicy => "AccessPolicy",
            UpdateKind::WorkloadIdentity => "WorkloadIdentity",
        }
    }

    pub fn parse(s: &str) -> Option<UpdateKind> {
        UpdateKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One document to write on every node (or remove, when `document` is
/// `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub version: u64,
    pub kind: UpdateKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

/// One line of the downlink stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Downlink {
    Update(Update),
    /// Sent every few seconds so both ends notice a dead connection.
    Keepalive {
        latest: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downlink_lines_are_tagged() {
        let line = serde_json::to_string(&Downlink::Keepalive { latest: 3 }).unwrap_or_default();
        assert_eq!(line, r#"{"type":"keepalive","latest":3}"#);
        let up = Downlink::Update(Update {
            version: 4,
            kind: UpdateKind::WorkloadProfile,
            name: "image:nginx".into(),
            document: None,
        });
        let text = serde_json::to_string(&up).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Downlink>(&text).ok(), Some(up));
    }

    #[test]
    fn report_limits_name_the_part_over_the_limit() {
        let mut r = Report {
            boot: "abc123".into(),
            ..Report::default()
        };
        assert!(r.check_limits().is_ok());
        r.boot = "a\nb".into();
        assert!(r.check_limits().is_err());
        r.boot = "ok".into();
        r.flows = vec![
            Flow {
                src: "w".into(),
                dst: "127.0.0.1:1"
                    .parse()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
                dst_workload: None,
                protocol: "tcp".into(),
                count: 1,
                last_seen: 0,
            };
            MAX_ITEMS + 1
        ];
        assert!(r.check_limits().is_err_and(|e| e.contains("flows")));
    }

    #[test]
    fn update_failures_are_bounded_and_single_line() {
        let f = UpdateFailure {
            version: 3,
            kind: UpdateKind::WorkloadProfile,
            name: "a\nb".into(),
            reason: "é".repeat(UpdateFailure::MAX_TEXT),
        }
        .bounded();
        assert_eq!(f.name, "a b");
        assert!(f.reason.len() <= UpdateFailure::MAX_TEXT);
        let mut r = Report {
            boot: "b".into(),
            update_failure: Some(f),
            ..Report::default()
        };
        assert!(r.check_limits().is_ok());
        if let Some(f) = r.update_failure.as_mut() {
            f.reason = "x".repeat(UpdateFailure::MAX_TEXT + 1);
        }
        assert!(
            r.check_limits()
                .is_err_and(|e| e.contains("update_failure"))
        );
    }

    #[test]
    fn update_kinds_parse_their_names() {
        for k in UpdateKind::ALL {
            assert_eq!(UpdateKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(UpdateKind::parse("Secret"), None);
    }
}
