//! Hardening exported from the policy: a seccomp filter, Landlock rules and
//! the `vm.memfd_noexec` setting of a container's PID namespace.
//!
//! For a plain command started by `bulwark run`, [`harden_self`] applies
//! Landlock and seccomp to the calling process just before it executes the
//! workload. For a container, the seccomp filter goes into the bundle's
//! `config.json` ([`seccomp::merge_oci`]) and the runtime installs it;
//! `vm.memfd_noexec` is set by the service when the container registers.

pub mod landlock;
pub mod memfd;
pub mod seccomp;
pub mod syscalls;

use crate::policy::EnforcePolicy;

#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("seccomp: unknown syscall {name:?}")]
    UnknownSyscall { name: String },
    #[error("landlock: {0}")]
    Landlock(String),
    #[error("config.json: {problem}")]
    Config { problem: String },
}

/// Proof that the calling process is hardened as the policy says; only
/// [`harden_self`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hardened {
    /// Landlock's status, `None` when the policy asks for no Landlock rule.
    pub landlock: Option<landlock::Applied>,
    /// The syscalls that now fail with `EPERM`.
    pub seccomp_denied: Vec<String>,
    /// Rules that could not be applied this way (enforced elsewhere).
    pub notes: Vec<String>,
}

/// Apply the policy's Landlock rules, then its seccomp filter, to the
/// calling thread and everything it executes afterwards: call it from the
/// thread that will `execve` the workload (other threads stay as they are
/// and vanish at the `execve`). On error the caller must not run the
/// workload; what was applied before the error stays applied.
pub fn harden_self(policy: &EnforcePolicy) -> Result<Hardened, HardeningError> {
    let plan = landlock::plan(policy);
    let applied = if plan.is_empty() {
        None
    } else {
        Some(landlock::apply(&plan)?)
    };
    let seccomp = &policy.hardening.seccomp;
    let mut seccomp_denied = Vec::new();
    if seccomp.enabled {
        let program = seccomp::program(seccomp)?;
        seccomp::install(&program)?;
        seccomp_denied = seccomp.denied().into_iter().map(str::to_owned).collect();
    }
    Ok(Hardened {
        landlock: applied,
        seccomp_denied,
        notes: plan.not_expressible,
    })
}
