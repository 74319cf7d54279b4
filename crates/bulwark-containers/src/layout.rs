//! Cgroup path layouts of container runtimes (pure).
//!
//! | runtime, driver | path (v1 controller or v2) |
//! | --- | --- |
//! | docker, cgroupfs | `/docker/ID` |
//! | docker, systemd | `/system.slice/docker-ID.scope` |
//! | podman, systemd | `/machine.slice/libpod-ID.scope[/container]`, rootless under `user@UID.service/` |
//! | podman, cgroupfs | `/libpod_parent/libpod-ID` |
//! | containerd (ctr), cgroupfs | `/NAMESPACE/ID` (known only from runtime state) |
//! | Kubernetes, cgroupfs | `/kubepods[/QOS]/podUID/ID`, CRI-O: `.../podUID/crio-ID` |
//! | Kubernetes, systemd | `/kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID.slice/{cri-containerd,crio,docker}-ID.scope` |
//!
//! Conmon scopes (`crio-conmon-ID.scope`, `libpod-conmon-ID.scope`) hold the
//! runtime's monitor, not the container, and are not matched. Container ids
//! in paths are 64 lower-case hex digits; the innermost match wins, so a
//! container nested in another is attributed to the inner one.

use bulwark_core::ContainerId;
use serde::{Deserialize, Serialize};

/// The container runtime (or engine) that manages a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    Runc,
    Crun,
    Containerd,
    CriO,
    Podman,
    Docker,
}

impl Runtime {
    /// The name used in events (`ContainerRef::runtime`).
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        }
    }
}

/// How a cgroup manager names cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Cgroupfs,
    Systemd,
}

/// A container recognised from its cgroup path alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathMatch {
    pub id: ContainerId,
    /// `None` when the layout does not say (a bare id under a pod).
    pub runtime: Option<Runtime>,
    pub driver: Driver,
    /// The Kubernetes pod UID, for containers of a pod.
    pub pod_uid: Option<String>,
}

/// Recognises a container in a cgroup path; see the module table.
pub fn classify(path: &str) -> Option<PathMatch> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (index, id, runtime, driver) = segments.iter().enumerate().rev().find_map(|(i, seg)| {
        let parent = i.checked_sub(1).and_then(|p| segments.get(p)).copied();
        match_segment(seg, parent).map(|(id, rt, d)| (i, id, rt, d))
    })?;
    let pod_uid = segments[..index].iter().rev().find_map(|s| pod_uid(s));
    Some(PathMatch {
        id: ContainerId::new(id).ok()?,
        runtime,
        driver,
        pod_uid,
    })
}

fn match_segment<'a>(
    seg: &'a str,
    parent: Option<&str>,
) -> Option<(&'a str, Option<Runtime>, Driver)> {
    if let Some(scope) = seg.strip_suffix(".scope") {
        const SCOPES: [(&str, Runtime); 4] = [
            ("docker-", Runtime::Docker),
            ("cri-containerd-", Runtime::Containerd),
            ("crio-", Runtime::CriO),
            ("libpod-", Runtime::Podman),
        ];
        return SCOPES.iter().find_map(|(prefix, rt)| {
            let id = scope.strip_prefix(prefix).filter(|id| is_hex_id(id))?;
            Some((id, Some(*rt), Driver::Systemd))
        });
    }
    if let Some(id) = seg.strip_prefix("crio-").filter(|id| is_hex_id(id)) {
        return Some((id, Some(Runtime::CriO), Driver::Cgroupfs));
    }
    if let Some(id) = seg.strip_prefix("libpod-").filter(|id| is_hex_id(id)) {
        return Some((id, Some(Runtime::Podman), Driver::Cgroupfs));
    }
    if is_hex_id(seg) {
        let runtime = match parent {
            Some("docker") => Some(Runtime::Docker),
            _ => None,
        };
        return Some((seg, runtime, Driver::Cgroupfs));
    }
    None
}

/// The pod UID in `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid>.slice`
/// (systemd, with `_` for `-`).
fn pod_uid(seg: &str) -> Option<String> {
    if let Some(slice) = seg.strip_suffix(".slice") {
        let uid = slice.rsplit_once("-pod")?.1;
        return is_uid(uid, '_').then(|| uid.replace('_', "-"));
    }
    let uid = seg.strip_prefix("pod")?;
    is_uid(uid, '-').then(|| uid.to_owned())
}

