//! Deduplication and per-workload rate limiting, without I/O.
//!
//! - The same alert (same `id`) within the dedup window is held back and
//!   counted; when the window closes, one alert with `count = N` says how
//!   many more times it happened.
//! - Each workload has a token bucket. Alerts over the rate are dropped and
//!   counted; the next alert that gets through for that workload carries
//!   `throttled: N`, and if none comes, a health alert reports the number
//!   once the bucket has room again. Nothing is dropped without a count.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_core::{Alert, AlertReason, Clock, Decision, Severity, WorkloadId};

/// Limits of the throttle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleConfig {
    /// Repeats of one alert within this window are folded into one.
    pub dedup_window: Duration,
    /// Alerts per second allowed per workload, sustained.
    pub rate_per_sec: f64,
    /// Alerts allowed per workload in a burst.
    pub burst: u32,
    /// Distinct alert ids remembered; the oldest are forgotten first.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            dedup_window: Duration::from_secs(60),
            rate_per_sec: 5.0,
            burst: 20,
            max_tracked: 65_536,
        }
    }
}

struct Held {
    since: SystemTime,
    suppressed: u64,
    latest: Alert,
}

struct Bucket {
    tokens: f64,
    at: SystemTime,
    throttled: u64,
    example: Option<Alert>,
}

/// Running totals, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleStats {
    pub offered: u64,
    pub emitted: u64,
    pub deduplicated: u64,
    pub throttled: u64,
}

pub struct Throttle {
    config: ThrottleConfig,
    clock: Arc<dyn Clock>,
    held: HashMap<String, Held>,
    buckets: HashMap<Option<WorkloadId>, Bucket>,
    stats: ThrottleStats,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("stats", &self.stats)
            .finish()
    }
}

impl Throttle {
    pub fn new(config: ThrottleConfig, clock: Arc<dyn Clock>) -> Throttle {
        Throttle {
            config,
            clock,
            held: HashMap::new(),
            buckets: HashMap::new(),
            stats: ThrottleStats::default(),
        }
    }

    pub fn stats(&self) -> ThrottleStats {
        self.stats
    }

    /// The alert to send now, if any.
    pub fn offer(&mut self, mut alert: Alert) -> Option<Alert> {
        self.stats.offered += 1;
        let now = self.clock.now();
        if let Some(held) = self.held.get_mut(&alert.id) {
            if elapsed(held.since, now) < self.config.dedup_window {
                held.suppressed += alert.count.max(1);
                held.latest = alert;
                self.stats.deduplicated += 1;
                return None;
            }
            // Window closed before a tick reported the repeats: carry them.
            alert.count = alert.count.max(1) + held.suppressed;
        } else {
            self.forget_oldest_if_full();
        }
        self.held.insert(
            alert.id.clone(),
            Held {
                since: now,
                suppressed: 0,
                latest: alert.clone(),
            },
        );
        self.rate_limit(alert, now)
    }

    /// Alerts due by the clock: folded repeats whose window closed, and
    /// throttle reports for workloads that went quiet.
    pub fn tick(&mut self) -> Vec<Alert> {
        let now = self.clock.now();
        let window = self.config.dedup_window;
        let mut due: Vec<Alert> = Vec::new();
        self.held.retain(|_, held| {
            if elapsed(held.since, now) < window {
                return true;
            }
            if held.suppressed > 0 {
                let mut summary = held.latest.clone();
                summary.count = held.suppressed;
                summary.throttled = 0;
                due.push(summary);
            }
            false
        });
        let mut out: Vec<Alert> = due
            .into_iter()
            .filter_map(|a| self.rate_limit(a, now))
            .collect();
        out.extend(self.throttle_reports(now));
        out
    }

    fn rate_limit(&mut self, mut alert: Alert, now: SystemTime) -> Option<Alert> {
        let (rate, burst) = (self.config.rate_per_sec, f64::from(self.config.burst));
        let bucket = self
            .buckets
            .entry(alert.workload.clone())
            .or_insert(Bucket {
                tokens: burst,
                at: now,
                throttled: 0,
                example: None,
            });
        refill(bucket, now, rate, burst);
        if bucket.tokens < 1.0 {
            bucket.throttled += alert.count.max(1);
            bucket.example = Some(alert);
            self.stats.throttled += 1;
            return None;
        }
        bucket.tokens -= 1.0;
        alert.throttled += std::mem::take(&mut bucket.throttled);
        bucket.example = None;
        self.stats.emitted += 1;
        Some(alert)
    }

    fn throttle_reports(&mut self, now: SystemTime) -> Vec<Alert> {
        let (rate, burst) = (self.config.rate_per_sec, f64::from(self.config.burst));
        let mut out = Vec::new();
        for (workload, bucket) in &mut self.buckets {
            refill(bucket, now, rate, burst);
            if bucket.throttled == 0 || bucket.tokens < 1.0 {
                continue;
            }
            bucket.tokens -= 1.0;
            let n = std::mem::take(&mut bucket.throttled);
            let example = bucket.example.take();
            out.push(throttle_report(workload.clone(), n, example, now));
            self.stats.emitted += 1;
        }
        self.buckets
            .retain(|_, b| b.throttled > 0 || b.tokens < burst);
        out
    }

    fn forget_oldest_if_full(&mut self) {
        if self.held.len() < self.config.max_tracked {
            return;
        }
        let oldest = self
            .held
            .iter()
            .min_by_key(|(_, h)| h.since)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            self.held.remove(&id);
        }
    }
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

fn refill(bucket: &mut Bucket, now: SystemTime, rate: f64, burst: f64) {
    let secs = elapsed(bucket.at, now).as_secs_f64();
    bucket.tokens = (bucket.tokens + secs * rate).min(burst);
    bucket.at = now;
}

fn throttle_report(
    workload: Option<WorkloadId>,
    n: u64,
    example: Option<Alert>,
    now: SystemTime,
) -> Alert {
    let who = workload
        .as_ref()
        .map_or_else(|| "the host".to_owned(), ToString::to_string);
    let last = example
        .as_ref()
        .map(|a| format!("; the last was: {}", a.message))
        .unwrap_or_default();
    Alert {
        id: format!("throttled:{who}"),
        time: to_offset(now),
        severity: example.as_ref().map_or(Severity::Medium, |a| a.severity),
        workload,
        container_id: example.as_ref().and_then(|a| a.container_id.clone()),
        image_digest: example.as_ref().and_then(|a| a.image_digest.clone()),
        profile_version: example.as_ref().and_then(|a| a.profile_version),
        mode: example
            .as_ref()
            .map_or(bulwark_core::Mode::Monitor, |a| a.mode),
        reason: AlertReason::Health {
            detail: format!("throttled {n} alerts"),
        },
        decision: Decision::Alert,
        message: format!("throttled {n} alerts for {who} (rate limit){last}"),
        ancestry: Vec::new(),
        count: 0,
        throttled: n,
    }
}

fn to_offset(t: SystemTime) -> time::OffsetDateTime {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    time::Duration::try_from(since)
        .ok()
        .and_then(|d| time::OffsetDateTime::UNIX_EPOCH.checked_add(d))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
