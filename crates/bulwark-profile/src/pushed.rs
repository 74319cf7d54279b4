//! A profile pushed down by the control plane, applied to the node's own
//! copy of it.
//!
//! Who wins (the rule `bulwark agent --server` follows):
//! - Modes: the server's document states the modes an operator chose; they
//!   replace the node's modes when the update is applied. A later local
//!   `bulwark profile promote/demote` (or an automatic promotion) wins in
//!   turn until the next server change, and reaches the server with the
//!   node's next report (its version is higher).
//! - Allowlists: never reduced by an update. The server's rules are folded
//!   into the node's ([`merge`]): a fleet's nodes each learn part of a
//!   workload, and a document from another node must not make this node's
//!   normal behaviour a deviation.
//! - Versions: `metadata.version` is a per-node counter, so the server's
//!   document version and the node's are not comparable (the server's copy
//!   may come from another node). The applied profile takes a version
//!   above both. Rollback protection uses the server's own order instead:
//!   the node records the server version it applied last (annotation
//!   [`SERVER_VERSION_ANNOTATION`]) and refuses a document that is not
//!   newer (the server's stored profile version only ever goes up).

use crate::learn::Limits;
use crate::maintain::{MergeReport, merge};
use crate::modes::ModeChange;
use crate::spec::{Class, WorkloadProfile};

/// `metadata.annotations` key holding the last server document version
/// this node applied to the profile.
pub const SERVER_VERSION_ANNOTATION: &str = "bulwark.dev/server-version";

/// Why a pushed profile was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The document is another workload's profile than the update names.
    #[error("the document is the profile of {found}, the update is for {expected}")]
    WrongWorkload { expected: String, found: String },
    /// The document is not newer than one already applied.
    #[error(
        "version rollback: document version {pushed} is not above version {applied} already applied from the server"
    )]
    Rollback { pushed: u64, applied: u64 },
}

/// The node's profile after a pushed one was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Pushed {
    pub profile: WorkloadProfile,
    /// One per class whose mode changed (versions are the final one).
    pub modes: Vec<ModeChange>,
    /// Rules the server's document added to or widened in the node's.
    pub merged: MergeReport,
}

impl Pushed {
    /// Whether the allowlists or modes changed (otherwise only the
    /// recorded server version moved).
    pub fn changed(&self) -> bool {
        !self.modes.is_empty() || self.merged.added > 0 || self.merged.widened > 0
    }
}

