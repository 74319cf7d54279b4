//! Finding the containers that run now, from the runtimes' state directories.
//!
//! | state directory | written by |
//! | --- | --- |
//! | `/run/runc/ID/state.json` | runc run directly, CRI-O, podman (runc) |
//! | `/run/crun/ID/status` | crun (podman, CRI-O) |
//! | `/run/containerd/runc/NAMESPACE/ID/state.json` | containerd's runc shim (`k8s.io` for Kubernetes, `moby` for docker) |
//! | `/run/docker/runtime-runc/moby/ID/state.json` | docker |
//!
//! The runtime that *manages* a container is refined from its bundle path
//! and annotations (a runc container whose bundle is under containerd's task
//! directory is containerd's; CRI-O and podman mark theirs). Metadata comes
//! from the bundle's `config.json` annotations, docker's `config.v2.json` and
//! containers/storage's `containers.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulwark_core::ContainerId;

use crate::Error;
use crate::host::Host;
use crate::info::ContainerInfo;
use crate::layout::Runtime;
use crate::metadata;
use crate::procfs::{self, ProcCgroups};
use crate::state::{self, RuntimeState};

const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task/";
const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";
const STORAGE_CONTAINERS: &str = "/var/lib/containers/storage/overlay-containers/containers.json";

/// The result of one scan: what was found, and what could not be read.
#[derive(Debug, Default)]
pub struct Discovered {
    pub containers: Vec<ContainerInfo>,
    /// State directories skipped because they were unreadable or malformed
    /// (a container being deleted mid-scan shows up here).
    pub skipped: Vec<Error>,
}

/// The on-disk format of a state directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `ID/state.json` (runc, and runc under containerd and docker)
    Runc,
    /// `ID/status` (crun)
    Crun,
}

/// A directory holding one subdirectory per container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StateRoot {
    pub path: PathBuf,
    pub format: Format,
    /// Who manages containers found here, before bundle and annotations refine it.
    pub base: Runtime,
}

const CONTAINERD_RUNC: &str = "/run/containerd/runc";

/// The fixed state roots; containerd's per-namespace roots are below
/// [`CONTAINERD_RUNC`] and listed by [`state_roots`].
pub(crate) fn fixed_roots() -> [StateRoot; 3] {
    [
        StateRoot {
            path: "/run/runc".into(),
            format: Format::Runc,
            base: Runtime::Runc,
        },
        StateRoot {
            path: "/run/crun".into(),
            format: Format::Crun,
            base: Runtime::Crun,
        },
        StateRoot {
            path: "/run/docker/runtime-runc/moby".into(),
            format: Format::Runc,
            base: Runtime::Docker,
        },
    ]
}

/// containerd's runc root for namespace `ns` (`moby` is docker's).
pub(crate) fn containerd_root(ns: &str) -> StateRoot {
    let base = if ns == "moby" {
        Runtime::Docker
    } else {
        Runtime::Containerd
    };
    StateRoot {
        path: Path::new(CONTAINERD_RUNC).join(ns),
        format: Format::Runc,
        base,
    }
}

/// Every state root that exists on `host` now.
pub(crate) fn state_roots(host: &impl Host) -> Vec<StateRoot> {
    let mut roots: Vec<StateRoot> = fixed_roots().into_iter().collect();
    for ns in host.subdirs(Path::new(CONTAINERD_RUNC)).unwrap_or_default() {
        roots.push(containerd_root(&ns));
    }
    roots
}

/// Scans every known state directory on `host`.
pub fn discover(host: &impl Host) -> Discovered {
    let mut out = Discovered::default();
    let ctx = Ctx::new(host);
    for root in state_roots(host) {
        ctx.scan_root(&root, &mut out);
    }
    ctx.add_engine_metadata(&mut out.containers);
    out
}

/// Loads one container's state from `root/id`, with engine metadata.
pub(crate) fn load_one(
    host: &impl Host,
    root: &StateRoot,
    id: &str,
) -> Result<ContainerInfo, Error> {
    let ctx = Ctx::new(host);
    let mut info = ctx.load(&root.path.join(id), id, root.format, root.base)?;
    ctx.add_engine_metadata(std::slice::from_mut(&mut info));
    Ok(info)
}

struct Ctx<'h, H> {
    host: &'h H,
    cgroup2: Option<PathBuf>,
}

