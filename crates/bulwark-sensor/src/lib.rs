//! Bulwark's runtime sensor: what every process in every container does,
//! seen in the kernel, attributed to its container, with every loss counted.
//!
//! ```text
//!  kernel   tracepoints (bpf/*.bpf.c, C, CO-RE) --filter: containers / watched cgroups
//!             |  two ring buffers: priority lane (exec, fork, exit, priv, ptrace, mount,
//!             |  module, bind, listen) and bulk lane (open, connect, accept)
//!             |                           loss: kernel_state, kernel_ringbuf (per type)
//!  reader   priority lane first, merged by timestamp; decode (wire) -> convert -> enrich:
//!             |  exe cache, attribution (bulwark-containers)
//!             |  bounded queue, last quarter kept for the priority lane
//!             |                           loss: decode, queue
//!  consumer EventStream of Record::{Event, Health}  (the agent's sinks, the profile stage)
//! ```
//!
//! - [`Sensor::start`] loads the programs (mounting tracefs/bpffs when
//!   missing) and returns an [`EventStream`]; [`Replay::start`] returns the
//!   same kind of stream from a recorded JSON-lines file.
//! - Events: exec (canonical exe, argv, cwd, stdio kinds, inode/dev;
//!   execveat and memfd recognised), fork, exit, connect/accept/bind/listen
//!   (addresses from the kernel socket), file opens (canonical path of what
//!   was opened; the requested name for failures), privilege changes,
//!   ptrace, mount, module load; each with cgroup id, pid/tgid/ppid,
//!   namespace ids and a boot-time timestamp.
//! - Loss accounting ([`Stats`], [`LossSnapshot`]): `emitted == delivered +
//!   internal + dropped` once drained; losses become health alerts in the
//!   stream and Prometheus counters ([`metrics`]).
//!
//! What it does not do: decide anything about events (the profile and
//! detection stage consumes the stream), block anything (bulwark-enforce),
//! or see io_uring submissions (they bypass syscall tracepoints; kprobes,
//! fentry and BPF-LSM, which could see them, are not available on the
//! project's machines).

mod config;
mod convert;
mod enrich;
mod error;
mod hold;
pub mod kernel;
mod live;
pub mod metrics;
mod replay;
mod sink;
mod stats;
mod stream;
pub mod wire;

pub use config::{Filter, OpenMode, SensorConfig};
pub use convert::{BootClock, Converted, convert, join, text, user_dev};
pub use enrich::{Attribution, Enricher, ProcCache};
pub use error::SensorError;
pub use hold::Holder;
pub use kernel::loader::HookState;
pub use live::Sensor;
pub use replay::{MAX_LINE, Replay, ReplayError, ReplaySummary};
pub use sink::{JsonLines, SinkError};
pub use stats::{Hop, LossSnapshot, Stats};
pub use stream::{EventStream, Record, health_alert, kind_of, loss_alert};
