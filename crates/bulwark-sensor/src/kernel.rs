//! The kernel side: mounting tracefs/bpffs, loading and attaching the eBPF
//! programs, and the maps user space reads (ring buffer, loss counters,
//! watched cgroups).

pub mod fs;
pub mod hooks;
pub mod loader;