impl<'h, H: Host> Ctx<'h, H> {
    fn new(host: &'h H) -> Self {
        let cgroup2 = host
            .read(Path::new("/proc/self/mountinfo"))
            .ok()
            .and_then(|m| procfs::cgroup2_mount(&m));
        Ctx { host, cgroup2 }
    }

    fn scan_root(&self, root: &StateRoot, out: &mut Discovered) {
        let Ok(ids) = self.host.subdirs(&root.path) else {
            return; // this runtime is not installed or has no containers
        };
        for id in ids {
            match self.load(&root.path.join(&id), &id, root.format, root.base) {
                Ok(info) => out.containers.push(info),
                Err(e) => out.skipped.push(e),
            }
        }
    }

    fn load(
        &self,
        dir: &Path,
        id: &str,
        format: Format,
        base: Runtime,
    ) -> Result<ContainerInfo, Error> {
        let state = self.read_state(dir, id, format)?;
        let id = ContainerId::new(state.id.clone()).map_err(|source| Error::BadId {
            path: dir.to_owned(),
            source,
        })?;
        let annotations = self.annotations(state.bundle.as_deref())?;
        let meta = metadata::from_annotations(&annotations);
        let runtime = refine_runtime(base, state.bundle.as_deref(), &annotations);
        let init_pid = state
            .init_pid
            .filter(|pid| self.is_same_process(*pid, state.init_start));
        let cgroup_path = self.cgroup_path(&state, init_pid);
        let cgroup_id = self.cgroup_id(&state, cgroup_path.as_deref());
        let pid_ns = init_pid.and_then(|pid| {
            let link = self
                .host
                .read_link(&Path::new("/proc").join(pid.to_string()).join("ns/pid"))
                .ok()?;
            procfs::namespace_inode(&link)
        });
        Ok(ContainerInfo {
            id,
            runtime: Some(runtime),
            name: meta.name,
            image: meta.image,
            image_digest: meta.image_digest,
            pod: meta.pod,
            sandbox: meta.sandbox,
            labels: meta.labels,
            annotations,
            bundle: state.bundle,
            init_pid,
            cgroup_path,
            cgroup_id,
            pid_ns,
            state_dir: Some(dir.to_owned()),
        })
    }

    fn read_state(&self, dir: &Path, id: &str, format: Format) -> Result<RuntimeState, Error> {
        let (file, what) = match format {
            Format::Runc => (dir.join("state.json"), "runc state.json"),
            Format::Crun => (dir.join("status"), "crun status file"),
        };
        let text = self.host.read(&file)?;
        let parsed = match format {
            Format::Runc => state::parse_runc_state(&text),
            Format::Crun => state::parse_crun_status(id, &text),
        };
        parsed.map_err(|source| Error::Json {
            path: file,
            what,
            source,
        })
    }

