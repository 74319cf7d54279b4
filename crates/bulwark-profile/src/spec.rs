//! The profile document: `apiVersion: bulwark.dev/v1`, `kind: WorkloadProfile`,
//! `metadata`, `spec`. The same YAML works as a Kubernetes custom resource and
//! as a file reviewed in Git.
//!
//! The allowlists are plain data meant to be consumed by enforcement:
//! executables with their parent, file path patterns with `r`/`w`/`x`,
//! outbound peers with port and protocol, listening ports, capabilities.
//! `metadata.version` goes up by one whenever an allowlist or a mode changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bulwark_core::{Mode, SocketProtocol, WorkloadId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::exception::Exception;
use crate::pattern::{ArgPattern, Cidr, PathPattern};

pub const API_VERSION: &str = "bulwark.dev/v1";
pub const KIND: &str = "WorkloadProfile";

/// One workload's learned behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadProfile {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The workload identity the profile belongs to.
    pub name: WorkloadId,
    /// Bumped on every change of an allowlist or a mode.
    pub version: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A behaviour class: each has its own mode and its own allowlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Process,
    File,
    Network,
    Capability,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Process,
        Class::File,
        Class::Network,
        Class::Capability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Process => "process",
            Class::File => "file",
            Class::Network => "network",
            Class::Capability => "capability",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown behaviour class {s:?}: expected process, file, network or capability"
                )
            })
    }
}

/// Mode of each behaviour class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modes {
    pub process: Mode,
    pub file: Mode,
    pub network: Mode,
    pub capability: Mode,
}

impl Modes {
    pub fn all(mode: Mode) -> Modes {
        Modes {
            process: mode,
            file: mode,
            network: mode,
            capability: mode,
        }
    }

    pub fn get(&self, class: Class) -> Mode {
        match class {
            Class::Process => self.process,
            Class::File => self.file,
            Class::Network => self.network,
            Class::Capability => self.capability,
        }
    }

    pub fn set(&mut self, class: Class, mode: Mode) {
        match class {
            Class::Process => self.process = mode,
            Class::File => self.file = mode,
            Class::Network => self.network = mode,
            Class::Capability => self.capability = mode,
        }
    }
}

/// When learning started and when each class last learned something new.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Learning {
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// Last time each class learned a new rule (missing: never).
    #[serde(default)]
    pub last_new: BTreeMap<Class, Timestamp>,
}

/// An RFC 3339 time in YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(#[serde(with = "time::serde::rfc3339")] pub OffsetDateTime);

/// Where and when a rule was used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seen {
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    pub count: u64,
    /// Image versions (tag or digest) it was used by.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub images: BTreeSet<String>,
    /// Environments (as named by each agent's `--environment`) it was used in.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub environments: BTreeSet<String>,
}

impl Seen {
    pub fn new(at: OffsetDateTime, image: Option<&str>, environment: &str) -> Seen {
        let mut seen = Seen {
            first: at,
            last: at,
            count: 0,
            images: BTreeSet::new(),
            environments: BTreeSet::new(),
        };
        seen.touch(at, image, environment);
        seen
    }

    /// Records one more use. Returns true if a new image or environment
    /// was added.
    pub fn touch(&mut self, at: OffsetDateTime, image: Option<&str>, environment: &str) -> bool {
        self.count = self.count.saturating_add(1);
        self.last = self.last.max(at);
        self.first = self.first.min(at);
        let new_image = image.is_some_and(|i| self.images.insert(i.to_owned()));
        let new_env = self.environments.insert(environment.to_owned());
        new_image || new_env
    }

    /// Folds another record of the same rule in (profile import).
    pub fn merge(&mut self, other: &Seen) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.count = self.count.saturating_add(other.count);
        self.images.extend(other.images.iter().cloned());
        self.environments.extend(other.environments.iter().cloned());
    }
}

/// An image version of the workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageVersion {
    /// Tag (`nginx:1.25`) or, without one, digest.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// A program the workload runs, and which program starts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessRule {
    /// Absolute path of the executable.
    pub exe: String,
    /// The path it is invoked by, when that differs from `exe` (a symlink
    /// such as `/bin/sh` to `/bin/busybox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Program of the parent; absent for the container's first process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Argument patterns (over `argv[1..]` joined by spaces; `*` matches
    /// anything). Empty: any arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgPattern>,
    pub seen: Seen,
}

