//! Which workload a container belongs to, which image version it runs, and
//! which of its processes are the container runtime setting it up.

use bulwark_core::{ContainerRef, Event, WorkloadId};

use crate::proctable::{ProcInfo, ProcTable};

/// The workload identity of a container: the one attribution assigned,
/// else `image:REPOSITORY` (tag and digest removed, so every version of an
/// image shares one profile), else `container:ID`. `None` only if neither
/// makes a valid identity (an over-long name).
pub fn workload_of(container: &ContainerRef) -> Option<WorkloadId> {
    if let Some(w) = &container.workload {
        return Some(w.clone());
    }
    let from_image = container
        .image
        .as_deref()
        .map(repository)
        .filter(|r| !r.is_empty())
        .and_then(|r| WorkloadId::new(format!("image:{r}")).ok());
    from_image.or_else(|| WorkloadId::new(format!("container:{}", container.id)).ok())
}

/// `registry/name:tag@sha256:...` -> `registry/name`.
pub fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// The image version label of a container: its image reference, else its
/// digest.
pub fn image_version(container: &ContainerRef) -> Option<String> {
    container
        .image
        .clone()
        .or_else(|| container.image_digest.clone())
}

/// Whether the acting process is the container runtime (`runc init`)
/// preparing the container or entering it for an exec: a runc executable
/// whose parent is outside the container. Its mounts and opens are the
/// runtime's, not the workload's.
pub fn is_runtime_process(event: &Event, info: Option<&ProcInfo>, table: &ProcTable) -> bool {
    let exe = info
        .and_then(|i| i.process.exe.as_deref())
        .or(event.process.exe.as_deref());
    let runc = match exe {
        Some(e) => {
            e.rsplit('/').next() == Some("runc")
                || e.contains("runc_cloned")
                || e.starts_with("/memfd:runc")
        }
        None => event.process.comm.starts_with("runc:"),
    };
    runc && info.is_none_or(|i| table.parent_in_container(i).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::ContainerId;

    fn container(image: Option<&str>) -> ContainerRef {
        ContainerRef {
            id: ContainerId::new("c0ffee").unwrap_or_else(|e| panic!("{e}")),
            runtime: "runc".into(),
            image: image.map(str::to_owned),
            image_digest: None,
            workload: None,
            pod_namespace: None,
            pod_name: None,
        }
    }

    #[test]
    fn repository_drops_tag_and_digest_but_not_registry_port() {
        assert_eq!(
            repository("registry.test:5000/web:1.2"),
            "registry.test:5000/web"
        );
        assert_eq!(repository("web@sha256:abcd"), "web");
        assert_eq!(
            repository("registry.test:5000/web"),
            "registry.test:5000/web"
        );
    }

    #[test]
    fn image_versions_share_one_workload() {
        let a = workload_of(&container(Some("registry.test/web:1")));
        let b = workload_of(&container(Some("registry.test/web:2")));
        assert_eq!(a, b);
        assert_eq!(
            a.map(String::from).as_deref(),
            Some("image:registry.test/web")
        );
        let c = workload_of(&container(None)).map(String::from);
        assert_eq!(c.as_deref(), Some("container:c0ffee"));
    }
}
