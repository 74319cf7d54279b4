//! The built-in detection rules: id, name, severity and MITRE ATT&CK ids.
//! These fire in every mode, Discover included, and what they match is never
//! learned into a profile.

use bulwark_core::{RuleRef, Severity};

/// One built-in rule.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleDef {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// Techniques the rule detects; a finding may name a narrower subset.
    pub mitre: &'static [&'static str],
    pub summary: &'static str,
}

impl RuleDef {
    pub fn to_ref(&self, mitre: &[&'static str]) -> RuleRef {
        let ids = if mitre.is_empty() { self.mitre } else { mitre };
        RuleRef {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            mitre: ids.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

pub const REVERSE_SHELL: RuleDef = RuleDef {
    id: "reverse-shell",
    name: "Reverse shell",
    severity: Severity::Critical,
    mitre: &["T1059.004", "T1095"],
    summary: "a shell with a network socket on stdin/stdout, netcat executing a program, or a shell connecting out",
};

pub const EXEC_FROM_TMP: RuleDef = RuleDef {
    id: "exec-from-tmp",
    name: "Execution from a temporary directory",
    severity: Severity::High,
    mitre: &["T1059.004", "T1105"],
    summary: "a program or script run from /tmp, /var/tmp or /dev/shm",
};

pub const FILELESS_EXEC: RuleDef = RuleDef {
    id: "fileless-exec",
    name: "Fileless execution via memfd_create",
    severity: Severity::Critical,
    mitre: &["T1620"],
    summary: "a program run from an anonymous memory file",
};

pub const DRIFT: RuleDef = RuleDef {
    id: "container-drift",
    name: "Binary not present in the image",
    severity: Severity::High,
    mitre: &["T1105", "T1036"],
    summary: "an executable that was added to or changed in the container after it started",
};

pub const WRITE_BELOW_SYSTEM: RuleDef = RuleDef {
    id: "write-below-system-dir",
    name: "Write below a system directory",
    severity: Severity::High,
    mitre: &["T1543", "T1574"],
    summary: "a file opened for writing below /bin, /sbin, /usr, /lib or /etc",
};

pub const CREDENTIAL_READ: RuleDef = RuleDef {
    id: "credential-read",
    name: "Read of credentials",
    severity: Severity::High,
    mitre: &["T1003.008", "T1552.001", "T1552.004", "T1528"],
    summary: "/etc/shadow, a service-account token, an SSH private key or cloud credentials opened",
};

pub const PACKAGE_MANAGER: RuleDef = RuleDef {
    id: "package-manager",
    name: "Package manager run in a running container",
    severity: Severity::Medium,
    mitre: &["T1072", "T1105"],
    summary: "apt, dpkg, apk, yum, dnf, rpm, pip, npm, ... started in a container",
};

pub const PTRACE: RuleDef = RuleDef {
    id: "ptrace-other-process",
    name: "ptrace of another process",
    severity: Severity::High,
    mitre: &["T1055.008"],
    summary: "PTRACE_ATTACH, SEIZE, POKE* or SETREGS on another process",
};

pub const CRYPTO_MINER: RuleDef = RuleDef {
    id: "crypto-miner",
    name: "Crypto-miner pool connection",
    severity: Severity::Critical,
    mitre: &["T1496"],
    summary: "a stratum URL on a command line, a known miner binary, or a connection to a mining-pool port",
};

pub const CLOUD_METADATA: RuleDef = RuleDef {
    id: "cloud-metadata",
    name: "Cloud metadata endpoint access",
    severity: Severity::High,
    mitre: &["T1552.005"],
    summary: "a connection to 169.254.169.254, fd00:ec2::254, 169.254.170.2 or 100.100.100.200",
};

pub const KERNEL_MODULE: RuleDef = RuleDef {
    id: "kernel-module-load",
    name: "Kernel module load",
    severity: Severity::Critical,
    mitre: &["T1547.006"],
    summary: "init_module/finit_module, or insmod/modprobe started, from a container",
};

pub const CONTAINER_ESCAPE: RuleDef = RuleDef {
    id: "container-escape",
    name: "Container escape attempt",
    severity: Severity::Critical,
    mitre: &["T1611"],
    summary: "a write to a cgroup release_agent or core_pattern, a mount of a block device or cgroup v1 fs, or nsenter into pid 1",
};

/// Every built-in rule.
pub const CATALOG: &[&RuleDef] = &[
    &REVERSE_SHELL,
    &EXEC_FROM_TMP,
    &FILELESS_EXEC,
    &DRIFT,
    &WRITE_BELOW_SYSTEM,
    &CREDENTIAL_READ,
    &PACKAGE_MANAGER,
    &PTRACE,
    &CRYPTO_MINER,
    &CLOUD_METADATA,
    &KERNEL_MODULE,
    &CONTAINER_ESCAPE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_unique_id_and_mitre_techniques() {
        let mut ids: Vec<&str> = CATALOG.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for rule in CATALOG {
            assert!(!rule.mitre.is_empty(), "{} has no MITRE id", rule.id);
            assert!(rule.mitre.iter().all(|m| m.starts_with('T')), "{}", rule.id);
        }
    }
}