/// File access: read, write, execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Access {
    /// Everything `other` asks for is granted by `self`.
    pub fn covers(self, other: Access) -> bool {
        (self.read || !other.read) && (self.write || !other.write) && (self.exec || !other.exec)
    }

    pub fn union(self, other: Access) -> Access {
        Access {
            read: self.read || other.read,
            write: self.write || other.write,
            exec: self.exec || other.exec,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, ch) in [(self.read, 'r'), (self.write, 'w'), (self.exec, 'x')] {
            if on {
                write!(f, "{ch}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut access = Access::default();
        for ch in s.chars() {
            match ch {
                'r' => access.read = true,
                'w' => access.write = true,
                'x' => access.exec = true,
                _ => return Err(format!("file access {s:?}: expected letters from \"rwx\"")),
            }
        }
        if access == Access::default() {
            return Err("file access is empty: expected letters from \"rwx\"".into());
        }
        Ok(access)
    }
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Files the workload touches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileRule {
    pub path: PathPattern,
    pub access: Access,
    pub seen: Seen,
}

/// Who is at the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Peer {
    /// Another workload, by identity.
    Workload(WorkloadId),
    /// A DNS name.
    Dns(String),
    /// An address or address range.
    Cidr(Cidr),
    /// A unix socket path.
    Unix(String),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Workload(w) => write!(f, "workload {w}"),
            Peer::Dns(d) => write!(f, "{d}"),
            Peer::Cidr(c) => write!(f, "{c}"),
            Peer::Unix(p) => write!(f, "unix:{p}"),
        }
    }
}

/// An outbound connection the workload makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressRule {
    pub peer: Peer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub protocol: SocketProtocol,
    pub seen: Seen,
}

/// A port the workload listens on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenRule {
    pub port: u16,
    pub protocol: SocketProtocol,
    pub seen: Seen,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub egress: Vec<EgressRule>,
    #[serde(default)]
    pub listen: Vec<ListenRule>,
}

/// A capability the workload raises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapabilityRule {
    /// `CAP_NET_BIND_SERVICE`, ...
    pub name: String,
    pub seen: Seen,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub modes: Modes,
    pub learning: Learning,
    #[serde(default)]
    pub images: Vec<ImageVersion>,
    #[serde(default)]
    pub processes: Vec<ProcessRule>,
    #[serde(default)]
    pub files: Vec<FileRule>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub capabilities: Vec<CapabilityRule>,
    /// Detection-rule exceptions scoped to this workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
}

impl WorkloadProfile {
    /// An empty profile in Discover mode.
    pub fn new(workload: WorkloadId, now: OffsetDateTime) -> WorkloadProfile {
        WorkloadProfile {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: Metadata {
                name: workload,
                version: 1,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            spec: Spec {
                modes: Modes::all(Mode::Discover),
                learning: Learning {
                    started: now,
                    last_new: BTreeMap::new(),
                },
                images: Vec::new(),
                processes: Vec::new(),
                files: Vec::new(),
                network: Network::default(),
                capabilities: Vec::new(),
                exceptions: Vec::new(),
            },
        }
    }

    pub fn workload(&self) -> &WorkloadId {
        &self.metadata.name
    }

    /// Number of rules across all classes.
    pub fn rule_count(&self) -> usize {
        let s = &self.spec;
        s.processes.len()
            + s.files.len()
            + s.network.egress.len()
            + s.network.listen.len()
            + s.capabilities.len()
    }
}

/// Rules that carry a [`Seen`].
pub trait HasSeen {
    fn seen(&self) -> &Seen;
    fn seen_mut(&mut self) -> &mut Seen;
}

macro_rules! has_seen {
    ($($t:ty),*) => {$(
        impl HasSeen for $t {
            fn seen(&self) -> &Seen {
                &self.seen
            }
            fn seen_mut(&mut self) -> &mut Seen {
                &mut self.seen
            }
        }
    )*};
}

has_seen!(
    ProcessRule,
    FileRule,
    EgressRule,
    ListenRule,
    CapabilityRule
);
