//! Loss accounting at every hop, shared between the reader, the consumer
//! and the metrics endpoint.
//!
//! Every record the kernel programs try to send is counted as *emitted*.
//! From there it is lost at exactly one hop, or it arrives:
//!
//! | hop | where |
//! | --- | --- |
//! | `kernel_state` | a syscall's enter state could not be kept (map full, or it began before the sensor attached) |
//! | `kernel_ringbuf` | the ring buffer was full |
//! | `decode` | user space could not decode the record |
//! | `queue` | the consumer's queue was full |
//! | *delivered* | handed to the consumer (or, for cgroup creation, used internally) |
//!
//! so that, once the ring buffer is drained, `emitted == delivered +
//! internal + dropped` holds exactly ([`LossSnapshot::unaccounted`] is 0).
//! Sinks downstream of the consumer count their own failures (`sink`); a
//! replayed recording reports the sequence gaps it contains (`recorded`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::ev;

const TYPES: usize = ev::MAX as usize;

/// Where a record was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hop {
    KernelState,
    KernelRingbuf,
    Decode,
    Queue,
    Sink,
    /// Missing from a replayed recording (sequence number gaps).
    Recorded,
}

impl Hop {
    pub const ALL: [Hop; 6] = [
        Hop::KernelState,
        Hop::KernelRingbuf,
        Hop::Decode,
        Hop::Queue,
        Hop::Sink,
        Hop::Recorded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hop::KernelState => "kernel_state",
            Hop::KernelRingbuf => "kernel_ringbuf",
            Hop::Decode => "decode",
            Hop::Queue => "queue",
            Hop::Sink => "sink",
            Hop::Recorded => "recorded",
        }
    }
}

#[derive(Debug)]
struct PerType([AtomicU64; TYPES]);

