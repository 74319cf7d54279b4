//! CIS Docker Benchmark checks of one running container (section 5 and
//! the runtime side of 4.1), from its [`ContainerFacts`].

use super::facts::{ContainerFacts, NamespaceState};
use super::{Check, Status};

/// The capabilities Docker grants by default; anything beyond is "added".
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Host paths whose bind mount gives a container the host (CIS 5.5).
const SENSITIVE_DIRS: [&str; 8] = [
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr",
];

/// Container runtime sockets (CIS 5.31).
const RUNTIME_SOCKETS: [&str; 5] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
];

fn check(id: &str, title: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        id: id.into(),
        title: title.into(),
        status,
        detail: detail.into(),
    }
}

fn pass_or(ok: bool, fail: Status) -> Status {
    if ok { Status::Pass } else { fail }
}

/// Every runtime check of one container, in benchmark order.
pub fn container_checks(f: &ContainerFacts) -> Vec<Check> {
    let mut out = vec![
        user(f),
        check(
            "5.1",
            "AppArmor profile is enabled",
            pass_or(f.apparmor_profile.is_some(), Status::Warn),
            f.apparmor_profile
                .as_deref()
                .map_or("no AppArmor profile".into(), |p| format!("profile {p}")),
        ),
        check(
            "5.2",
            "SELinux security options are set",
            pass_or(f.selinux_label.is_some(), Status::Warn),
            f.selinux_label
                .as_deref()
                .map_or("no SELinux label".into(), |l| format!("label {l}")),
        ),
        capabilities(f),
        privileged(f),
        sensitive_mounts(f),
        namespace("5.9", "host network namespace is not shared", f.network_ns),
        limit(
            "5.10",
            "memory usage is limited",
            f.memory_limit
                .filter(|l| *l > 0)
                .map(|l| format!("memory limit {l} bytes")),
        ),
        cpu(f),
        check(
            "5.12",
            "root filesystem is mounted read-only",
            pass_or(f.readonly_rootfs, Status::Fail),
            if f.readonly_rootfs {
                "root.readonly"
            } else {
                "the root filesystem is writable"
            },
        ),
        namespace("5.15", "host process namespace is not shared", f.pid_ns),
        namespace("5.16", "host IPC namespace is not shared", f.ipc_ns),
        devices(f),
        propagation(f),
        namespace("5.20", "host UTS namespace is not shared", f.uts_ns),
        check(
            "5.21",
            "seccomp profile is not disabled",
            pass_or(f.seccomp, Status::Fail),
            if f.seccomp {
                "seccomp filter configured"
            } else {
                "no seccomp filter"
            },
        ),
        check(
            "5.25",
            "container cannot acquire additional privileges",
            pass_or(f.no_new_privileges, Status::Fail),
            if f.no_new_privileges {
                "noNewPrivileges"
            } else {
                "noNewPrivileges is not set"
            },
        ),
        limit(
            "5.28",
            "PIDs cgroup limit is used",
            f.pids_limit
                .filter(|l| *l > 0)
                .map(|l| format!("pids limit {l}")),
        ),
    ];
    let userns = f.user_ns.unwrap_or(NamespaceState::Host);
    out.push(check(
        "5.30",
        "host user namespace is not shared",
        pass_or(userns != NamespaceState::Host, Status::Warn),
        ns_detail(userns),
    ));
    out.push(runtime_socket(f));
    out
}

fn user(f: &ContainerFacts) -> Check {
    check(
        "4.1",
        "container runs as a non-root user",
        pass_or(f.uid != 0, Status::Fail),
        format!("uid {} gid {}", f.uid, f.gid),
    )
}

fn capabilities(f: &ContainerFacts) -> Check {
    let added: Vec<&str> = f
        .capabilities
        .iter()
        .map(String::as_str)
        .filter(|c| !DEFAULT_CAPABILITIES.contains(c))
        .collect();
    let detail = if added.is_empty() {
        format!(
            "{} capabilities, none beyond the default set",
            f.capabilities.len()
        )
    } else {
        format!("added: {}", added.join(", "))
    };
    check(
        "5.3",
        "Linux kernel capabilities are restricted",
        pass_or(added.is_empty(), Status::Fail),
        detail,
    )
}

