//! What a test container looks like, and its OCI `config.json` (pure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Error;

/// The network a container gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with only `lo` up.
    #[default]
    Isolated,
    /// The host's network namespace: `127.0.0.1` is the host's loopback.
    Host,
    /// A new network namespace with `eth0`, one end of a veth pair whose
    /// other end is on the host; see [`crate::VethNet`].
    Veth,
}

/// How a bind mount is mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Where in the container's lifecycle an OCI hook runs (runtime-spec names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookPoint {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookPoint {
    fn key(self) -> &'static str {
        match self {
            HookPoint::Prestart => "prestart",
            HookPoint::CreateRuntime => "createRuntime",
            HookPoint::CreateContainer => "createContainer",
            HookPoint::StartContainer => "startContainer",
            HookPoint::Poststart => "poststart",
            HookPoint::Poststop => "poststop",
        }
    }
}

/// One OCI hook: a program runc runs with the container state on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    path: PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    timeout: Option<Duration>,
}

impl Hook {
    /// A hook running `path`; `args[0]` defaults to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Hook {
        Hook {
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: None,
        }
    }

    /// The full argument vector, `argv[0]` included.
    pub fn args<I, S>(mut self, args: I) -> Hook
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Hook {
        self.env.push(format!("{key}={value}"));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Hook {
        self.timeout = Some(timeout);
        self
    }

    fn to_json(&self) -> Value {
        let mut hook = json!({ "path": self.path });
        if !self.args.is_empty() {
            hook["args"] = json!(self.args);
        }
        if !self.env.is_empty() {
            hook["env"] = json!(self.env);
        }
        if let Some(t) = self.timeout {
            hook["timeout"] = json!(t.as_secs().max(1));
        }
        hook
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub access: Access,
}

/// A file the test puts into the container's private root filesystem
/// before the container is created (so it is part of the "image").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExtraFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// Everything the builder collected; turned into `config.json` by [`config_json`].
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub capabilities: Vec<String>,
    pub no_new_privileges: bool,
    pub writable_rootfs: bool,
    pub network: Network,
    /// Share the host's pid namespace (no `pid` namespace in the config).
    pub host_pid: bool,
    pub mounts: Vec<BindMount>,
    pub annotations: BTreeMap<String, String>,
    pub hooks: Vec<(HookPoint, Hook)>,
    pub cgroups_path: Option<String>,
    pub files: Vec<ExtraFile>,
    /// Commands run with the bundle directory appended, before `runc create`.
    pub prepare: Vec<Vec<String>>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            args: vec!["sleep".into(), "3600".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            capabilities: Vec::new(),
            no_new_privileges: true,
            writable_rootfs: false,
            network: Network::Isolated,
            host_pid: false,
            mounts: Vec::new(),
            annotations: BTreeMap::new(),
            hooks: Vec::new(),
            cgroups_path: None,
            files: Vec::new(),
            prepare: Vec::new(),
        }
    }
}

const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

impl Spec {
    /// Rejects values runc would misread or that would escape the bundle.
    pub fn validate(&self) -> Result<(), Error> {
        if self.args.is_empty() {
            return Err(invalid("args", "", "a container needs a program to run"));
        }
        for cap in &self.capabilities {
            let ok = cap.starts_with("CAP_")
                && cap
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    "capability",
                    cap,
                    "expected a name like CAP_SYS_ADMIN",
                ));
            }
        }
        for m in &self.mounts {
            check_container_path("mount destination", &m.destination)?;
            if !m.source.is_absolute() {
                let source = m.source.display().to_string();
                return Err(invalid("mount source", &source, "must be an absolute path"));
            }
        }
        for f in &self.files {
            check_container_path("file path", &f.path)?;
        }
        check_container_path("cwd", &self.cwd)?;
        if let Some(p) = &self.cgroups_path {
            check_container_path("cgroups path", p)?;
        }
        Ok(())
    }

    fn capability_set(&self) -> Vec<String> {
        let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| (*c).to_owned()).collect();
        for c in &self.capabilities {
            if !caps.contains(c) {
                caps.push(c.clone());
            }
        }
        caps
    }
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
    Error::Invalid {
        what,
        value: value.to_owned(),
        reason,
    }
}

fn check_container_path(what: &'static str, path: &str) -> Result<(), Error> {
    if !path.starts_with('/') {
        return Err(invalid(what, path, "must be an absolute path"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(invalid(what, path, "must not contain `..`"));
    }
    Ok(())
}

/// The OCI runtime `config.json` for `spec`. No `rlimits`: the project's
/// machines lack CAP_SYS_RESOURCE, and runc fails when asked to raise one.
pub(crate) fn config_json(
    spec: &Spec,
    rootfs: &Path,
    netns: Option<&Path>,
    cgroups_path: &str,
    hostname: &str,
) -> Value {
    let caps = spec.capability_set();
    let ambient: Vec<String> = if spec.uid == 0 {
        Vec::new()
    } else {
        caps.clone()
    };
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": spec.uid, "gid": spec.gid },
            "args": spec.args,
            "env": spec.env,
            "cwd": spec.cwd,
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": ambient,
            },
            "noNewPrivileges": spec.no_new_privileges,
        },
        "root": { "path": rootfs, "readonly": !spec.writable_rootfs },
        "hostname": hostname,
        "mounts": mounts_json(spec),
        "annotations": spec.annotations,
        "hooks": hooks_json(&spec.hooks),
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": namespaces_json(spec.network, spec.host_pid, netns),
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
        },
    })
}

