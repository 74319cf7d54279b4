//! What consumers receive: a bounded stream of [`Record`]s, the same for the
//! live sensor and for replay, with its loss accounting attached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use bulwark_core::{Alert, AlertReason, Decision, Event, Mode, Severity};

use crate::stats::{Hop, LossSnapshot, Stats};
use crate::wire::ev;

/// One item of the stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Event(Box<Event>),
    /// The sensor itself is degraded: events were lost, or a hook is missing.
    Health(Box<Alert>),
}

/// The consuming end. Iterating blocks until a record arrives and ends when
/// the source has stopped and everything it sent has been read.
pub struct EventStream {
    rx: Receiver<Record>,
    stats: Arc<Stats>,
    /// Records sent and not yet received (shared with the [`Feed`]).
    queued: Arc<AtomicUsize>,
}

impl EventStream {
    /// The next record, or `Err(Timeout)` after `timeout`, or
    /// `Err(Disconnected)` once the source is done.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Record, RecvTimeoutError> {
        let record = self.rx.recv_timeout(timeout)?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Ok(record)
    }

    /// The loss accounting of the source feeding this stream. Sinks report
    /// their own failures with [`Stats::dropped`] and [`Hop::Sink`].
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

impl Iterator for EventStream {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let record = self.rx.recv().ok()?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Some(record)
    }
}

/// What to do when the consumer is slower than the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Drop the record and count it (live sensing: never stall the reader,
    /// or the kernel ring buffer overflows instead).
    Drop,
    /// Wait for room (replay: reading a file can always wait).
    Block,
}

/// The producing end: counts every record as delivered or dropped.
///
/// In drop mode the last quarter of the queue is reserved for the priority
/// lane ([`ev::priority_lane`]): a bulk record (open, connect, accept) is
/// dropped once three quarters are taken, so that a consumer falling behind
/// a flood of opens still gets every exec, ptrace or privilege change.
pub(crate) struct Feed {
    tx: SyncSender<Record>,
    stats: Arc<Stats>,
    queued: Arc<AtomicUsize>,
    /// Bulk records are refused from this many queued records on.
    bulk_limit: usize,
    backpressure: Backpressure,
    /// A health alert that did not fit in the queue, retried first.
    pending_health: Option<Record>,
}

/// Why a feed stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Disconnected;

impl Feed {
    pub fn new(
        capacity: usize,
        stats: Arc<Stats>,
        backpressure: Backpressure,
    ) -> (Feed, EventStream) {
        let capacity = capacity.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        let feed = Feed {
            tx,
            stats: Arc::clone(&stats),
            queued: Arc::clone(&queued),
            bulk_limit: capacity - capacity / 4,
            backpressure,
            pending_health: None,
        };
        let stream = EventStream { rx, stats, queued };
        (feed, stream)
    }

    /// Counted before the send, so that the consumer's decrement can never
    /// come first.
    fn try_send(&self, record: Record) -> Result<(), TrySendError<Record>> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(record).inspect_err(|_| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        })
    }

    fn send(&self, record: Record) -> Result<(), Disconnected> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(record).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            Disconnected
        })
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Sends an event; `kind` is its record type for the counters.
    pub fn event(&mut self, event: Box<Event>, kind: u16) -> Result<(), Disconnected> {
        let record = Record::Event(event);
        match self.backpressure {
            Backpressure::Block => {
                self.send(record)?;
                self.stats.delivered(kind);
            }
            Backpressure::Drop
                if !ev::priority_lane(kind)
                    && self.queued.load(Ordering::Relaxed) >= self.bulk_limit =>
            {
                self.stats.dropped(Hop::Queue, kind);
            }
            Backpressure::Drop => match self.try_send(record) {
                Ok(()) => self.stats.delivered(kind),
                Err(TrySendError::Full(_)) => self.stats.dropped(Hop::Queue, kind),
                Err(TrySendError::Disconnected(_)) => return Err(Disconnected),
            },
        }
        Ok(())
    }

    /// Sends a health alert, replacing one still waiting for room (loss
    /// reports are cumulative since the last delivered one, so the newer
    /// supersedes it). Returns whether nothing is left waiting. Never drops:
    /// in drop mode a full queue keeps the alert for the next call; in block
    /// mode it waits.
    pub fn health(&mut self, alert: Option<Alert>) -> Result<bool, Disconnected> {
        if let Some(alert) = alert {
            self.pending_health = Some(Record::Health(Box::new(alert)));
        }
        let Some(record) = self.pending_health.take() else {
            return Ok(true);
        };
        match self.try_send(record) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(record)) if self.backpressure == Backpressure::Block => {
                self.send(record)?;
                Ok(true)
            }
            Err(TrySendError::Full(record)) => {
                self.pending_health = Some(record);
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => Err(Disconnected),
        }
    }

    /// Whether a health alert is waiting for room.
    pub fn health_pending(&self) -> bool {
        self.pending_health.is_some()
    }
}

