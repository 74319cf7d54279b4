//! What the CIS runtime checks need from a container's OCI `config.json`.
//! The agent extracts these on the node and reports them; the server
//! checks them. Unknown fields are ignored; a file that is not an OCI
//! runtime configuration is an error naming the problem.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Largest `config.json` read.
pub const MAX_CONFIG_BYTES: usize = 4 << 20;

/// Whether a container has its own namespace of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceState {
    /// A new namespace of its own.
    Own,
    /// Joins an existing one (a pod sandbox's) by path.
    Joined,
    /// The host's: not in the list, or joined through `/proc/1/ns/`.
    Host,
}

/// A mount into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountFact {
    pub destination: String,
    pub source: String,
    pub bind: bool,
    /// `shared` or `rshared` propagation.
    pub shared: bool,
}

/// The security-relevant parts of a container's runtime configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFacts {
    pub uid: u32,
    pub gid: u32,
    /// Every capability in the bounding, effective or permitted set.
    pub capabilities: BTreeSet<String>,
    pub no_new_privileges: bool,
    pub readonly_rootfs: bool,
    pub pid_ns: Option<NamespaceState>,
    pub network_ns: Option<NamespaceState>,
    pub ipc_ns: Option<NamespaceState>,
    pub uts_ns: Option<NamespaceState>,
    pub user_ns: Option<NamespaceState>,
    pub memory_limit: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub seccomp: bool,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub masked_paths: usize,
    pub devices: Vec<String>,
    pub mounts: Vec<MountFact>,
    pub rootfs_propagation_shared: bool,
}

/// A `config.json` that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("config.json is {len} bytes, the limit is {MAX_CONFIG_BYTES}")]
    TooLarge { len: usize },
    #[error("config.json is not an OCI runtime configuration: {0}")]
    Parse(String),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Config {
    process: Option<Process>,
    root: Option<Root>,
    mounts: Vec<Mount>,
    linux: Option<Linux>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Process {
    user: User,
    capabilities: Option<Capabilities>,
    no_new_privileges: bool,
    apparmor_profile: Option<String>,
    selinux_label: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct User {
    uid: u32,
    gid: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Capabilities {
    bounding: Vec<String>,
    effective: Vec<String>,
    permitted: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Root {
    readonly: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Mount {
    destination: String,
    source: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    options: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Linux {
    namespaces: Vec<Namespace>,
    resources: Option<Resources>,
    seccomp: Option<serde_json::Value>,
    masked_paths: Vec<String>,
    devices: Vec<Device>,
    rootfs_propagation: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Namespace {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resources {
    memory: Option<Memory>,
    cpu: Option<Cpu>,
    pids: Option<Pids>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Memory {
    limit: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Cpu {
    shares: Option<u64>,
    quota: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Pids {
    limit: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Device {
    path: String,
}

impl ContainerFacts {
    /// Reads the facts from the text of an OCI runtime `config.json`.
    pub fn from_config_json(text: &str) -> Result<ContainerFacts, FactsError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(FactsError::TooLarge { len: text.len() });
        }
        let config: Config =
            serde_json::from_str(text).map_err(|e| FactsError::Parse(e.to_string()))?;
        let process = config
            .process
            .ok_or_else(|| FactsError::Parse("no \"process\" section".into()))?;
        let linux = config.linux.unwrap_or_default();
        let caps = process.capabilities.unwrap_or_default();
        let resources = linux.resources.unwrap_or_default();
        let ns = |kind: &str| namespace_state(&linux.namespaces, kind);
        Ok(ContainerFacts {
            uid: process.user.uid,
            gid: process.user.gid,
            capabilities: caps
                .bounding
                .into_iter()
                .chain(caps.effective)
                .chain(caps.permitted)
                .collect(),
            no_new_privileges: process.no_new_privileges,
            readonly_rootfs: config.root.is_some_and(|r| r.readonly),
            pid_ns: Some(ns("pid")),
            network_ns: Some(ns("network")),
            ipc_ns: Some(ns("ipc")),
            uts_ns: Some(ns("uts")),
            user_ns: Some(ns("user")),
            memory_limit: resources.memory.and_then(|m| m.limit),
            cpu_quota: resources.cpu.as_ref().and_then(|c| c.quota),
            cpu_shares: resources.cpu.and_then(|c| c.shares),
            pids_limit: resources.pids.and_then(|p| p.limit),
            seccomp: linux.seccomp.is_some_and(|s| !s.is_null()),
            apparmor_profile: process.apparmor_profile.filter(|p| !p.is_empty()),
            selinux_label: process.selinux_label.filter(|l| !l.is_empty()),
            masked_paths: linux.masked_paths.len(),
            devices: linux.devices.into_iter().map(|d| d.path).collect(),
            mounts: config.mounts.into_iter().map(mount_fact).collect(),
            rootfs_propagation_shared: linux
                .rootfs_propagation
                .is_some_and(|p| p == "shared" || p == "rshared"),
        })
    }
}

fn namespace_state(namespaces: &[Namespace], kind: &str) -> NamespaceState {
    match namespaces.iter().find(|n| n.kind == kind) {
        None => NamespaceState::Host,
        Some(Namespace {
            path: Some(path), ..
        }) if !path.is_empty() => {
            if path.starts_with("/proc/1/ns/") {
                NamespaceState::Host
            } else {
                NamespaceState::Joined
            }
        }
        Some(_) => NamespaceState::Own,
    }
}

fn mount_fact(m: Mount) -> MountFact {
    let bind =
        m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind" || o == "rbind");
    MountFact {
        destination: m.destination,
        source: m.source.unwrap_or_default(),
        bind,
        shared: m.options.iter().any(|o| o == "shared" || o == "rshared"),
    }
}
