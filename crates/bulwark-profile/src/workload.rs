//! Which workload a container belongs to, which image version it runs, and
//! which of its processes are the container runtime setting it up.

use bulwark_core::{ContainerRef, Event, WorkloadId};

use crate::proctable::{ProcInfo, ProcTable};

/// The workload identity of a container: the one attribution assigned
/// (a SPIFFE ID once identity is issued), else the pod's owner
/// `k8s:NAMESPACE/OWNER`, else `image:REPOSITORY` (tag and digest removed,
/// so every version of an image shares one profile), else `container:ID`.
/// `None` only if none makes a valid identity (an over-long name).
pub fn workload_of(container: &ContainerRef) -> Option<WorkloadId> {
    if let Some(w) = &container.workload {
        return Some(w.clone());
    }
    let from_pod = match (&container.pod_namespace, &container.pod_name) {
        (Some(ns), Some(pod)) => WorkloadId::new(format!("k8s:{ns}/{}", pod_owner(pod))).ok(),
        _ => None,
    };
    if from_pod.is_some() {
        return from_pod;
    }
    let from_image = container
        .image
        .as_deref()
        .map(repository)
        .filter(|r| !r.is_empty())
        .and_then(|r| WorkloadId::new(format!("image:{r}")).ok());
    from_image.or_else(|| WorkloadId::new(format!("container:{}", container.id)).ok())
}

/// Characters Kubernetes uses in generated name suffixes.
const K8S_SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

/// The controller a pod name was generated from: `web-7d9f8c6b5-x2x8z`
/// (Deployment) and `web-x2x8z` (ReplicaSet, DaemonSet, Job) become `web`,
/// `db-0` (StatefulSet) becomes `db`; other names stay as they are.
pub fn pod_owner(pod: &str) -> &str {
    let generated = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.chars().all(|c| K8S_SUFFIX_ALPHABET.contains(c))
    };
    let strip = |name: &'_ str, test: &dyn Fn(&str) -> bool| -> Option<usize> {
        let (head, tail) = name.rsplit_once('-')?;
        (test(tail) && !head.is_empty()).then_some(head.len())
    };
    if let Some(end) = strip(pod, &|t| generated(t, 5, 5)) {
        let rest = &pod[..end];
        return match strip(rest, &|t| generated(t, 6, 10)) {
            Some(end) => &rest[..end],
            None => rest,
        };
    }
    match strip(pod, &|t| {
        !t.is_empty() && t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit())
    }) {
        Some(end) => &pod[..end],
        None => pod,
    }
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
    fn pod_names_map_to_their_controller() {
        assert_eq!(pod_owner("web-7d9f8c6b5-x2x8z"), "web");
        assert_eq!(pod_owner("node-exporter-x2x8z"), "node-exporter");
        assert_eq!(pod_owner("db-0"), "db");
        assert_eq!(pod_owner("standalone"), "standalone");
        assert_eq!(pod_owner("my-app"), "my-app");
    }

    #[test]
    fn pods_are_identified_by_namespace_and_owner_before_image() {
        let mut c = container(Some("registry.test/web:1"));
        c.pod_namespace = Some("shop".into());
        c.pod_name = Some("web-7d9f8c6b5-x2x8z".into());
        assert_eq!(
            workload_of(&c).map(String::from).as_deref(),
            Some("k8s:shop/web")
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