/// The health alert for losses between two snapshots, if there were any.
pub fn loss_alert(
    now: &LossSnapshot,
    before: &LossSnapshot,
    time: time::OffsetDateTime,
) -> Option<Alert> {
    let losses = now.losses_since(before);
    if losses.is_empty() {
        return None;
    }
    let total: u64 = losses.iter().map(|(_, _, n)| n).sum();
    let detail = losses
        .iter()
        .map(|(hop, kind, n)| format!("{}/{kind}={n}", hop.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    Some(health_alert(
        "sensor-events-lost",
        time,
        Severity::High,
        total,
        format!("sensor lost {total} events since the last report: {detail}"),
        detail,
    ))
}

/// A health alert about the sensor itself.
pub fn health_alert(
    id: &str,
    time: time::OffsetDateTime,
    severity: Severity,
    count: u64,
    message: String,
    detail: String,
) -> Alert {
    Alert {
        id: id.to_owned(),
        time,
        severity,
        workload: None,
        container_id: None,
        image_digest: None,
        profile_version: None,
        mode: Mode::Monitor,
        reason: AlertReason::Health { detail },
        decision: Decision::Alert,
        message,
        ancestry: Vec::new(),
        count,
        throttled: 0,
    }
}

/// The record type of an event, for the per-type counters.
pub fn kind_of(event: &Event) -> u16 {
    use bulwark_core::EventKind as K;
    match event.kind {
        K::Exec { .. } => ev::EXEC,
        K::Fork { .. } => ev::FORK,
        K::Exit { .. } => ev::EXIT,
        K::Connect { .. } => ev::CONNECT,
        K::Accept { .. } => ev::ACCEPT,
        K::Bind { .. } => ev::BIND,
        K::Listen { .. } => ev::LISTEN,
        K::Open { .. } => ev::OPEN,
        K::PrivilegeChange { .. } => ev::PRIV,
        K::Ptrace { .. } => ev::PTRACE,
        K::Mount { .. } => ev::MOUNT,
        K::ModuleLoad { .. } => ev::MODULE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{EventKind, Namespaces, Process};

    fn event(seq: u64) -> Box<Event> {
        Box::new(Event {
            seq,
            ts_boot_ns: 0,
            time: time::OffsetDateTime::UNIX_EPOCH,
            process: Process::default(),
            cgroup_id: 1,
            namespaces: Namespaces::default(),
            container: None,
            kind: EventKind::Fork {
                child_pid: 2,
                child_tgid: 2,
            },
        })
    }

    #[test]
    fn full_queue_drops_and_counts_in_drop_mode() {
        let stats = Arc::new(Stats::default());
        let (mut feed, stream) = Feed::new(2, Arc::clone(&stats), Backpressure::Drop);
        for i in 0..5 {
            feed.event(event(i), ev::FORK).unwrap();
        }
        let snap = stats.snapshot();
        assert_eq!(snap.delivered[usize::from(ev::FORK)], 2);
        assert_eq!(snap.queue[usize::from(ev::FORK)], 3);
        drop(feed);
        assert_eq!(stream.count(), 2);
    }

    // The kind passed to `Feed::event` decides the lane; the event itself
    // does not matter here.
    #[test]
    fn bulk_records_leave_the_last_quarter_of_the_queue_to_the_priority_lane() {
        let stats = Arc::new(Stats::default());
        let (mut feed, mut stream) = Feed::new(8, Arc::clone(&stats), Backpressure::Drop);
        for i in 0..20 {
            feed.event(event(i), ev::OPEN).unwrap();
        }
        for i in 0..3 {
            feed.event(event(100 + i), ev::EXEC).unwrap();
        }
        let snap = stats.snapshot();
        assert_eq!(snap.delivered[usize::from(ev::OPEN)], 6);
        assert_eq!(snap.queue[usize::from(ev::OPEN)], 14);
        assert_eq!(snap.delivered[usize::from(ev::EXEC)], 2, "the reserve is 2");
        assert_eq!(snap.queue[usize::from(ev::EXEC)], 1);
        // Room made by the consumer is room for bulk records again.
        for _ in 0..3 {
            assert!(stream.next().is_some());
        }
        feed.event(event(50), ev::OPEN).unwrap();
        assert_eq!(stats.snapshot().delivered[usize::from(ev::OPEN)], 7);
        drop(feed);
        assert_eq!(stream.count(), 6);
    }

    #[test]
    fn health_alert_survives_a_full_queue() {
        let stats = Arc::new(Stats::default());
        let (mut feed, mut stream) = Feed::new(1, Arc::clone(&stats), Backpressure::Drop);
        feed.event(event(0), ev::FORK).unwrap();
        let alert = health_alert(
            "x",
            time::OffsetDateTime::UNIX_EPOCH,
            Severity::High,
            1,
            "m".into(),
            "d".into(),
        );
        assert_eq!(feed.health(Some(alert)), Ok(false));
        assert!(feed.health_pending());
        assert!(matches!(stream.next(), Some(Record::Event(_))));
        assert_eq!(feed.health(None), Ok(true)); // retried now that there is room
        assert!(matches!(stream.next(), Some(Record::Health(_))));
    }

    #[test]
    fn loss_alert_names_hops_and_types() {
        let stats = Stats::default();
        let before = stats.snapshot();
        stats.dropped(Hop::KernelRingbuf, ev::OPEN);
        stats.dropped(Hop::KernelRingbuf, ev::OPEN);
        let alert =
            loss_alert(&stats.snapshot(), &before, time::OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(alert.count, 2);
        assert!(
            alert.message.contains("kernel_ringbuf/open=2"),
            "{}",
            alert.message
        );
        assert!(matches!(alert.reason, AlertReason::Health { .. }));
        assert!(
            loss_alert(
                &stats.snapshot(),
                &stats.snapshot(),
                time::OffsetDateTime::UNIX_EPOCH
            )
            .is_none()
        );
    }
}
