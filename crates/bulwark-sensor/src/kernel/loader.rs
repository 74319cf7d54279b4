//! Loads the sensor's eBPF object, configures it and attaches its programs.

use std::collections::BTreeSet;

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{Program, ProgramError};
use aya::{Ebpf, EbpfLoader};

use crate::SensorError;
use crate::config::{Filter, OpenMode, SensorConfig};
use crate::kernel::hooks::{Attach, HOOKS, Hook};

/// The compiled programs (see `bpf/` and build.rs).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor.bpf.o"));

/// How one hook fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookState {
    pub hook: Hook,
    /// `None` when attached; otherwise why not.
    pub error: Option<String>,
}

/// The loaded sensor: programs attached while this lives.
pub struct Kernel {
    /// Owns the programs: dropping it detaches them. The maps below were
    /// taken out of it and stay usable on their own.
    pub ebpf: Ebpf,
    pub hooks: Vec<HookState>,
    /// The bulk lane (opens, connects, accepts).
    pub ring: RingBuf<MapData>,
    /// The priority lane (every other type).
    pub ring_priority: RingBuf<MapData>,
    pub counters: PerCpuArray<MapData, u64>,
    pub watched: Watched,
}

/// The watched cgroups, and their count, which the programs check before
/// walking a task's cgroup ancestry (nothing watched: no walk).
pub struct Watched {
    ids: BpfHashMap<MapData, u64, u8>,
    count: Array<MapData, u32>,
    /// What `ids` holds, so the count needs no walk over the map.
    mirror: BTreeSet<u64>,
}

impl Watched {
    pub fn add(&mut self, id: u64) -> Result<(), SensorError> {
        self.ids
            .insert(id, 1, 0)
            .map_err(|source| SensorError::Map {
                map: "watched_cgroups",
                source,
            })?;
        if self.mirror.insert(id) {
            self.sync_count()?;
        }
        Ok(())
    }

    pub fn remove(&mut self, id: u64) -> Result<(), SensorError> {
        match self.ids.remove(&id) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(source) => {
                return Err(SensorError::Map {
                    map: "watched_cgroups",
                    source,
                });
            }
        }
        if self.mirror.remove(&id) {
            self.sync_count()?;
        }
        Ok(())
    }

    fn sync_count(&mut self) -> Result<(), SensorError> {
        let n = u32::try_from(self.mirror.len()).unwrap_or(u32::MAX);
        self.count.set(0, n, 0).map_err(|source| SensorError::Map {
            map: "watched_count",
            source,
        })
    }
}

impl Kernel {
    /// Loads and attaches everything; fails if a required hook fails.
    pub fn load(cfg: &SensorConfig) -> Result<Kernel, SensorError> {
        if let Some(bytes) = cfg.bad_ring_size() {
            return Err(SensorError::RingSize { bytes });
        }
        let host_pidns = own_pid_ns()?;
        let filter: u32 = match cfg.filter {
            Filter::All => 0,
            Filter::Containers => 1,
            Filter::Watched => 2,
        };
        let open_mode: u32 = match cfg.open_mode {
            OpenMode::All => 0,
            OpenMode::Writes => 1,
        };
        let agent = std::process::id();
        // A quarter of the ring, at most 256 KiB: the reader is woken well
        // before the ring fills, and polls every few milliseconds anyway.
        let wakeup_bytes = u64::from(cfg.ring_bytes / 4).min(256 << 10);
        let mut ebpf = EbpfLoader::new()
            .override_global("cfg_filter", &filter, true)
            .override_global("cfg_host_pidns", &host_pidns, true)
            .override_global("cfg_agent_tgid", &agent, true)
            .override_global("cfg_open_mode", &open_mode, true)
            .override_global("cfg_wakeup_bytes", &wakeup_bytes, true)
            .map_max_entries("events", cfg.ring_bytes)
            .map_max_entries("events_priority", cfg.priority_ring_bytes)
            .load(OBJECT)?;
        let mut watched = Watched {
            ids: take(&mut ebpf, "watched_cgroups")?,
            count: take(&mut ebpf, "watched_count")?,
            mirror: BTreeSet::new(),
        };
        for id in &cfg.watched_cgroups {
            watched.add(*id)?;
        }
        let hooks = attach_all(&mut ebpf)?;
        let ring = take(&mut ebpf, "events")?;
        let ring_priority = take(&mut ebpf, "events_priority")?;
        let counters = take(&mut ebpf, "counters")?;
        Ok(Kernel {
            ebpf,
            hooks,
            ring,
            ring_priority,
            counters,
            watched,
        })
    }
}

fn take<T>(ebpf: &mut Ebpf, map: &'static str) -> Result<T, SensorError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let m = ebpf.take_map(map).ok_or(SensorError::MissingMap { map })?;
    T::try_from(m).map_err(|source| SensorError::Map { map, source })
}

fn attach_all(ebpf: &mut Ebpf) -> Result<Vec<HookState>, SensorError> {
    let mut states = Vec::with_capacity(HOOKS.len());
    for hook in HOOKS {
        let program = ebpf
            .program_mut(hook.program)
            .ok_or(SensorError::MissingProgram {
                program: hook.program,
            })?;
        let error = attach(program, hook).err().map(|e| describe(&e));
        match (&error, hook.required) {
            (Some(detail), true) => {
                return Err(SensorError::Hook {
                    program: hook.program,
                    detail: detail.clone(),
                });
            }
            (Some(detail), false) => {
                tracing::debug!(program = hook.program, %detail, "optional hook not attached");
            }
            (None, _) => {}
        }
        states.push(HookState { hook: *hook, error });
    }
    Ok(states)
}

fn attach(program: &mut Program, hook: &Hook) -> Result<(), ProgramError> {
    match (program, hook.attach) {
        (Program::TracePoint(p), Attach::Tracepoint(category, name)) => {
            p.load()?;
            p.attach(category, name).map(drop)
        }
        (Program::RawTracePoint(p), Attach::Raw(name)) => {
            p.load()?;
            p.attach(name).map(drop)
        }
        _ => Err(ProgramError::UnexpectedProgramType),
    }
}

/// The error, with the tail of the verifier log when the kernel refused it.
fn describe(err: &ProgramError) -> String {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{io_error}; verifier: {}", tail.join(" | "))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

/// The inode of this process's pid namespace: the host's, for an agent
/// running in the host pid namespace as it must.
fn own_pid_ns() -> Result<u32, SensorError> {
    let link = std::fs::read_link("/proc/self/ns/pid").map_err(|source| SensorError::Io {
        what: "reading",
        path: "/proc/self/ns/pid".into(),
        source,
    })?;
    let inode = bulwark_containers::namespace_inode(&link.to_string_lossy()).unwrap_or(0);
    Ok(u32::try_from(inode).unwrap_or(0))
}