/// The server version recorded in `profile` (0 when none).
pub fn server_version(profile: &WorkloadProfile) -> u64 {
    profile
        .metadata
        .annotations
        .get(SERVER_VERSION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Applies `pushed` to the node's `local` profile (see the module doc for
/// the rule). `reason` goes into each mode change.
pub fn apply_pushed(
    local: &WorkloadProfile,
    pushed: &WorkloadProfile,
    limits: &Limits,
    reason: &str,
) -> Result<Pushed, PushError> {
    if local.workload() != pushed.workload() {
        return Err(PushError::WrongWorkload {
            expected: local.workload().to_string(),
            found: pushed.workload().to_string(),
        });
    }
    let applied = server_version(local);
    if pushed.metadata.version <= applied {
        return Err(PushError::Rollback {
            pushed: pushed.metadata.version,
            applied,
        });
    }
    let mut next = local.clone();
    let merged = merge(&mut next, pushed, limits);
    let mut modes = Vec::new();
    for class in Class::ALL {
        let to = pushed.spec.modes.get(class);
        modes.extend(next.set_mode(&[class], to, reason));
    }
    let mut out = Pushed {
        profile: next,
        modes,
        merged,
    };
    out.profile.metadata.version = if out.changed() {
        local.metadata.version.max(pushed.metadata.version) + 1
    } else {
        local.metadata.version
    };
    out.profile.metadata.annotations.insert(
        SERVER_VERSION_ANNOTATION.to_owned(),
        pushed.metadata.version.to_string(),
    );
    let version = out.profile.metadata.version;
    for m in &mut out.modes {
        m.version = version;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bulwark_core::{Mode, WorkloadId};
    use time::OffsetDateTime;

    use super::*;
    use crate::spec::{CapabilityRule, Modes, Seen};

    fn profile(name: &str, version: u64, mode: Mode, caps: &[&str]) -> WorkloadProfile {
        let now = OffsetDateTime::UNIX_EPOCH;
        let id = WorkloadId::new(name.to_owned()).unwrap_or_else(|e| panic!("{e}"));
        let mut p = WorkloadProfile::new(id, now);
        p.metadata.version = version;
        p.spec.modes = Modes::all(mode);
        p.spec.capabilities = caps
            .iter()
            .map(|c| CapabilityRule {
                name: (*c).to_owned(),
                seen: Seen::new(now, None, "default"),
            })
            .collect();
        p
    }

    fn caps(p: &WorkloadProfile) -> Vec<&str> {
        p.spec
            .capabilities
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn server_modes_replace_the_nodes_and_the_version_goes_above_both() {
        let local = profile("web", 40, Mode::Discover, &["CAP_CHOWN"]);
        let pushed = profile("web", 12, Mode::Monitor, &["CAP_CHOWN"]);
        let out = apply_pushed(&local, &pushed, &Limits::default(), "promoted by admin")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.profile.spec.modes, Modes::all(Mode::Monitor));
        assert_eq!(out.profile.metadata.version, 41);
        assert_eq!(out.modes.len(), 4);
        assert!(out.modes.iter().all(|m| m.version == 41
            && m.from == Mode::Discover
            && m.reason == "promoted by admin"));
        assert_eq!(server_version(&out.profile), 12);
        assert!(out.changed());
    }

    #[test]
    fn a_server_update_never_removes_rules_the_node_learned() {
        let local = profile("web", 5, Mode::Discover, &["CAP_CHOWN", "CAP_KILL"]);
        let pushed = profile("web", 9, Mode::Monitor, &["CAP_NET_RAW"]);
        let out = apply_pushed(&local, &pushed, &Limits::default(), "r")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caps(&out.profile), ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        assert_eq!(out.merged.added, 1);
        assert_eq!(out.profile.metadata.version, 10);
    }

    #[test]
    fn version_rollback_of_a_server_document_is_refused() {
        let local = profile("web", 5, Mode::Discover, &[]);
        let first = profile("web", 9, Mode::Protect, &[]);
        let applied = apply_pushed(&local, &first, &Limits::default(), "r")
            .unwrap_or_else(|e| panic!("{e}"))
            .profile;
        // An older server document (Discover) replayed to disarm the workload.
        let old = profile("web", 8, Mode::Discover, &[]);
        assert_eq!(
            apply_pushed(&applied, &old, &Limits::default(), "r"),
            Err(PushError::Rollback {
                pushed: 8,
                applied: 9
            })
        );
        let same = profile("web", 9, Mode::Discover, &[]);
        assert!(apply_pushed(&applied, &same, &Limits::default(), "r").is_err());
    }

    #[test]
    fn a_document_for_another_workload_is_refused() {
        let local = profile("web", 1, Mode::Discover, &[]);
        let other = profile("db", 2, Mode::Monitor, &[]);
        assert!(matches!(
            apply_pushed(&local, &other, &Limits::default(), "r"),
            Err(PushError::WrongWorkload { .. })
        ));
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_version_and_records_the_server_version() {
        let local = profile("web", 7, Mode::Monitor, &["CAP_CHOWN"]);
        let pushed = profile("web", 3, Mode::Monitor, &["CAP_CHOWN"]);
        let out = apply_pushed(&local, &pushed, &Limits::default(), "r")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!out.changed());
        assert_eq!(out.profile.metadata.version, 7);
        assert_eq!(server_version(&out.profile), 3);
    }

    #[test]
    fn only_classes_whose_mode_differs_are_changed() {
        let local = profile("web", 3, Mode::Monitor, &[]);
        let mut pushed = profile("web", 4, Mode::Monitor, &[]);
        pushed.spec.modes.set(Class::Network, Mode::Protect);
        let out = apply_pushed(&local, &pushed, &Limits::default(), "r")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.modes.len(), 1);
        assert_eq!(out.modes[0].class, Class::Network);
        assert_eq!(out.modes[0].to, Mode::Protect);
    }
}