/// `docker run --privileged`: CAP_SYS_ADMIN without a seccomp filter or
/// masked paths.
fn privileged(f: &ContainerFacts) -> Check {
    let sys_admin = f.capabilities.contains("CAP_SYS_ADMIN");
    let privileged = sys_admin && !f.seccomp && f.masked_paths == 0;
    check(
        "5.4",
        "privileged containers are not used",
        pass_or(!privileged, Status::Fail),
        if privileged {
            "CAP_SYS_ADMIN with no seccomp filter and no masked paths (privileged)"
        } else {
            "not privileged"
        },
    )
}

fn sensitive_mounts(f: &ContainerFacts) -> Check {
    let bad: Vec<String> = f
        .mounts
        .iter()
        .filter(|m| m.bind && is_sensitive(&m.source))
        .map(|m| format!("{} -> {}", m.source, m.destination))
        .collect();
    check(
        "5.5",
        "sensitive host directories are not mounted",
        pass_or(bad.is_empty(), Status::Fail),
        if bad.is_empty() {
            "no sensitive host directory bind-mounted".into()
        } else {
            bad.join(", ")
        },
    )
}

fn is_sensitive(source: &str) -> bool {
    let trimmed = source.trim_end_matches('/');
    let path = if trimmed.is_empty() { "/" } else { trimmed };
    SENSITIVE_DIRS
        .iter()
        .any(|d| path == *d || (*d != "/" && path.starts_with(&format!("{d}/"))))
}

fn ns_detail(state: NamespaceState) -> &'static str {
    match state {
        NamespaceState::Own => "own namespace",
        NamespaceState::Joined => "joins another container's namespace",
        NamespaceState::Host => "shares the host's namespace",
    }
}

fn namespace(id: &str, title: &str, state: Option<NamespaceState>) -> Check {
    let state = state.unwrap_or(NamespaceState::Host);
    check(
        id,
        title,
        pass_or(state != NamespaceState::Host, Status::Fail),
        ns_detail(state),
    )
}

fn limit(id: &str, title: &str, found: Option<String>) -> Check {
    match found {
        Some(detail) => check(id, title, Status::Pass, detail),
        None => check(id, title, Status::Fail, "no limit set"),
    }
}

fn cpu(f: &ContainerFacts) -> Check {
    let found = match (
        f.cpu_quota.filter(|q| *q > 0),
        f.cpu_shares.filter(|s| *s > 0),
    ) {
        (Some(q), _) => Some(format!("cpu quota {q}")),
        (None, Some(s)) => Some(format!("cpu shares {s}")),
        (None, None) => None,
    };
    limit("5.11", "CPU priority is set", found)
}

fn devices(f: &ContainerFacts) -> Check {
    check(
        "5.17",
        "host devices are not directly exposed",
        pass_or(f.devices.is_empty(), Status::Fail),
        if f.devices.is_empty() {
            "no devices added".into()
        } else {
            format!("devices: {}", f.devices.join(", "))
        },
    )
}

fn propagation(f: &ContainerFacts) -> Check {
    let shared: Vec<&str> = f
        .mounts
        .iter()
        .filter(|m| m.shared)
        .map(|m| m.destination.as_str())
        .collect();
    let ok = shared.is_empty() && !f.rootfs_propagation_shared;
    let detail = match (f.rootfs_propagation_shared, shared.is_empty()) {
        (true, _) => "the root filesystem propagates as shared".to_owned(),
        (false, false) => format!("shared mounts: {}", shared.join(", ")),
        (false, true) => "no shared mount propagation".to_owned(),
    };
    check(
        "5.19",
        "mount propagation is not shared",
        pass_or(ok, Status::Fail),
        detail,
    )
}

