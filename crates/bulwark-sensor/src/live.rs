//! The live sensor: one reader thread polls the two ring buffers (the
//! priority and the bulk lane), decodes, converts, enriches and feeds the
//! consumer; it also reads the kernel's loss counters and reports losses as
//! health alerts.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use bulwark_containers::{FsHost, StateWatcher};
use bulwark_core::{Severity, SystemClock};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::SensorError;
use crate::config::SensorConfig;
use crate::convert::{self, BootClock, Converted};
use crate::enrich::{Attribution, Enricher};
use crate::hold::Holder;
use crate::kernel::fs::{self, Mounted};
use crate::kernel::loader::{HookState, Kernel, Watched};
use crate::stats::{Hop, LossSnapshot, Stats};
use crate::stream::{self, Backpressure, EventStream, Feed};
use crate::wire::{self, ev};

/// The reader is woken by the kernel only when records pile up (see
/// `cfg_wakeup_bytes`); otherwise it looks every `POLL`, which bounds the
/// latency of a quiet container's events.
const POLL: Duration = Duration::from_millis(10);
/// Records handled per round, so that loss reports and held events are
/// looked at even while the ring never empties.
const DRAIN_BATCH: usize = 4096;
/// How long the first events of a new cgroup wait for its container to be
/// known, and how many may wait at once.
const HOLD_AGE: Duration = Duration::from_millis(300);
const HOLD_MAX: usize = 4096;
/// After detaching, drain until the counters stop moving, at most this often.
const SETTLE_ROUNDS: usize = 50;
/// How long (in 10 ms tries) the final loss report waits for queue room.
const FINAL_HEALTH_TRIES: usize = 500;

/// A running sensor. Dropping it (or [`Sensor::stop`]) detaches the
/// programs, drains what the kernel already sent, and ends the stream.
pub struct Sensor {
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<Result<(), SensorError>>>,
    stats: Arc<Stats>,
    watched: Arc<Mutex<Watched>>,
    hooks: Vec<HookState>,
    mounted: Mounted,
}

impl Sensor {
    /// Mounts tracefs/bpffs if needed, loads and attaches the programs, and
    /// starts the reader. Needs root.
    pub fn start(cfg: SensorConfig) -> Result<(Sensor, EventStream), SensorError> {
        let uid = nix::unistd::geteuid().as_raw();
        if uid != 0 {
            return Err(SensorError::NotRoot { uid });
        }
        let mounted = fs::ensure_mounted()?;
        let Kernel {
            ebpf,
            hooks,
            ring,
            ring_priority,
            counters,
            watched,
        } = Kernel::load(&cfg)?;
        let stats = Arc::new(Stats::default());
        let (feed, stream) = Feed::new(cfg.queue_capacity, Arc::clone(&stats), Backpressure::Drop);
        let host_pid_ns = own_pid_ns();
        // Started before the first scan, so no container falls between them.
        let watcher = StateWatcher::start(FsHost::real())
            .map_err(|err| tracing::warn!(%err, "attributing without the state watcher"))
            .ok();
        let enricher = Enricher::new(
            FsHost::real(),
            SystemClock,
            watcher,
            host_pid_ns,
            cfg.process_cache,
            Arc::clone(&stats),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            ebpf: Some(ebpf),
            ring,
            ring_priority,
            counters,
            feed,
            enricher,
            clock: boot_clock(),
            seq: 0,
            holder: Holder::new(HOLD_MAX, HOLD_AGE),
            health_interval: cfg.health_interval,
            last_report: LossSnapshot::default(),
            degraded: degraded_alert(&hooks),
        };
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("bulwark-sensor".into())
            .spawn(move || reader.run(&thread_stop))
            .map_err(|source| SensorError::Thread {
                thread: "sensor reader",
                source,
            })?;
        let sensor = Sensor {
            stop,
            reader: Some(handle),
            stats,
            watched: Arc::new(Mutex::new(watched)),
            hooks,
            mounted,
        };
        Ok((sensor, stream))
    }

    /// Also report tasks in (or below) this cgroup v2 id. Takes effect for
    /// the next event: watch a container's cgroup between `runc create` and
    /// `runc start` to see its first instruction.
    pub fn watch_cgroup(&self, id: u64) -> Result<(), SensorError> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        watched.add(id)
    }

    pub fn unwatch_cgroup(&self, id: u64) -> Result<(), SensorError> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        watched.remove(id)
    }

    /// Every hook and whether it attached.
    pub fn hooks(&self) -> &[HookState] {
        &self.hooks
    }

    /// What the sensor had to mount at start.
    pub fn mounted(&self) -> &Mounted {
        &self.mounted
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Detaches, drains and waits for the reader; the stream then ends.
    pub fn stop(mut self) -> Result<(), SensorError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), SensorError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(SensorError::Thread {
                thread: "sensor reader",
                source: std::io::Error::other("the reader thread panicked"),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown() {
            tracing::warn!(%err, "sensor stopped with an error");
        }
    }
}

