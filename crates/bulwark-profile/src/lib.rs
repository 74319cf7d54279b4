//! Nano-segmentation: a per-workload model of normal behaviour, learned
//! from sensor events, plus built-in detection rules for attacks that must
//! never be learned as normal.
//!
//! - [`WorkloadProfile`]: the YAML document (`apiVersion: bulwark.dev/v1`,
//!   `kind: WorkloadProfile`) holding one workload's allowlists: processes
//!   (executable, parent, argument patterns), files (path patterns with
//!   `rwx`), network (outbound peers with port/protocol, listening ports) and
//!   capabilities, each rule with the image versions and environments it was
//!   seen in, and a mode per behaviour class.
//! - [`Engine`]: per event, built-in [`detect`] rules (every mode), then
//!   learn (Discover) or report deviations (Monitor, Protect); per tick,
//!   quiet-window promotion and aging. Mode changes, new image versions and
//!   aged rules come back as [`Change`]s for the audit log.
//! - [`diff()`], [`version_diff`], [`merge`]: reviewable differences and
//!   learning across replicas, versions and environments.
//! - [`apply_pushed`]: a profile pushed by the control plane applied to the
//!   node's copy (server modes win, allowlists never shrink, rollbacks refused).
//!
//! Pure logic: no files, sockets, syscalls or async runtime; time comes from
//! a [`bulwark_core::Clock`]. It does not persist profiles, send alerts,
//! write the audit log or enforce anything: callers do, with the outputs.

pub mod detect;
mod diff;
mod document;
mod engine;
mod error;
mod exception;
mod keys;
mod learn;
mod maintain;
mod modes;
mod observe;
mod pattern;
mod peers;
mod proctable;
mod pushed;
mod spec;
mod workload;

/// Event builders for tests (here and in crates that test with the engine).
#[cfg(any(test, feature = "testing"))]
pub mod testutil;

pub use diff::{DiffLine, ModeDiff, ProfileDiff, diff, version_diff};
pub use document::{
    EXCEPTIONS_KIND, MAX_DOCUMENT_BYTES, parse, parse_exceptions, to_yaml, to_yaml_stream,
};
pub use engine::{Change, Config, Engine, Facts, NoFacts, Output};
pub use error::DocumentError;
pub use exception::Exception;
pub use keys::{RuleKey, RuleView, rules};
pub use learn::Limits;
pub use maintain::{MergeReport, age, merge};
pub use modes::{ModeChange, demoted, promoted};
pub use observe::{Observation, capability_name};
pub use pattern::{ArgPattern, Cidr, PathPattern, canonical_ip, normalize_path};
pub use peers::{PEER_TTL, PeerMap};
pub use pushed::{PushError, Pushed, SERVER_VERSION_ANNOTATION, apply_pushed, server_version};
pub use spec::{
    API_VERSION, Access, CapabilityRule, Class, EgressRule, FileRule, ImageVersion, KIND, Learning,
    ListenRule, Metadata, Modes, Network, Peer, ProcessRule, Seen, Spec, Timestamp,
    WorkloadProfile,
};
pub use workload::{image_version, pod_owner, repository, workload_of};
