//! A container as the OCI hook announces it, and as the agent finds it in
//! the kernel: its init's root, mounts and cgroup.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bulwark_core::ContainerId;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use serde::{Deserialize, Serialize};

use crate::arm::MountTarget;
use crate::mounts;
use crate::rootfs::Root;

/// Largest `config.json` or hook state read (bytes).
pub const MAX_CONFIG_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container init {pid} is gone")]
    Gone { pid: u32 },
    #[error("{0}")]
    Mountinfo(#[from] mounts::MountinfoError),
    #[error("{0}")]
    Root(#[from] crate::rootfs::RootError),
}

fn io_err<'p>(
    what: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> ContainerError + 'p {
    move |source| ContainerError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// The container state an OCI runtime passes to a hook on stdin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    #[serde(default)]
    pub oci_version: String,
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub pid: Option<u32>,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl OciState {
    pub fn parse(text: &str) -> Result<Self, ContainerError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(invalid("hook state on stdin", "larger than 4 MiB"));
        }
        serde_json::from_str(text).map_err(|e| invalid("hook state on stdin", &e.to_string()))
    }
}

fn invalid(what: &str, problem: &str) -> ContainerError {
    ContainerError::Invalid {
        what: what.into(),
        problem: problem.into(),
    }
}

/// What registering a container needs, built by the hook from the state and
/// the bundle's `config.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub id: ContainerId,
    /// The container's init, in the agent's (host) pid namespace.
    pub pid: u32,
    pub bundle: PathBuf,
    /// Absolute host path of the root filesystem.
    pub rootfs: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ConfigRoot {
    path: PathBuf,
}

