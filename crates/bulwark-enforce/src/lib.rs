//! Protect mode: what a workload's profile does not allow is refused
//! synchronously by the kernel, before it runs, and every refusal becomes an
//! alert and an audit record.
//!
//! - Exec and files: fanotify permission events (`FAN_OPEN_EXEC_PERM`,
//!   `FAN_OPEN_PERM`, `FAN_ACCESS_PERM`) on the container's own mounts and
//!   protected inodes, decided against a registration-time index of the image
//!   (device/inode, SHA-256 for anything changed since).
//! - Network: cgroup `sock_addr` eBPF programs on the container's cgroup v2,
//!   with allow maps compiled from the policy.
//! - Hardening: seccomp, Landlock and `vm.memfd_noexec`, exported from the
//!   policy.
//!
//! This crate does not learn behaviour (that is `bulwark-profile`), does not
//! observe (that is `bulwark-sensor`) and does not decide image trust (that is
//! `bulwark-trust`; it plugs into the OCI hook as a stage).

pub mod arm;
pub mod backend;
pub mod canary;
pub mod container;
pub mod control;
pub mod decide;
pub mod denial;
pub mod enforcer;
pub mod fanotify;
pub mod fileless;
pub mod from_profile;
pub mod guard;
pub mod hardening;
pub mod holder;
pub mod hook;
pub mod identity;
pub mod index;
pub mod intent;
pub mod interp;
pub mod latency;
pub mod mounts;
pub mod net;
pub mod policy;
pub mod procinfo;
pub mod ring;
pub mod rootfs;
pub mod sink;
pub mod store;
