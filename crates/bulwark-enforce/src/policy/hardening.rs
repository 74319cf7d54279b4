//! Optional hardening applied when the workload starts: a seccomp filter,
//! Landlock rules (for `bulwark run` of a plain command) and the
//! `vm.memfd_noexec` setting of the container's PID namespace.

use serde::{Deserialize, Serialize};

use super::{PolicyError, Verdict, check_len};
use crate::hardening::syscalls;

/// Syscalls a container workload almost never needs and an attacker often
/// does: kernel modules, kexec, BPF, perf, ptrace and cross-process memory
/// writes, mounts and namespace changes, keyrings, `userfaultfd`, handle-based
/// opens (container escapes), raw I/O ports, clock and swap changes, reboot.
pub const BASELINE_DENY: &[&str] = &[
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "ptrace",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "fsopen",
    "fsmount",
    "open_tree",
    "setns",
    "unshare",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "acct",
];

/// A seccomp filter: the listed syscalls fail with `EPERM`, all others run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompPolicy {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Deny [`BASELINE_DENY`] in addition to `deny`.
    #[serde(default = "yes")]
    pub baseline: bool,
    #[serde(default)]
    pub deny: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for SeccompPolicy {
    fn default() -> Self {
        SeccompPolicy {
            enabled: true,
            baseline: true,
            deny: Vec::new(),
        }
    }
}

impl SeccompPolicy {
    /// Every denied syscall name, baseline first, without duplicates.
    pub fn denied(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let baseline = if self.baseline { BASELINE_DENY } else { &[] };
        for name in baseline
            .iter()
            .copied()
            .chain(self.deny.iter().map(String::as_str))
        {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardening {
    /// `deny` sets `vm.memfd_noexec = 2` in the container's PID namespace:
    /// memory files can never be executed (fileless execution), refused by
    /// the kernel.
    #[serde(default = "deny")]
    pub memfd_exec: Verdict,
    #[serde(default)]
    pub seccomp: SeccompPolicy,
    /// Apply Landlock rules derived from the exec and file policy when
    /// `bulwark run` starts a plain command.
    #[serde(default = "yes")]
    pub landlock: bool,
}

fn deny() -> Verdict {
    Verdict::Deny
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            memfd_exec: Verdict::Deny,
            seccomp: SeccompPolicy::default(),
            landlock: true,
        }
    }
}

impl Hardening {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        check_len("spec.hardening.seccomp.deny", self.seccomp.deny.len())?;
        for name in &self.seccomp.deny {
            if syscalls::number(name).is_none() {
                return Err(PolicyError::Invalid {
                    field: "spec.hardening.seccomp.deny".into(),
                    problem: format!("unknown syscall {:?}", name.escape_debug().to_string()),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_baseline_syscall_has_a_number() {
        for name in BASELINE_DENY {
            assert!(syscalls::number(name).is_some(), "{name}");
        }
    }

    #[test]
    fn denied_list_merges_without_duplicates() {
        let p = SeccompPolicy {
            deny: vec!["ptrace".into(), "chroot".into()],
            ..SeccompPolicy::default()
        };
        let denied = p.denied();
        assert_eq!(denied.iter().filter(|n| **n == "ptrace").count(), 1);
        assert!(denied.contains(&"chroot"));
    }

    #[test]
    fn unknown_syscall_is_refused() {
        let h = Hardening {
            seccomp: SeccompPolicy {
                deny: vec!["not_a_syscall".into()],
                ..SeccompPolicy::default()
            },
            ..Hardening::default()
        };
        assert!(h.validate().is_err());
    }
}
