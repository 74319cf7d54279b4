//! The compiled enforcement policy: what the kernel side needs to decide,
//! and nothing else. One policy per workload; every container of the
//! workload is enforced with it.
//!
//! Written as a YAML document (`apiVersion`/`kind`/`metadata`/`spec`) so the
//! same file works as a Kubernetes custom resource and in Git. Produced from a
//! learned profile by [`crate::compile`], or written by hand.

mod document;
mod exec;
mod files;
mod hardening;
mod net;
pub mod path;

use std::time::Duration;

use bulwark_core::{Mode, WorkloadId};
use serde::{Deserialize, Serialize};

use crate::denial::Class;

pub use document::{API_VERSION, KIND, PolicyDocument};
pub use exec::{ExecPolicy, ExecRule, Sha256Digest};
pub use files::{Access, FilePolicy, FileRule, Verdict};
pub use hardening::{Hardening, SeccompPolicy};
pub use net::{ListenRule, NetPolicy, Peer, PeerRule, Protocol};
pub use path::{ContainerPath, PathPattern};

/// Limits that keep a hostile or broken policy from exhausting the agent or
/// the kernel maps.
pub const MAX_RULES: usize = 10_000;
/// Longest decision budget a policy may ask for.
pub const MAX_DECISION_TIMEOUT: Duration = Duration::from_secs(10);
/// Default budget for one permission decision (see [`FailurePolicy`]).
pub const DEFAULT_DECISION_TIMEOUT: Duration = Duration::from_millis(250);

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("path {path:?} {problem}")]
    BadPath { path: String, problem: &'static str },
    #[error("{input}: not a valid policy document: {source}")]
    Parse {
        input: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{input}: apiVersion is {found:?}, expected {API_VERSION:?}")]
    WrongApiVersion { input: String, found: String },
    #[error("{input}: kind is {found:?}, expected {KIND:?}")]
    WrongKind { input: String, found: String },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("{field} has {count} entries, the limit is {limit}")]
    TooMany {
        field: &'static str,
        count: usize,
        limit: usize,
    },
}

/// What a decision falls back to when it cannot be made in time (overload,
/// a file too large to hash within the budget) or when the agent is gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let the action proceed (and raise a health alert).
    Open,
    /// Refuse the action (and raise a health alert).
    #[default]
    Closed,
}

/// Bounded decisions: a permission event never waits longer than
/// `decision_timeout_ms` once read; after that `on_timeout` answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailurePolicy {
    #[serde(default)]
    pub on_timeout: FailMode,
    #[serde(default)]
    pub on_agent_gone: FailMode,
    #[serde(default = "default_timeout_ms")]
    pub decision_timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_DECISION_TIMEOUT.as_millis() as u64
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            on_timeout: FailMode::Closed,
            on_agent_gone: FailMode::Closed,
            decision_timeout_ms: default_timeout_ms(),
        }
    }
}

impl FailurePolicy {
    pub fn decision_timeout(&self) -> Duration {
        Duration::from_millis(self.decision_timeout_ms)
    }
}

/// Per-class modes; unset classes take the policy's `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassModes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Mode>,
}

/// The policy of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcePolicy {
    pub workload: WorkloadId,
    /// Version of the profile this policy was compiled from.
    #[serde(default)]
    pub profile_version: u64,
    /// `protect` refuses, `monitor` only alerts, `discover` leaves a class
    /// alone (it is still learning). At least one class must be enforced.
    pub mode: Mode,
    /// Overrides of `mode` per behaviour class (a learned profile has one
    /// mode per class).
    #[serde(default)]
    pub modes: ClassModes,
    #[serde(default)]
    pub failure: FailurePolicy,
    #[serde(default)]
    pub exec: ExecPolicy,
    #[serde(default)]
    pub files: FilePolicy,
    #[serde(default)]
    pub network: NetPolicy,
    #[serde(default)]
    pub hardening: Hardening,
}

impl EnforcePolicy {
    /// Checks what serde cannot: mode, limits, timeouts, rule consistency.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if Class::ALL
            .iter()
            .all(|c| self.mode_of(*c) == Mode::Discover)
        {
            return Err(PolicyError::Invalid {
                field: "spec.mode".into(),
                problem: "every class is in discover mode, which enforces nothing; use monitor or protect".into(),
            });
        }
        let timeout = self.failure.decision_timeout();
        if timeout.is_zero() || timeout > MAX_DECISION_TIMEOUT {
            return Err(PolicyError::Invalid {
                field: "spec.failure.decision_timeout_ms".into(),
                problem: format!(
                    "{} ms is outside 1..={} ms",
                    self.failure.decision_timeout_ms,
                    MAX_DECISION_TIMEOUT.as_millis()
                ),
            });
        }
        self.exec.validate()?;
        self.files.validate()?;
        self.network.validate()?;
        self.hardening.validate()
    }

    /// The mode of one behaviour class.
    pub fn mode_of(&self, class: Class) -> Mode {
        let over = match class {
            Class::Process => self.modes.process,
            Class::File => self.modes.file,
            Class::Network => self.modes.network,
        };
        over.unwrap_or(self.mode)
    }

    /// True when the class is watched at all (Monitor or Protect).
    pub fn watches(&self, class: Class) -> bool {
        self.mode_of(class) != Mode::Discover
    }

    /// True when the class's refusals are real (Protect), false when they
    /// only alert.
    pub fn refuses(&self, class: Class) -> bool {
        self.mode_of(class) == Mode::Protect
    }
}

pub(crate) fn check_len(field: &'static str, count: usize) -> Result<(), PolicyError> {
    if count > MAX_RULES {
        return Err(PolicyError::TooMany {
            field,
            count,
            limit: MAX_RULES,
        });
    }
    Ok(())
}
