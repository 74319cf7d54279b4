//! Hardening exported from the policy: a seccomp filter, Landlock rules and
//! the `vm.memfd_noexec` setting of a container's PID namespace.

pub mod memfd;
pub mod syscalls;
