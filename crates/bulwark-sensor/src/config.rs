//! How the sensor is configured.

use std::time::Duration;

/// Which tasks the kernel reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Filter {
    /// Every task on the host but the agent itself.
    All,
    /// Tasks outside the host's pid namespace (every runc/containerd/CRI-O/
    /// podman/docker container) and tasks in watched cgroups.
    #[default]
    Containers,
    /// Only tasks in, or below, a watched cgroup.
    Watched,
}

/// Which file opens the kernel reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenMode {
    /// Every open, reads included.
    #[default]
    All,
    /// Only opens that may modify: write access, create or truncate.
    Writes,
}

/// Everything the sensor needs to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorConfig {
    pub filter: Filter,
    pub open_mode: OpenMode,
    /// Kernel ring buffer size: a power of two, a multiple of the page size.
    pub ring_bytes: u32,
    /// cgroup v2 ids watched from the start (see [`Filter::Watched`]).
    pub watched_cgroups: Vec<u64>,
    /// Capacity of the queue between the reader and the consumer, in records.
    pub queue_capacity: usize,
    /// How often loss counters are checked and reported.
    pub health_interval: Duration,
    /// Entries in the pid -> executable cache.
    pub process_cache: usize,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            filter: Filter::Containers,
            open_mode: OpenMode::All,
            ring_bytes: 8 << 20,
            watched_cgroups: Vec::new(),
            queue_capacity: 65_536,
            health_interval: Duration::from_secs(1),
            process_cache: 65_536,
        }
    }
}

impl SensorConfig {
    /// True if `ring_bytes` is a size the kernel accepts for a ring buffer.
    pub fn ring_size_ok(&self) -> bool {
        self.ring_bytes.is_power_of_two() && self.ring_bytes >= 4096
    }
}
