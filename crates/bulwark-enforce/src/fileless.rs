//! Fileless execution (a program run from a `memfd_create` memory file) in
//! protected containers: every attempt becomes a denial, i.e. one alert and
//! one audit record.
//!
//! fanotify cannot mark the kernel's internal memfd mount, so the exec
//! guard never sees these files. What stops them is `vm.memfd_noexec = 2`
//! in the container's pid namespace ([`crate::hardening::memfd`]); what
//! reports them is the tracepoint programs of `bpf/fileless.bpf.c`, loaded
//! once per service, which watch the cgroup v2 of every container whose
//! policy denies memfd exec:
//!
//! - `memfd_create(MFD_EXEC)` refused by the kernel, and an exec of a memfd
//!   that failed (by fd: `execveat(fd, "", AT_EMPTY_PATH)`, `/proc/self/fd/N`,
//!   `/proc/thread-self/fd/N`, `/proc/OWN-PID/fd/N`, `/dev/fd/N`). Other
//!   spellings of the same exec (a symbolic link to the fd link, a relative
//!   path from a `/proc/self` working directory) are refused by the kernel
//!   just the same but raise no denial.
//! - A memfd that was executed, whatever the path (`sched_process_exec`
//!   sees the file itself). That happens only where `vm.memfd_noexec = 2`
//!   could not be set (a container sharing the host's pid namespace, a
//!   kernel before 6.3): the container is then watched with [`W_KILL`] and
//!   the process gets SIGKILL before the memfd's first instruction runs.
//!
//! The programs live as long as the service: while it is down the kernel
//! still refuses (the sysctl stays), but nothing is reported, and the kill
//! fallback is off.

pub mod event;

use std::sync::Arc;

use aya::maps::{Array, HashMap, Map, MapData, RingBuf};
use aya::programs::{Program, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};
use bulwark_core::Decision;

pub use event::{Kind, MemfdEvent, W_KILL, Watch};

use crate::denial::{DenialSink, health_alert};
use crate::net::Owners;
use crate::procinfo;
use crate::ring::Handler;

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fileless.bpf.o"));

const TRACEFS: &str = "/sys/kernel/tracing";
const TRACEFS_MAGIC: i64 = 0x7472_6163;

/// Each program of `bpf/fileless.bpf.c` and its syscall tracepoint (the
/// last one is the raw `sched_process_exec`).
const TRACEPOINTS: [(&str, &str); 6] = [
    ("bulwark_memfd_execve", "sys_enter_execve"),
    ("bulwark_memfd_execveat", "sys_enter_execveat"),
    ("bulwark_memfd_execve_exit", "sys_exit_execve"),
    ("bulwark_memfd_execveat_exit", "sys_exit_execveat"),
    ("bulwark_memfd_create", "sys_enter_memfd_create"),
    ("bulwark_memfd_create_exit", "sys_exit_memfd_create"),
];
const RAN: &str = "bulwark_memfd_ran";

#[derive(Debug, thiserror::Error)]
pub enum FilelessError {
    #[error("tracefs at {TRACEFS}: {0}")]
    Tracefs(String),
    #[error("loading bpf/fileless.bpf.c: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("bpf/fileless.bpf.c has no {0}")]
    Missing(&'static str),
}

/// Mount tracefs at `/sys/kernel/tracing` unless it is there (tracepoints
/// attach through it).
pub fn ensure_tracefs() -> Result<(), FilelessError> {
    let path = std::path::Path::new(TRACEFS);
    if nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == TRACEFS_MAGIC) {
        return Ok(());
    }
    let flags = nix::mount::MsFlags::MS_NOSUID
        | nix::mount::MsFlags::MS_NODEV
        | nix::mount::MsFlags::MS_NOEXEC;
    nix::mount::mount(Some("tracefs"), path, Some("tracefs"), flags, None::<&str>)
        .map_err(|e| FilelessError::Tracefs(format!("not mounted and mounting failed: {e}")))
}

/// The loaded programs; detached when dropped.
pub struct FilelessKernel {
    _ebpf: Ebpf,
    watch: HashMap<MapData, u64, Watch>,
}