fn runtime_socket(f: &ContainerFacts) -> Check {
    let found: Vec<&str> = f
        .mounts
        .iter()
        .filter(|m| RUNTIME_SOCKETS.contains(&m.source.as_str()))
        .map(|m| m.source.as_str())
        .collect();
    check(
        "5.31",
        "container runtime socket is not mounted",
        pass_or(found.is_empty(), Status::Fail),
        if found.is_empty() {
            "no runtime socket mounted".into()
        } else {
            format!("mounted: {}", found.join(", "))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::ContainerFacts;

    fn status_of(checks: &[Check], id: &str) -> Option<Status> {
        checks.iter().find(|c| c.id == id).map(|c| c.status)
    }

    const HARDENED: &str = r#"{
      "ociVersion": "1.0.2",
      "process": {"user": {"uid": 1000, "gid": 1000}, "args": ["sh"], "cwd": "/",
        "noNewPrivileges": true, "apparmorProfile": "bulwark",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}},
      "root": {"path": "rootfs", "readonly": true},
      "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
      "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
          {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
        "resources": {"memory": {"limit": 67108864}, "cpu": {"quota": 50000, "period": 100000},
          "pids": {"limit": 64}},
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}, "maskedPaths": ["/proc/kcore"]}
    }"#;

    const PRIVILEGED: &str = r#"{
      "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
        "capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_KILL"]}},
      "root": {"path": "rootfs"},
      "mounts": [{"destination": "/host", "type": "bind", "source": "/etc", "options": ["rbind", "rshared"]},
                 {"destination": "/var/run/docker.sock", "source": "/var/run/docker.sock", "options": ["bind"]}],
      "linux": {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}],
        "devices": [{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]}
    }"#;

    #[test]
    fn hardened_container_passes_every_failable_check() {
        let facts = ContainerFacts::from_config_json(HARDENED);
        let checks = facts.as_ref().map(container_checks).unwrap_or_default();
        assert!(!checks.is_empty());
        let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            status_of(&checks, "5.2"),
            Some(Status::Warn),
            "no SELinux label"
        );
    }

    #[test]
    fn privileged_root_container_fails_what_it_should() {
        let checks = ContainerFacts::from_config_json(PRIVILEGED)
            .map(|f| container_checks(&f))
            .unwrap_or_default();
        for id in [
            "4.1", "5.3", "5.4", "5.5", "5.9", "5.10", "5.11", "5.12", "5.15", "5.16", "5.17",
            "5.19", "5.20", "5.21", "5.25", "5.28", "5.31",
        ] {
            assert_eq!(status_of(&checks, id), Some(Status::Fail), "check {id}");
        }
        let caps = checks
            .iter()
            .find(|c| c.id == "5.3")
            .map(|c| c.detail.clone());
        assert_eq!(caps.as_deref(), Some("added: CAP_NET_ADMIN, CAP_SYS_ADMIN"));
    }

    #[test]
    fn namespace_joined_by_path_is_not_the_hosts_unless_pid_1() {
        let json = r#"{"process": {"user": {"uid": 0, "gid": 0}},
          "linux": {"namespaces": [{"type": "network", "path": "/proc/4242/ns/net"},
                                   {"type": "pid", "path": "/proc/1/ns/pid"}]}}"#;
        let checks = ContainerFacts::from_config_json(json)
            .map(|f| container_checks(&f))
            .unwrap_or_default();
        assert_eq!(status_of(&checks, "5.9"), Some(Status::Pass));
        assert_eq!(status_of(&checks, "5.15"), Some(Status::Fail));
    }

    #[test]
    fn sensitive_directories_match_whole_path_components() {
        assert!(is_sensitive("/"));
        assert!(is_sensitive("/etc/"));
        assert!(is_sensitive("/etc/ssl"));
        assert!(!is_sensitive("/etcetera"));
        assert!(!is_sensitive("/srv/data"));
    }

    #[test]
    fn bad_config_json_is_an_error_naming_the_problem() {
        let too_big = " ".repeat(crate::compliance::MAX_CONFIG_BYTES + 1);
        assert!(matches!(
            ContainerFacts::from_config_json(&too_big),
            Err(crate::compliance::FactsError::TooLarge { .. })
        ));
        let no_process = ContainerFacts::from_config_json("{}");
        assert!(no_process.is_err_and(|e| e.to_string().contains("process")));
        assert!(ContainerFacts::from_config_json("[1,2]").is_err());
    }
}
