//! How long permission decisions take: a lock-free log-linear histogram
//! (four buckets per power of two of nanoseconds, so a quantile is known to
//! within 19 %), recorded by each guard's decision thread from reading an
//! event to writing the kernel's answer. Pure; no clock of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const SUB: usize = 4;
const BUCKETS: usize = 64 * SUB;

/// Decision latencies recorded so far.
#[derive(Debug)]
pub struct Latency {
    buckets: Box<[AtomicU64; BUCKETS]>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros() as usize;
    let sub = ((ns >> (log - 2)) & 0b11) as usize;
    (log * SUB + sub).min(BUCKETS - 1)
}

/// The largest value bucket `i` holds.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let (log, sub) = (i / SUB, (i % SUB) as u64);
    let width = 1u64 << (log - 2);
    ((1u64 << log) - 1) + (sub + 1) * width
}

impl Latency {
    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        LatencySummary::of(&counts)
    }
}

/// Count and quantiles (upper bounds of their buckets), in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl LatencySummary {
    fn of(counts: &[u64]) -> LatencySummary {
        let count: u64 = counts.iter().sum();
        let at = |q: f64| {
            // The rank of the q-quantile, 1-based, at least 1.
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper(i);
                }
            }
            0
        };
        if count == 0 {
            return LatencySummary::default();
        }
        LatencySummary {
            count,
            p50_ns: at(0.5),
            p99_ns: at(0.99),
            max_ns: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bucket_whose_bound_covers_it_within_25_percent() {
        for ns in [
            0u64,
            1,
            3,
            4,
            5,
            7,
            8,
            100,
            1_000,
            123_456,
            10_000_000_000,
            u64::MAX,
        ] {
            let b = bucket(ns);
            assert!(upper(b) >= ns, "{ns}: bucket {b} ends at {}", upper(b));
            if ns >= 4 {
                assert!(upper(b) - ns <= ns / 4, "{ns} vs {}", upper(b));
            }
        }
    }

    #[test]
    fn quantiles_come_from_the_recorded_values() {
        let l = Latency::default();
        for _ in 0..98 {
            l.record(Duration::from_micros(10));
        }
        l.record(Duration::from_millis(1));
        l.record(Duration::from_millis(5));
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((10_000..=12_500).contains(&s.p50_ns), "{s:?}");
        assert!((1_000_000..=1_250_000).contains(&s.p99_ns), "{s:?}");
        assert!((5_000_000..=6_250_000).contains(&s.max_ns), "{s:?}");
        assert_eq!(Latency::default().summary(), LatencySummary::default());
    }
}