impl std::fmt::Debug for FilelessKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilelessKernel").finish_non_exhaustive()
    }
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, FilelessError> {
    ebpf.take_map(name).ok_or(FilelessError::Missing(name))
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> FilelessError {
    move |source| FilelessError::Map { name, source }
}

fn program_err(name: &'static str) -> impl FnOnce(aya::programs::ProgramError) -> FilelessError {
    move |source| FilelessError::Program { name, source }
}

/// What [`FilelessKernel::load`] hands to the reader thread.
pub struct Outputs {
    pub ring: RingBuf<MapData>,
    pub lost: Array<MapData, u64>,
}

impl FilelessKernel {
    /// Load and attach every program (watching no container yet).
    pub fn load() -> Result<(FilelessKernel, Outputs), FilelessError> {
        ensure_tracefs()?;
        let mut ebpf = EbpfLoader::new().load(OBJECT)?;
        for (name, tracepoint) in TRACEPOINTS {
            let prog: &mut TracePoint = program(&mut ebpf, name)?;
            prog.load().map_err(program_err(name))?;
            prog.attach("syscalls", tracepoint)
                .map_err(program_err(name))?;
        }
        let ran: &mut RawTracePoint = program(&mut ebpf, RAN)?;
        ran.load().map_err(program_err(RAN))?;
        ran.attach("sched_process_exec").map_err(program_err(RAN))?;
        let watch = HashMap::try_from(take(&mut ebpf, "bulwark_memfd_watch")?)
            .map_err(map_err("bulwark_memfd_watch"))?;
        let ring = RingBuf::try_from(take(&mut ebpf, "bulwark_memfd_events")?)
            .map_err(map_err("bulwark_memfd_events"))?;
        let lost = Array::try_from(take(&mut ebpf, "bulwark_memfd_lost")?)
            .map_err(map_err("bulwark_memfd_lost"))?;
        Ok((
            FilelessKernel { _ebpf: ebpf, watch },
            Outputs { ring, lost },
        ))
    }

    /// Report (and with [`W_KILL`], stop) memfd exec in the cgroup v2
    /// `cgroup_id` and the cgroups below it.
    pub fn watch(&mut self, cgroup_id: u64, watch: Watch) -> Result<(), FilelessError> {
        self.watch
            .insert(cgroup_id, watch, 0)
            .map_err(map_err("bulwark_memfd_watch"))
    }

    pub fn unwatch(&mut self, cgroup_id: u64) {
        let _ = self.watch.remove(&cgroup_id);
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, FilelessError>
where
    &'a mut T: TryFrom<&'a mut Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or(FilelessError::Missing(name))?;
    prog.try_into().map_err(program_err(name))
}

/// The ring buffer's handler: each record becomes a denial of the
/// container that owns its policy id; records the kernel could not queue
/// are a health alert (the refusal itself still happened).
pub fn handler(
    outputs_lost: Array<MapData, u64>,
    owners: Arc<dyn Owners>,
    sink: Arc<dyn DenialSink>,
) -> Handler {
    let mut reported_lost = 0u64;
    Box::new(move |record| match record {
        Some(bytes) => {
            if let Some(event) = MemfdEvent::parse(bytes) {
                report(&event, owners.as_ref(), sink.as_ref());
            }
        }
        None => {
            let lost = outputs_lost.get(&0, 0).unwrap_or(0);
            if lost > reported_lost {
                let detail = format!(
                    "{} fileless-exec records did not fit the ring buffer (the kernel still refused them)",
                    lost - reported_lost
                );
                reported_lost = lost;
                sink.health(&health_alert(
                    None,
                    None,
                    bulwark_core::Mode::Protect,
                    Decision::Alert,
                    detail,
                    lost,
                ));
            }
        }
    })
}

fn report(event: &MemfdEvent, owners: &dyn Owners, sink: &dyn DenialSink) {
    let Some(owner) = owners.owner(event.policy) else {
        tracing::warn!(
            policy = event.policy,
            "fileless exec record for an unknown policy"
        );
        return;
    };
    let ancestry = procinfo::ancestry_or_reported(event.tid, event.tgid, &event.comm);
    let denial = event.denial(owner, ancestry);
    if let Kind::ExecRan { killed: false } = event.kind {
        sink.health(&health_alert(
            Some(&denial.container),
            Some(&denial.workload),
            denial.mode,
            Decision::Alert,
            format!("{}: {}", denial.action, denial.reason),
            0,
        ));
    }
    sink.record(&denial);
}

/// The cgroup v2 id of a directory (its inode number on cgroup2).
pub fn cgroup_id(dir: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).map(|m| m.ino())
}
