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
    /// Kernel ring buffer size of the bulk lane (opens, connects,
    /// accepts): a power of two, a multiple of the page size.
    pub ring_bytes: u32,
    /// Kernel ring buffer size of the priority lane (every other type; see
    /// [`crate::wire::ev::priority_lane`]): a power of two, a multiple of
    /// the page size.
    pub priority_ring_bytes: u32,
    /// cgroup v2 ids watched from the start (see [`Filter::Watched`]).
    pub watched_cgroups: Vec<u64>,
    /// Capacity of the queue between the reader and the consumer, in
    /// records. Bulk records may fill three quarters of it; the last
    /// quarter is kept for the priority lane.
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
            priority_ring_bytes: 1 << 20,
            watched_cgroups: Vec::new(),
            queue_capacity: 65_536,
            health_interval: Duration::from_secs(1),
            process_cache: 65_536,
        }
    }
}

impl SensorConfig {
    /// The first ring buffer size the kernel would refuse, if any.
    pub fn bad_ring_size(&self) -> Option<u32> {
        [self.ring_bytes, self.priority_ring_bytes]
            .into_iter()
            .find(|b| !b.is_power_of_two() || *b < 4096)
    }
}