fn is_uid(s: &str, sep: char) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_hexdigit() || c == sep)
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a5b0c9d8e7f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef";
    const UID: &str = "7f9c1e2a-3b4c-4d5e-8f60-718293a4b5c6";
    const UID_SYSTEMD: &str = "7f9c1e2a_3b4c_4d5e_8f60_718293a4b5c6";

    struct Case {
        name: &'static str,
        path: String,
        runtime: Option<Runtime>,
        driver: Driver,
        pod: bool,
    }

    fn case(
        name: &'static str,
        path: String,
        runtime: Option<Runtime>,
        driver: Driver,
        pod: bool,
    ) -> Case {
        Case {
            name,
            path,
            runtime,
            driver,
            pod,
        }
    }

    fn table() -> Vec<Case> {
        use Driver::{Cgroupfs, Systemd};
        use Runtime::*;
        vec![
            case(
                "docker cgroupfs v1",
                format!("/docker/{ID}"),
                Some(Docker),
                Cgroupfs,
                false,
            ),
            case(
                "docker systemd v1/v2",
                format!("/system.slice/docker-{ID}.scope"),
                Some(Docker),
                Systemd,
                false,
            ),
            case(
                "podman systemd rootful",
                format!("/machine.slice/libpod-{ID}.scope"),
                Some(Podman),
                Systemd,
                false,
            ),
            case(
                "podman systemd nested container cgroup",
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Some(Podman),
                Systemd,
                false,
            ),
            case(
                "podman rootless",
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
                ),
                Some(Podman),
                Systemd,
                false,
            ),
            case(
                "podman cgroupfs",
                format!("/libpod_parent/libpod-{ID}"),
                Some(Podman),
                Cgroupfs,
                false,
            ),
            case(
                "containerd ctr cgroupfs",
                format!("/default/{ID}"),
                None,
                Cgroupfs,
                false,
            ),
            case(
                "k8s cgroupfs guaranteed",
                format!("/kubepods/pod{UID}/{ID}"),
                None,
                Cgroupfs,
                true,
            ),
            case(
                "k8s cgroupfs burstable",
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                None,
                Cgroupfs,
                true,
            ),
            case(
                "k8s cgroupfs besteffort cri-o",
                format!("/kubepods/besteffort/pod{UID}/crio-{ID}"),
                Some(CriO),
                Cgroupfs,
                true,
            ),
            case(
                "k8s systemd containerd",
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice/cri-containerd-{ID}.scope"
                ),
                Some(Containerd),
                Systemd,
                true,
            ),
            case(
                "k8s systemd guaranteed cri-o",
                format!("/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice/crio-{ID}.scope"),
                Some(CriO),
                Systemd,
                true,
            ),
            case(
                "k8s systemd docker",
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice/docker-{ID}.scope"
                ),
                Some(Docker),
                Systemd,
                true,
            ),
            case(
                "k8s seen from a nested cgroup namespace",
                format!("/../../kubepods/burstable/pod{UID}/{ID}"),
                None,
                Cgroupfs,
                true,
            ),
            case(
                "k8s container with its own sub-cgroup",
                format!("/kubepods/burstable/pod{UID}/{ID}/init.scope"),
                None,
                Cgroupfs,
                true,
            ),
        ]
    }

    #[test]
    fn every_runtime_driver_and_layout_is_recognised() {
        for c in table() {
            let m =
                classify(&c.path).unwrap_or_else(|| panic!("{}: no match for {}", c.name, c.path));
            assert_eq!(m.id.as_str(), ID, "{}", c.name);
            assert_eq!(m.runtime, c.runtime, "{}", c.name);
            assert_eq!(m.driver, c.driver, "{}", c.name);
            assert_eq!(m.pod_uid.as_deref(), c.pod.then_some(UID), "{}", c.name);
        }
    }

    #[test]
    fn host_cgroups_are_not_containers() {
        for path in [
            "/",
            "/user.slice/user-1000.slice/session-2.scope",
            "/system.slice/containerd.service",
            "/system.slice/docker.service",
            "/kubepods/burstable",
            "/kubepods.slice/kubepods-burstable.slice",
            "/process_api/2f8d69112cdf1e5a48a06b1b01d1c010",
        ] {
            assert_eq!(classify(path), None, "{path}");
        }
    }

    #[test]
    fn conmon_scopes_are_not_the_container() {
        assert_eq!(
            classify(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        let crio =
            format!("/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice/crio-conmon-{ID}.scope");
        assert_eq!(classify(&crio), None);
    }

    #[test]
    fn docker_in_docker_is_attributed_to_the_inner_container() {
        let inner = "b".repeat(64);
        let m = classify(&format!("/docker/{ID}/docker/{inner}")).unwrap();
        assert_eq!(m.id.as_str(), inner);
    }

    #[test]
    fn near_miss_ids_are_not_accepted() {
        let upper = ID.to_uppercase();
        for path in [
            format!("/docker/{}", &ID[..63]),
            format!("/docker/{upper}"),
            format!("/docker/{ID}0"),
            format!("/system.slice/docker-{}.scope", &ID[..12]),
        ] {
            assert_eq!(classify(&path), None, "{path}");
        }
    }

    #[test]
    fn forged_pod_segment_with_path_characters_is_ignored() {
        let m = classify(&format!("/kubepods/pod..%2f/{ID}")).unwrap();
        assert_eq!(m.pod_uid, None);
    }
}