struct Reader {
    /// Holds the attached programs; dropped first on stop.
    ebpf: Option<aya::Ebpf>,
    ring: RingBuf<MapData>,
    ring_priority: RingBuf<MapData>,
    counters: PerCpuArray<MapData, u64>,
    feed: Feed,
    enricher: Enricher<FsHost, SystemClock>,
    clock: BootClock,
    seq: u64,
    holder: Holder,
    health_interval: Duration,
    last_report: LossSnapshot,
    degraded: Option<bulwark_core::Alert>,
}

impl Reader {
    fn run(mut self, stop: &AtomicBool) -> Result<(), SensorError> {
        if let Some(alert) = self.degraded.take() {
            // Sent before any event: the queue has room.
            if self.feed.health(Some(alert)).is_err() {
                return Ok(());
            }
        }
        let mut next_health = Instant::now() + self.health_interval;
        while !stop.load(Ordering::Relaxed) {
            self.wait_readable();
            if self.drain().is_err() || self.release(false).is_err() {
                return Ok(()); // the consumer went away
            }
            if Instant::now() >= next_health {
                next_health = Instant::now() + self.health_interval;
                self.clock = boot_clock();
                if self.report().is_err() {
                    return Ok(());
                }
            }
        }
        self.finish();
        Ok(())
    }

    fn wait_readable(&self) {
        let mut fds = [
            PollFd::new(self.ring.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.ring_priority.as_fd(), PollFlags::POLLIN),
        ];
        let timeout = PollTimeout::try_from(POLL).unwrap_or(PollTimeout::ZERO);
        // An error (EINTR) just means another round of the loop.
        let _ = poll(&mut fds, timeout);
    }

    /// Reads up to [`DRAIN_BATCH`] records of each lane; each is decoded
    /// straight from its ring and the slot released before the event is
    /// processed. The priority lane is taken first (a flood on the bulk lane
    /// cannot keep it waiting), then both are handled merged by kernel
    /// timestamp, so an exec still comes after the opens its process made
    /// before it. Returns the larger of the two counts.
    fn drain(&mut self) -> Result<usize, stream::Disconnected> {
        let mut priority = VecDeque::new();
        while priority.len() < DRAIN_BATCH {
            let Some(item) = self.ring_priority.next() else {
                break;
            };
            let decoded = decode(&item);
            drop(item);
            match decoded {
                Ok(record) => priority.push_back(record),
                Err(kind) => self.feed.stats().dropped(Hop::Decode, kind),
            }
        }
        let taken = priority.len();
        let mut bulk = 0;
        while bulk < DRAIN_BATCH {
            let Some(item) = self.ring.next() else {
                break;
            };
            bulk += 1;
            let decoded = decode(&item);
            drop(item);
            let record = match decoded {
                Ok(record) => record,
                Err(kind) => {
                    self.feed.stats().dropped(Hop::Decode, kind);
                    continue;
                }
            };
            while let Some(first) = priority.pop_front() {
                if first.header.ts_boot_ns > record.header.ts_boot_ns {
                    priority.push_front(first);
                    break;
                }
                self.handle(first)?;
            }
            self.handle(record)?;
        }
        for record in priority {
            self.handle(record)?;
        }
        Ok(taken.max(bulk))
    }

    /// Reads until the ring is empty.
    fn drain_all(&mut self) -> Result<(), stream::Disconnected> {
        while self.drain()? == DRAIN_BATCH {}
        Ok(())
    }

    fn handle(&mut self, record: wire::Record) -> Result<(), stream::Disconnected> {
        let kind = record.header.kind;
        let mut event = match convert::convert(record, 0, self.clock) {
            Converted::CgroupCreated { id, path } => {
                self.enricher.cgroup_created(id, &path);
                self.feed.stats().internal(kind);
                return Ok(());
            }
            Converted::Event(event) => event,
        };
        self.enricher.fill_exe(&mut event);
        let hold = self.holder.is_holding(event.cgroup_id)
            || self.enricher.attribute(&mut event) == Attribution::Unknown { fresh: true };
        if hold {
            match self.holder.hold(event, kind, Instant::now()) {
                Ok(()) => return Ok(()),
                Err((back, _)) => event = back,
            }
        }
        self.deliver(event, kind)
    }