impl Default for PerType {
    fn default() -> Self {
        PerType(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl PerType {
    fn add(&self, kind: u16, n: u64) {
        let slot = self.0.get(usize::from(kind)).unwrap_or(&self.0[0]);
        slot.fetch_add(n, Ordering::Relaxed);
    }
    fn set(&self, kind: usize, n: u64) {
        if let Some(slot) = self.0.get(kind) {
            slot.store(n, Ordering::Relaxed);
        }
    }
    fn load(&self) -> [u64; TYPES] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// Live counters (atomics); read them with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    emitted: PerType,
    kernel_state: PerType,
    kernel_ringbuf: PerType,
    decode: PerType,
    queue: PerType,
    sink: PerType,
    recorded: PerType,
    delivered: PerType,
    internal: PerType,
    attribution_misses: AtomicU64,
}

impl Stats {
    /// Kernel counters are cumulative totals read from the BPF map.
    pub fn set_kernel(&self, kind: usize, emitted: u64, ringbuf_full: u64, state_full: u64) {
        self.emitted.set(kind, emitted);
        self.kernel_ringbuf.set(kind, ringbuf_full);
        self.kernel_state.set(kind, state_full);
    }

    /// For sources without kernel counters (replay): one record read.
    pub fn emitted(&self, kind: u16) {
        self.emitted.add(kind, 1);
    }

    pub fn dropped(&self, hop: Hop, kind: u16) {
        self.dropped_n(hop, kind, 1);
    }

    pub fn dropped_n(&self, hop: Hop, kind: u16, n: u64) {
        let counter = match hop {
            Hop::KernelState => &self.kernel_state,
            Hop::KernelRingbuf => &self.kernel_ringbuf,
            Hop::Decode => &self.decode,
            Hop::Queue => &self.queue,
            Hop::Sink => &self.sink,
            Hop::Recorded => &self.recorded,
        };
        counter.add(kind, n);
    }

    pub fn delivered(&self, kind: u16) {
        self.delivered.add(kind, 1);
    }

    /// A record consumed by the sensor itself (cgroup creation).
    pub fn internal(&self, kind: u16) {
        self.internal.add(kind, 1);
    }

    /// A container-looking event (outside the host pid namespace) that no
    /// container was found for.
    pub fn attribution_miss(&self) {
        self.attribution_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LossSnapshot {
        LossSnapshot {
            emitted: self.emitted.load(),
            kernel_state: self.kernel_state.load(),
            kernel_ringbuf: self.kernel_ringbuf.load(),
            decode: self.decode.load(),
            queue: self.queue.load(),
            sink: self.sink.load(),
            recorded: self.recorded.load(),
            delivered: self.delivered.load(),
            internal: self.internal.load(),
            attribution_misses: self.attribution_misses.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of [`Stats`], indexed by record type (`wire::ev`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossSnapshot {
    pub emitted: [u64; TYPES],
    pub kernel_state: [u64; TYPES],
    pub kernel_ringbuf: [u64; TYPES],
    pub decode: [u64; TYPES],
    pub queue: [u64; TYPES],
    pub sink: [u64; TYPES],
    pub recorded: [u64; TYPES],
    pub delivered: [u64; TYPES],
    pub internal: [u64; TYPES],
    pub attribution_misses: u64,
}

fn sum(a: &[u64; TYPES]) -> u64 {
    a.iter().sum()
}

impl LossSnapshot {
    pub fn per_hop(&self, hop: Hop) -> &[u64; TYPES] {
        match hop {
            Hop::KernelState => &self.kernel_state,
            Hop::KernelRingbuf => &self.kernel_ringbuf,
            Hop::Decode => &self.decode,
            Hop::Queue => &self.queue,
            Hop::Sink => &self.sink,
            Hop::Recorded => &self.recorded,
        }
    }

    pub fn emitted_total(&self) -> u64 {
        sum(&self.emitted)
    }

    pub fn delivered_total(&self) -> u64 {
        sum(&self.delivered)
    }

    /// Records lost before reaching the consumer.
    pub fn dropped_before_consumer(&self) -> u64 {
        [
            Hop::KernelState,
            Hop::KernelRingbuf,
            Hop::Decode,
            Hop::Queue,
        ]
        .iter()
        .map(|h| sum(self.per_hop(*h)))
        .sum()
    }

    /// Every loss, sinks and recording gaps included.
    pub fn dropped_total(&self) -> u64 {
        Hop::ALL.iter().map(|h| sum(self.per_hop(*h))).sum()
    }

    /// `emitted - (delivered + internal + dropped before the consumer)`:
    /// records in flight; 0 once the ring buffer is drained. Negative would
    /// mean a record was counted twice.
    pub fn unaccounted(&self) -> i128 {
        i128::from(self.emitted_total())
            - i128::from(self.delivered_total())
            - i128::from(sum(&self.internal))
            - i128::from(self.dropped_before_consumer())
    }

    /// Losses since `earlier`, by hop and type: `(hop, type name, count)`.
    pub fn losses_since(&self, earlier: &LossSnapshot) -> Vec<(Hop, &'static str, u64)> {
        let mut out = Vec::new();
        for hop in Hop::ALL {
            let (now, before) = (self.per_hop(hop), earlier.per_hop(hop));
            for t in 0..TYPES {
                let d = now[t].saturating_sub(before[t]);
                if d > 0 {
                    out.push((hop, ev::name(t as u16), d));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_holds_when_every_record_is_placed_once() {
        let s = Stats::default();
        s.set_kernel(usize::from(ev::EXEC), 10, 3, 1);
        for _ in 0..5 {
            s.delivered(ev::EXEC);
        }
        s.dropped(Hop::Queue, ev::EXEC);
        assert_eq!(s.snapshot().unaccounted(), 0);
        s.delivered(ev::EXEC);
        assert_eq!(
            s.snapshot().unaccounted(),
            -1,
            "double counting shows as negative"
        );
    }

    #[test]
    fn sink_losses_are_reported_but_not_part_of_the_pre_consumer_invariant() {
        let s = Stats::default();
        s.set_kernel(usize::from(ev::OPEN), 2, 0, 0);
        s.delivered(ev::OPEN);
        s.delivered(ev::OPEN);
        s.dropped(Hop::Sink, ev::OPEN);
        let snap = s.snapshot();
        assert_eq!(snap.unaccounted(), 0);
        assert_eq!(snap.dropped_total(), 1);
    }

    #[test]
    fn losses_since_lists_only_new_losses() {
        let s = Stats::default();
        s.dropped(Hop::Decode, ev::OPEN);
        let before = s.snapshot();
        s.dropped(Hop::Decode, ev::OPEN);
        s.dropped(Hop::Queue, ev::EXEC);
        s.dropped(Hop::Queue, ev::EXEC);
        let losses = s.snapshot().losses_since(&before);
        assert_eq!(losses, [(Hop::Decode, "open", 1), (Hop::Queue, "exec", 2)]);
    }

    #[test]
    fn out_of_range_type_is_counted_not_lost() {
        let s = Stats::default();
        s.dropped(Hop::Decode, 999);
        assert_eq!(s.snapshot().dropped_total(), 1);
    }
}
