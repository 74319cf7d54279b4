//! Rate limit on authentication failures: a token bucket per key (the
//! remote address, and the user name for logins). A key whose bucket is
//! empty is refused before its credentials are even looked at, with the
//! seconds until the next attempt is allowed. Pure: time is passed in.

use std::collections::HashMap;
use std::sync::Mutex;

/// Bucket sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimitConfig {
    /// Failures allowed in a burst.
    pub burst: f64,
    /// Failures regained per second.
    pub per_sec: f64,
    /// Keys tracked at most; full buckets are forgotten first.
    pub max_keys: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            burst: 10.0,
            per_sec: 10.0 / 60.0,
            max_keys: 16_384,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// The limiter, shared by every request.
#[derive(Debug)]
pub struct AuthLimiter {
    config: LimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl AuthLimiter {
    pub fn new(config: LimitConfig) -> AuthLimiter {
        AuthLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now_ms: i64) -> Bucket {
        let elapsed = (now_ms - b.at_ms).max(0) as f64 / 1000.0;
        Bucket {
            tokens: (b.tokens + elapsed * self.config.per_sec).min(self.config.burst),
            at_ms: now_ms,
        }
    }

    /// `Err(seconds)` when `key` has no attempt left.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = buckets.get(key) else {
            return Ok(());
        };
        let b = self.refilled(*b, now_ms);
        if b.tokens >= 1.0 {
            return Ok(());
        }
        let wait = (1.0 - b.tokens) / self.config.per_sec;
        Err(wait.ceil().max(1.0) as u64)
    }

    /// Records a failed attempt by `key`.
    pub fn failure(&self, key: &str, now_ms: i64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.config.max_keys && !buckets.contains_key(key) {
            let burst = self.config.burst;
            buckets.retain(|_, b| self.refilled(*b, now_ms).tokens < burst);
            if buckets.len() >= self.config.max_keys {
                // Everyone is failing: keep the newest half.
                let mut ages: Vec<i64> = buckets.values().map(|b| b.at_ms).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                buckets.retain(|_, b| b.at_ms >= cut);
            }
        }
        let start = Bucket {
            tokens: self.config.burst,
            at_ms: now_ms,
        };
        let b = buckets.get(key).copied().unwrap_or(start);
        let mut b = self.refilled(b, now_ms);
        b.tokens = (b.tokens - 1.0).max(0.0);
        buckets.insert(key.to_owned(), b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_of_failures_then_refused_until_refilled() {
        let l = AuthLimiter::new(LimitConfig {
            burst: 3.0,
            per_sec: 0.5,
            max_keys: 100,
        });
        for _ in 0..3 {
            assert_eq!(l.check("1.2.3.4", 0), Ok(()));
            l.failure("1.2.3.4", 0);
        }
        assert_eq!(l.check("1.2.3.4", 0), Err(2));
        assert_eq!(l.check("5.6.7.8", 0), Ok(()), "other keys are unaffected");
        assert_eq!(l.check("1.2.3.4", 1_000), Err(1));
        assert_eq!(l.check("1.2.3.4", 2_000), Ok(()));
    }

    #[test]
    fn key_table_stays_bounded() {
        let l = AuthLimiter::new(LimitConfig {
            burst: 2.0,
            per_sec: 0.001,
            max_keys: 10,
        });
        for i in 0..100 {
            l.failure(&format!("k{i}"), i);
        }
        let n = l.buckets.lock().map(|b| b.len()).unwrap_or(usize::MAX);
        assert!(n <= 10, "{n}");
        // The newest attacker is still tracked.
        l.failure("k99", 100);
        assert!(l.check("k99", 100).is_err());
    }
}