    /// Numbers the event and hands it to the consumer.
    fn deliver(
        &mut self,
        mut event: Box<bulwark_core::Event>,
        kind: u16,
    ) -> Result<(), stream::Disconnected> {
        self.enricher.count_miss(&event);
        event.seq = self.seq;
        self.seq += 1;
        self.feed.event(event, kind)
    }

    /// Delivers held events whose container is now known, or that waited
    /// long enough (all of them with `all`).
    fn release(&mut self, all: bool) -> Result<(), stream::Disconnected> {
        if self.holder.is_empty() {
            return Ok(());
        }
        let enricher = &mut self.enricher;
        let ready = self
            .holder
            .release(Instant::now(), all, |cg| enricher.lookup(cg));
        for (event, kind) in ready {
            self.deliver(event, kind)?;
        }
        Ok(())
    }

    fn read_counters(&mut self) {
        let stats = Arc::clone(self.feed.stats());
        for kind in 0..usize::from(ev::MAX) {
            let read = |k: usize| -> u64 {
                let idx = u32::try_from(kind * 3 + k).unwrap_or(u32::MAX);
                self.counters
                    .get(&idx, 0)
                    .map(|per_cpu| per_cpu.iter().sum())
                    .unwrap_or(0)
            };
            stats.set_kernel(kind, read(0), read(1), read(2));
        }
    }

    /// Reports losses since the last *delivered* report, so that the counts
    /// of all delivered loss alerts add up to every loss.
    fn report(&mut self) -> Result<(), stream::Disconnected> {
        self.read_counters();
        let now = self.feed.stats().snapshot();
        let alert = stream::loss_alert(&now, &self.last_report, time::OffsetDateTime::now_utc());
        if alert.is_none() && !self.feed.health_pending() {
            return Ok(());
        }
        if self.feed.health(alert)? {
            self.last_report = now;
        }
        Ok(())
    }

    /// Detach, then drain until nothing moves, so the final counters and
    /// deliveries agree exactly.
    fn finish(&mut self) {
        drop(self.ebpf.take());
        let mut previous = None;
        for _ in 0..SETTLE_ROUNDS {
            if self.drain_all().is_err() || self.release(false).is_err() {
                return;
            }
            self.read_counters();
            let emitted = self.feed.stats().snapshot().emitted_total();
            if previous == Some(emitted) {
                break;
            }
            previous = Some(emitted);
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.release(true).is_err() || self.report().is_err() {
            return;
        }
        // The last loss report must reach the consumer: give it time to
        // make room rather than lose it.
        for _ in 0..FINAL_HEALTH_TRIES {
            if !self.feed.health_pending() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
            if self.report().is_err() {
                return;
            }
        }
        tracing::warn!("the consumer did not read the final loss report");
    }
}

/// A ring buffer record, or its type (for the decode loss counter).
fn decode(item: &[u8]) -> Result<wire::Record, u16> {
    wire::decode(item).map_err(|err| {
        let kind = item
            .get(..2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        tracing::debug!(%err, "undecodable record");
        kind
    })
}

/// Offset from `CLOCK_BOOTTIME` to `CLOCK_REALTIME`, now.
fn boot_clock() -> BootClock {
    use nix::time::{ClockId, clock_gettime};
    let ns = |id| {
        clock_gettime(id)
            .map(|t| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec()))
            .unwrap_or(0)
    };
    BootClock {
        offset_ns: ns(ClockId::CLOCK_REALTIME) - ns(ClockId::CLOCK_BOOTTIME),
    }
}

fn own_pid_ns() -> u64 {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| bulwark_containers::namespace_inode(&l.to_string_lossy()))
        .unwrap_or(0)
}

/// One health alert listing optional hooks that did not attach.
fn degraded_alert(hooks: &[HookState]) -> Option<bulwark_core::Alert> {
    let missing: Vec<String> = hooks
        .iter()
        .filter_map(|h| {
            h.error
                .as_ref()
                .map(|e| format!("{} ({e})", h.hook.program))
        })
        .collect();
    if missing.is_empty() {
        return None;
    }
    let count = missing.len() as u64;
    Some(stream::health_alert(
        "sensor-hooks-missing",
        time::OffsetDateTime::now_utc(),
        Severity::Medium,
        count,
        format!(
            "sensor runs without {count} optional hooks: {}",
            missing.join("; ")
        ),
        missing.join("; "),
    ))
}