fn mounts_json(spec: &Spec) -> Value {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=755", "size=16384k"]}),
    ];
    for m in &spec.mounts {
        let rw = match m.access {
            Access::ReadOnly => "ro",
            Access::ReadWrite => "rw",
        };
        mounts.push(json!({
            "destination": m.destination, "type": "bind", "source": m.source,
            "options": ["rbind", rw],
        }));
    }
    Value::Array(mounts)
}

fn hooks_json(hooks: &[(HookPoint, Hook)]) -> Value {
    let mut by_point: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (point, hook) in hooks {
        by_point
            .entry(point.key())
            .or_default()
            .push(hook.to_json());
    }
    json!(by_point)
}

fn namespaces_json(network: Network, host_pid: bool, netns: Option<&Path>) -> Value {
    let mut ns = vec![
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if !host_pid {
        ns.push(json!({"type": "pid"}));
    }
    match (network, netns) {
        (Network::Host, _) => {}
        (_, Some(path)) => ns.push(json!({"type": "network", "path": path})),
        (_, None) => ns.push(json!({"type": "network"})),
    }
    Value::Array(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(spec: &Spec) -> Value {
        config_json(spec, Path::new("/r"), None, "/bulwark-testkit/x", "x")
    }

    #[test]
    fn config_never_asks_for_rlimits() {
        let c = config(&Spec::default());
        assert!(c["process"].get("rlimits").is_none());
    }

    #[test]
    fn host_network_has_no_network_namespace() {
        let spec = Spec {
            network: Network::Host,
            ..Spec::default()
        };
        let c = config(&spec);
        let types: Vec<&str> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert!(!types.contains(&"network"));
        assert!(types.contains(&"pid"));
    }

    #[test]
    fn host_pid_has_no_pid_namespace() {
        let types = |spec: &Spec| -> Vec<String> {
            config(spec)["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(types(&Spec::default()).contains(&"pid".to_owned()));
        let shared = Spec {
            host_pid: true,
            ..Spec::default()
        };
        assert!(!types(&shared).contains(&"pid".to_owned()));
    }

    #[test]
    fn veth_network_joins_the_prepared_namespace() {
        let spec = Spec {
            network: Network::Veth,
            ..Spec::default()
        };
        let c = config_json(
            &spec,
            Path::new("/r"),
            Some(Path::new("/run/netns/n")),
            "/p",
            "x",
        );
        let net = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "network")
            .cloned();
        assert_eq!(net.unwrap()["path"], "/run/netns/n");
    }

    #[test]
    fn hooks_are_grouped_by_lifecycle_point() {
        let spec = Spec {
            hooks: vec![
                (
                    HookPoint::CreateRuntime,
                    Hook::new("/bin/a").args(["a", "x"]),
                ),
                (
                    HookPoint::Prestart,
                    Hook::new("/bin/b").timeout(Duration::from_secs(5)),
                ),
                (HookPoint::CreateRuntime, Hook::new("/bin/c").env("K", "V")),
            ],
            ..Spec::default()
        };
        let c = config(&spec);
        assert_eq!(c["hooks"]["createRuntime"].as_array().unwrap().len(), 2);
        assert_eq!(c["hooks"]["createRuntime"][0]["args"][1], "x");
        assert_eq!(c["hooks"]["createRuntime"][1]["env"][0], "K=V");
        assert_eq!(c["hooks"]["prestart"][0]["timeout"], 5);
    }

    #[test]
    fn extra_capabilities_extend_the_default_set_once() {
        let spec = Spec {
            capabilities: vec!["CAP_SYS_ADMIN".into(), "CAP_KILL".into()],
            ..Spec::default()
        };
        let c = config(&spec);
        let caps = c["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(caps.len(), 4);
        assert!(caps.contains(&json!("CAP_SYS_ADMIN")));
    }

    #[test]
    fn mount_destination_with_dotdot_is_rejected() {
        let spec = Spec {
            mounts: vec![BindMount {
                source: "/tmp".into(),
                destination: "/mnt/../../etc".into(),
                access: Access::ReadOnly,
            }],
            ..Spec::default()
        };
        assert!(matches!(
            spec.validate(),
            Err(Error::Invalid {
                what: "mount destination",
                ..
            })
        ));
    }

    #[test]
    fn lowercase_capability_is_rejected() {
        let spec = Spec {
            capabilities: vec!["cap_sys_admin".into()],
            ..Spec::default()
        };
        assert!(spec.validate().is_err());
    }
}