#[derive(Deserialize)]
struct Config {
    root: ConfigRoot,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Registration {
    /// From the hook's state and the bundle's `config.json` text.
    pub fn from_oci(state: &OciState, config_json: &str) -> Result<Self, ContainerError> {
        let id = ContainerId::new(state.id.clone())
            .map_err(|e| invalid("container id in the hook state", &e.to_string()))?;
        let pid = state.pid.filter(|p| *p > 1).ok_or_else(|| {
            invalid(
                "hook state",
                "no container pid (is this a createRuntime/prestart hook?)",
            )
        })?;
        if !state.bundle.is_absolute() {
            return Err(invalid("bundle path in the hook state", "is not absolute"));
        }
        if config_json.len() > MAX_CONFIG_BYTES {
            return Err(invalid("config.json", "larger than 4 MiB"));
        }
        let config: Config = serde_json::from_str(config_json).map_err(|e| {
            invalid(
                &format!("{}/config.json", state.bundle.display()),
                &e.to_string(),
            )
        })?;
        let rootfs = if config.root.path.is_absolute() {
            config.root.path
        } else {
            state.bundle.join(config.root.path)
        };
        let mut annotations = config.annotations;
        annotations.extend(state.annotations.clone());
        Ok(Registration {
            id,
            pid,
            bundle: state.bundle.clone(),
            rootfs,
            annotations,
        })
    }
}

/// The container's init as the kernel shows it.
#[derive(Debug)]
pub struct View {
    /// The container root, as its mount namespace will see it.
    pub root: Root,
    /// The root's path in the container's mount namespace before
    /// `pivot_root` (`None` once pivoted).
    pub pre_pivot_root: Option<String>,
    pub mounts: Vec<MountTarget>,
    /// The container's cgroup v2 directory on the host, if it has one.
    pub cgroup: Option<PathBuf>,
    /// Start time of the init (from `/proc/PID/stat`), to tell a reused pid.
    pub start_time: u64,
}

impl View {
    /// Look at the container through its init `pid`.
    pub fn of(reg: &Registration) -> Result<View, ContainerError> {
        let proc_root = PathBuf::from(format!("/proc/{}/root", reg.pid));
        let ns_root = nix::fcntl::open(
            &proc_root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|_| ContainerError::Gone { pid: reg.pid })?;
        let stat = read(&PathBuf::from(format!("/proc/{}/stat", reg.pid)))?;
        let start_time = bulwark_containers::stat_start_time(&stat).unwrap_or(0);
        let pivoted = same_file(&proc_root, &reg.rootfs);
        let root_in_ns = if pivoted {
            "/".to_owned()
        } else {
            reg.rootfs
                .to_str()
                .ok_or_else(|| invalid("rootfs path", "is not UTF-8"))?
                .trim_end_matches('/')
                .to_owned()
        };
        let root_fd = beneath(&ns_root, &root_in_ns, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let root = Root::from_fd(root_fd, reg.rootfs.clone());
        let mountinfo = read(&PathBuf::from(format!("/proc/{}/mountinfo", reg.pid)))?;
        let all = mounts::parse(&mountinfo)?;
        let mut targets = Vec::new();
        for m in mounts::below(&all, &root_in_ns) {
            let fd = beneath(&ns_root, &m.mount_point, OFlag::O_PATH)?;
            if mount_id(&fd) != Some(m.mount_id) {
                return Err(invalid(
                    &format!("mount {}", m.mount_point),
                    "the path does not lead to that mount (changed while registering)",
                ));
            }
            targets.push(MountTarget {
                mount_point: m.mount_point.clone(),
                fs_type: m.fs_type.clone(),
                fd,
            });
        }
        Ok(View {
            root,
            pre_pivot_root: (!pivoted).then_some(root_in_ns),
            mounts: targets,
            cgroup: cgroup_dir(reg.pid)?,
            start_time,
        })
    }
}

/// The mount id an open fd lies on (`mnt_id:` in `/proc/self/fdinfo`).
fn mount_id(fd: &OwnedFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

fn read(path: &Path) -> Result<String, ContainerError> {
    std::fs::read_to_string(path).map_err(io_err("reading", path))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Open `path` (as the container's mount namespace names it) below the
/// namespace root, never leaving it.
fn beneath(ns_root: &OwnedFd, path: &str, flags: OFlag) -> Result<OwnedFd, ContainerError> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(ns_root.as_fd(), rel, how).map_err(|e| ContainerError::Io {
        what: "opening in the container's mount namespace",
        path: PathBuf::from(path),
        source: e.into(),
    })
}

/// Where the cgroup v2 hierarchy is mounted on this host.
pub fn cgroup2_root() -> Result<PathBuf, ContainerError> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    bulwark_containers::cgroup2_mount(&mountinfo)
        .ok_or_else(|| invalid("cgroup2", "not mounted on this host"))
}

/// `/sys/fs/cgroup/unified/PATH` (or wherever cgroup2 is mounted) for the
/// unified-hierarchy line of `/proc/PID/cgroup`.
pub fn cgroup_dir(pid: u32) -> Result<Option<PathBuf>, ContainerError> {
    let text = read(&PathBuf::from(format!("/proc/{pid}/cgroup")))?;
    let cgroups = bulwark_containers::ProcCgroups::parse(&text)
        .map_err(|(line, problem)| invalid(&format!("/proc/{pid}/cgroup line {line}"), problem))?;
    let Some(path) = cgroups.unified() else {
        return Ok(None);
    };
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    let Some(mount) = bulwark_containers::cgroup2_mount(&mountinfo) else {
        return Ok(None);
    };
    Ok(Some(mount.join(path.trim_start_matches('/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{"ociVersion":"1.0.2","id":"web-1","status":"creating","pid":4242,"bundle":"/run/b/web-1","annotations":{"io.bulwark.policy":"web"}}"#;

    #[test]
    fn registration_joins_relative_root_to_bundle_and_merges_annotations() {
        let state = OciState::parse(STATE).unwrap();
        let config = r#"{"root":{"path":"rootfs"},"annotations":{"io.bulwark.image":"web:1"}}"#;
        let reg = Registration::from_oci(&state, config).unwrap();
        assert_eq!(reg.rootfs, PathBuf::from("/run/b/web-1/rootfs"));
        assert_eq!(reg.annotations.len(), 2);
        assert_eq!(reg.pid, 4242);
    }

    #[test]
    fn forged_container_id_and_missing_pid_are_refused() {
        let mut state = OciState::parse(STATE).unwrap();
        state.id = "../../etc".into();
        assert!(Registration::from_oci(&state, r#"{"root":{"path":"r"}}"#).is_err());
        let mut state = OciState::parse(STATE).unwrap();
        state.pid = None;
        let err = Registration::from_oci(&state, r#"{"root":{"path":"r"}}"#).unwrap_err();
        assert!(err.to_string().contains("no container pid"), "{err}");
    }

    #[test]
    fn garbage_config_names_the_file() {
        let state = OciState::parse(STATE).unwrap();
        let err = Registration::from_oci(&state, "{not json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/run/b/web-1/config.json"), "{err}");
    }
}
