//! One attributed container.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bulwark_core::{ContainerId, ContainerRef};

use crate::layout::Runtime;
use crate::metadata::Pod;

/// Everything attribution knows about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: ContainerId,
    /// `None` when only the cgroup path was seen and it does not name the runtime.
    pub runtime: Option<Runtime>,
    pub name: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub pod: Option<Pod>,
    /// A pod's infrastructure (pause) container.
    pub sandbox: bool,
    /// Labels (docker, CRI-O) as the runtime recorded them.
    pub labels: BTreeMap<String, String>,
    /// The OCI annotations of the container's `config.json`.
    pub annotations: BTreeMap<String, String>,
    pub bundle: Option<PathBuf>,
    /// Host pid of the container's init, when it runs.
    pub init_pid: Option<u32>,
    /// The cgroup path, relative to the hierarchy root (`/bulwark-testkit/ID`).
    pub cgroup_path: Option<String>,
    /// cgroup v2 id (inode of the cgroup directory).
    pub cgroup_id: Option<u64>,
    /// Inode of the init's pid namespace.
    pub pid_ns: Option<u64>,
    /// The runtime state directory it was discovered in, if any.
    pub state_dir: Option<PathBuf>,
}

impl ContainerInfo {
    /// A container known only by id (from a cgroup path).
    pub fn bare(id: ContainerId, runtime: Option<Runtime>) -> ContainerInfo {
        ContainerInfo {
            id,
            runtime,
            name: None,
            image: None,
            image_digest: None,
            pod: None,
            sandbox: false,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            bundle: None,
            init_pid: None,
            cgroup_path: None,
            cgroup_id: None,
            pid_ns: None,
            state_dir: None,
        }
    }

    /// The reference events carry.
    pub fn to_ref(&self) -> ContainerRef {
        ContainerRef {
            id: self.id.clone(),
            runtime: self.runtime.map_or("unknown", Runtime::as_str).to_owned(),
            image: self.image.clone(),
            image_digest: self.image_digest.clone(),
            workload: None,
            pod_namespace: self.pod.as_ref().and_then(|p| p.namespace.clone()),
            pod_name: self.pod.as_ref().and_then(|p| p.name.clone()),
        }
    }
}