    fn annotations(&self, bundle: Option<&Path>) -> Result<BTreeMap<String, String>, Error> {
        let Some(bundle) = bundle else {
            return Ok(BTreeMap::new());
        };
        let path = bundle.join("config.json");
        match self.host.read(&path) {
            Ok(text) => state::parse_oci_annotations(&text).map_err(|source| Error::Json {
                path,
                what: "OCI config.json",
                source,
            }),
            // Some runtimes remove the bundle early; the state is still valid.
            Err(e) if e.is_not_found() => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// True unless `/proc/PID/stat` shows a different start time (pid reuse).
    fn is_same_process(&self, pid: u32, start: Option<u64>) -> bool {
        let stat = self
            .host
            .read(&Path::new("/proc").join(pid.to_string()).join("stat"));
        match (stat, start) {
            (Err(_), _) => false,
            (Ok(_), None) => true,
            (Ok(text), Some(want)) => procfs::stat_start_time(&text) == Some(want),
        }
    }

    /// The v2 path relative to the hierarchy root; runc's systemd-driver
    /// `slice:prefix:name` form is not a path, so the v2 directory or the
    /// init's `/proc/PID/cgroup` are preferred.
    fn cgroup_path(&self, state: &RuntimeState, init_pid: Option<u32>) -> Option<String> {
        let from_dir = state
            .cgroup_v2_dir
            .as_deref()
            .zip(self.cgroup2.as_deref())
            .and_then(|(dir, mount)| dir.strip_prefix(mount).ok())
            .map(|rel| format!("/{}", rel.display()));
        let from_proc = || {
            let pid = init_pid?;
            let text = self
                .host
                .read(&Path::new("/proc").join(pid.to_string()).join("cgroup"))
                .ok()?;
            let cg = ProcCgroups::parse(&text).ok()?;
            cg.candidate_paths().first().map(|p| (*p).to_owned())
        };
        let declared = state.cgroup_path.clone().filter(|p| p.starts_with('/'));
        from_dir.or_else(from_proc).or(declared)
    }

    fn cgroup_id(&self, state: &RuntimeState, path: Option<&str>) -> Option<u64> {
        let dir = state.cgroup_v2_dir.clone().or_else(|| {
            let mount = self.cgroup2.as_deref()?;
            Some(mount.join(path?.trim_start_matches('/')))
        })?;
        self.host.inode(&dir).ok()
    }

    /// Docker and podman keep image names outside the OCI bundle.
    fn add_engine_metadata(&self, containers: &mut [ContainerInfo]) {
        let needs_storage = containers
            .iter()
            .any(|c| c.runtime == Some(Runtime::Podman));
        let storage = if needs_storage {
            self.host
                .read(Path::new(STORAGE_CONTAINERS))
                .ok()
                .and_then(|t| state::parse_storage_containers(&t).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        for c in containers.iter_mut() {
            match c.runtime {
                Some(Runtime::Docker) => self.add_docker(c),
                Some(Runtime::Podman) => {
                    if let Some(s) = storage.iter().find(|s| s.id == c.id.as_str()) {
                        c.name = c.name.take().or_else(|| s.name.clone());
                        c.image = c.image.take().or_else(|| s.image_name.clone());
                    }
                }
                _ => {}
            }
        }
    }

    fn add_docker(&self, c: &mut ContainerInfo) {
        let path = Path::new(DOCKER_CONTAINERS)
            .join(c.id.as_str())
            .join("config.v2.json");
        let Some(cfg) = self
            .host
            .read(&path)
            .ok()
            .and_then(|t| state::parse_docker_config(&t).ok())
        else {
            return;
        };
        c.name = c.name.take().or(cfg.name);
        if c.image.is_none() {
            c.image_digest = cfg.image.as_deref().and_then(metadata::digest_of);
            c.image = cfg.image;
        }
        if c.labels.is_empty() {
            c.labels = cfg.labels;
        }
    }
}

/// Who manages a container, given the state root it was found under, its
/// bundle and its annotations.
pub fn refine_runtime(
    base: Runtime,
    bundle: Option<&Path>,
    annotations: &BTreeMap<String, String>,
) -> Runtime {
    let bundle = bundle
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    if bundle.starts_with(&format!("{CONTAINERD_TASKS}moby/")) || bundle.starts_with("/run/docker/")
    {
        return Runtime::Docker;
    }
    if bundle.starts_with(CONTAINERD_TASKS) {
        return Runtime::Containerd;
    }
    if annotations
        .keys()
        .any(|k| k.starts_with("io.kubernetes.cri-o."))
    {
        return Runtime::CriO;
    }
    if annotations.get("io.container.manager").map(String::as_str) == Some("libpod") {
        return Runtime::Podman;
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn runtime_is_refined_from_bundle_and_annotations() {
        let none = BTreeMap::new();
        let task = |ns: &str| PathBuf::from(format!("{CONTAINERD_TASKS}{ns}/abc"));
        assert_eq!(
            refine_runtime(Runtime::Runc, Some(&task("k8s.io")), &none),
            Runtime::Containerd
        );
        assert_eq!(
            refine_runtime(Runtime::Containerd, Some(&task("moby")), &none),
            Runtime::Docker
        );
        let crio = ann(&[("io.kubernetes.cri-o.ContainerType", "container")]);
        assert_eq!(
            refine_runtime(Runtime::Runc, Some(Path::new("/run/containers/x")), &crio),
            Runtime::CriO
        );
        let podman = ann(&[("io.container.manager", "libpod")]);
        assert_eq!(
            refine_runtime(Runtime::Crun, None, &podman),
            Runtime::Podman
        );
        assert_eq!(
            refine_runtime(Runtime::Runc, Some(Path::new("/tmp/b")), &none),
            Runtime::Runc
        );
    }
}
