//! The policy's seccomp filter in two forms: a BPF program compiled with
//! seccompiler, installed by `bulwark run` on itself before it executes the
//! workload, and the OCI `linux.seccomp` section, merged into a bundle's
//! `config.json` so the runtime (runc) installs it in the container. Both
//! come from the same list ([`SeccompPolicy::denied`]): the listed syscalls
//! fail with `EPERM`, everything else runs.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use serde_json::{Value, json};

use super::HardeningError;
use super::syscalls;
use crate::policy::SeccompPolicy;

/// The errno a denied syscall returns.
pub const DENIED_ERRNO: u32 = libc::EPERM as u32;

/// The architecture this binary was built for, as seccompiler names it.
fn target() -> Result<TargetArch, HardeningError> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| HardeningError::Seccomp(e.to_string()))
}

/// The filter as BPF: denied syscalls return `EPERM`, the rest are allowed.
pub fn program(policy: &SeccompPolicy) -> Result<BpfProgram, HardeningError> {
    let mut rules = BTreeMap::new();
    for name in policy.denied() {
        let nr = syscalls::number(name).ok_or_else(|| HardeningError::UnknownSyscall {
            name: name.to_owned(),
        })?;
        // No conditions: the syscall is denied whatever its arguments.
        rules.insert(nr, Vec::new());
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(DENIED_ERRNO),
        target()?,
    )
    .map_err(|e| HardeningError::Seccomp(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| HardeningError::Seccomp(e.to_string()))
}

/// Install `program` on the calling thread (and so on everything it
/// executes). Sets `no_new_privs` first, as the kernel requires without
/// `CAP_SYS_ADMIN`.
pub fn install(program: &BpfProgram) -> Result<(), HardeningError> {
    seccompiler::apply_filter(program).map_err(|e| HardeningError::Seccomp(e.to_string()))
}

/// Merge the policy's denials into an OCI runtime `config.json` value.
///
/// Without a `linux.seccomp` section one is added (default allow, the
/// denied syscalls `SCMP_ACT_ERRNO` with `errnoRet` 1). An existing
/// allow-by-default profile gets one more errno rule; an existing
/// deny-by-default profile (Docker's default) loses the denied names from
/// its allow rules, so its own default refuses them. Either way the
/// runtime's own profile keeps working and ours is added on top.
pub fn merge_oci(config: &mut Value, policy: &SeccompPolicy) -> Result<(), HardeningError> {
    let denied: Vec<&str> = policy.denied();
    if !policy.enabled || denied.is_empty() {
        return Ok(());
    }
    let bad = |problem: &str| HardeningError::Config {
        problem: problem.to_owned(),
    };
    let linux = config
        .as_object_mut()
        .ok_or_else(|| bad("is not a JSON object"))?
        .entry("linux")
        .or_insert_with(|| json!({}));
    let linux = linux
        .as_object_mut()
        .ok_or_else(|| bad("linux is not an object"))?;
    let seccomp = linux.entry("seccomp").or_insert_with(|| {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": oci_architectures(),
            "syscalls": [],
        })
    });
    let default = seccomp
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("linux.seccomp.defaultAction is missing"))?
        .to_owned();
    let syscalls = seccomp
        .as_object_mut()
        .ok_or_else(|| bad("linux.seccomp is not an object"))?
        .entry("syscalls")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| bad("linux.seccomp.syscalls is not a list"))?;
    if matches!(default.as_str(), "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG") {
        syscalls.push(json!({
            "names": denied,
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": DENIED_ERRNO,
        }));
    } else {
        for rule in syscalls.iter_mut() {
            let allows = rule.get("action").and_then(Value::as_str) == Some("SCMP_ACT_ALLOW");
            if let (true, Some(list)) =
                (allows, rule.get_mut("names").and_then(Value::as_array_mut))
            {
                list.retain(|n| n.as_str().is_none_or(|n| !denied.contains(&n)));
            }
        }
        syscalls.retain(|rule| {
            rule.get("names")
                .and_then(Value::as_array)
                .is_none_or(|n| !n.is_empty())
        });
    }
    Ok(())
}

fn oci_architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64"],
        "riscv64" => vec!["SCMP_ARCH_RISCV64"],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(deny: &[&str]) -> SeccompPolicy {
        SeccompPolicy {
            enabled: true,
            baseline: false,
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn program_compiles_for_the_baseline() {
        let p = program(&SeccompPolicy::default()).unwrap();
        assert!(p.len() > SeccompPolicy::default().denied().len());
    }

    #[test]
    fn unknown_syscall_is_an_error_not_an_allow() {
        let err = program(&policy(&["no_such_call"])).unwrap_err();
        assert!(err.to_string().contains("no_such_call"), "{err}");
    }

    #[test]
    fn config_without_seccomp_gets_an_allow_by_default_section() {
        let mut c = json!({"ociVersion": "1.0.2", "linux": {"namespaces": []}});
        merge_oci(&mut c, &policy(&["ptrace", "chroot"])).unwrap();
        let s = &c["linux"]["seccomp"];
        assert_eq!(s["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(s["syscalls"][0]["names"], json!(["ptrace", "chroot"]));
        assert_eq!(s["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(s["syscalls"][0]["errnoRet"], 1);
        assert_eq!(c["linux"]["namespaces"], json!([]), "the rest is kept");
    }

    #[test]
    fn deny_by_default_profile_loses_the_denied_names_from_its_allow_rules() {
        let mut c = json!({"linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "ptrace"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW"},
        ]}}});
        merge_oci(&mut c, &policy(&["ptrace", "chroot"])).unwrap();
        assert_eq!(
            c["linux"]["seccomp"]["syscalls"],
            json!([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}])
        );
    }

    #[test]
    fn disabled_policy_leaves_the_config_alone() {
        let mut c = json!({"linux": {}});
        let mut p = policy(&["ptrace"]);
        p.enabled = false;
        merge_oci(&mut c, &p).unwrap();
        assert_eq!(c, json!({"linux": {}}));
    }

    #[test]
    fn config_that_is_not_an_object_is_refused() {
        assert!(merge_oci(&mut json!([1]), &policy(&["ptrace"])).is_err());
        assert!(merge_oci(&mut json!({"linux": 3}), &policy(&["ptrace"])).is_err());
    }
}
