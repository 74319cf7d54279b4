//! Network enforcement: cgroup `sock_addr` eBPF programs on each protected
//! container's cgroup v2 refuse `connect`, unconnected `sendmsg` and `bind`
//! outside the policy's allow map with `EPERM`, and report each refusal
//! through a ring buffer.

pub mod compile;
pub mod events;
pub mod kernel;
pub mod resolve;
pub mod wire;

pub use compile::{PeerAddresses, RuleEntry, compile, flags};
pub use events::{Owner, Owners};
pub use kernel::{Attachment, NetError, NetKernel, ensure_bpffs};
pub use wire::{Counters, NetEvent};
