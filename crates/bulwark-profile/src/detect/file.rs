//! Rules on file opens: credential reads, writes below system directories,
//! container-escape writes. Attempts count: a failed open fires too.

use bulwark_core::{Event, EventKind};

use super::catalog::{CONTAINER_ESCAPE, CREDENTIAL_READ, WRITE_BELOW_SYSTEM};
use super::{Context, Finding};
use crate::pattern::normalize_path;

const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/sbin", "/usr", "/etc", "/lib", "/lib64", "/lib32", "/boot",
];

const SHADOW: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
];

const TOKEN_DIRS: &[&str] = &[
    "/var/run/secrets/kubernetes.io/serviceaccount/",
    "/run/secrets/kubernetes.io/serviceaccount/",
    "/var/run/secrets/eks.amazonaws.com/serviceaccount/",
    "/run/secrets/eks.amazonaws.com/serviceaccount/",
    "/var/run/secrets/tokens/",
    "/run/secrets/tokens/",
];

const CLOUD_CREDENTIALS: &[&str] = &[
    "/.aws/credentials",
    "/.config/gcloud/credentials.db",
    "/.config/gcloud/application_default_credentials.json",
    "/.azure/accessTokens.json",
    "/.kube/config",
    "/.docker/config.json",
];

pub fn detect(event: &Event, ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let EventKind::Open { path, access, .. } = &event.kind else {
        return;
    };
    let path = normalize_path(path);
    let who = ctx.who(event);
    let writes = access.write || access.create || access.truncate;
    if let Some(mitre) = credential(&path) {
        out.push(
            Finding::new(
                &CREDENTIAL_READ,
                path.clone(),
                format!("{who} opened credentials {path}"),
            )
            .with_mitre(mitre),
        );
    }
    if writes && under_any(&path, SYSTEM_DIRS) {
        out.push(Finding::new(
            &WRITE_BELOW_SYSTEM,
            path.clone(),
            format!("{who} opened {path} for writing below a system directory"),
        ));
    }
    if writes && escape_target(&path) {
        out.push(Finding::new(
            &CONTAINER_ESCAPE,
            path.clone(),
            format!("{who} writes {path}, a host-side execution hook"),
        ));
    }
}

fn under_any(path: &str, dirs: &[&str]) -> bool {
    dirs.iter().any(|d| {
        path.strip_prefix(d)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The MITRE ids for a credential file, or `None` if `path` is not one.
fn credential(path: &str) -> Option<&'static [&'static str]> {
    if SHADOW.contains(&path) {
        return Some(&["T1003.008"]);
    }
    let name = super::names::basename(path);
    if TOKEN_DIRS.iter().any(|d| path.starts_with(d)) && name == "token" {
        return Some(&["T1528", "T1552.001"]);
    }
    let ssh_user_key =
        path.contains("/.ssh/") && name.starts_with("id_") && !name.ends_with(".pub");
    let ssh_host_key = path.starts_with("/etc/ssh/ssh_host_") && name.ends_with("_key");
    if ssh_user_key || ssh_host_key {
        return Some(&["T1552.004"]);
    }
    if CLOUD_CREDENTIALS.iter().any(|c| path.ends_with(c)) {
        return Some(&["T1552.001"]);
    }
    None
}

fn escape_target(path: &str) -> bool {
    let name = super::names::basename(path);
    name == "release_agent"
        || path == "/proc/sys/kernel/core_pattern"
        || path == "/proc/sys/kernel/modprobe"
        || path == "/proc/sysrq-trigger"
}
