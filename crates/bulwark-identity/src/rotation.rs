//! When to renew a credential: at half of its lifetime, moved by up to ±10%
//! of the lifetime so that credentials issued together are not all renewed
//! (and all pushed to workloads) at the same instant.

use std::time::{Duration, SystemTime};

/// Largest jitter, as a fraction of the lifetime.
pub const JITTER_FRACTION: f64 = 0.10;

/// The renewal time of a credential valid from `issued` to `not_after`;
/// `jitter` in `[-1, 1]` picks the point inside the jitter window.
pub fn renew_at(issued: SystemTime, not_after: SystemTime, jitter: f64) -> SystemTime {
    let life = not_after.duration_since(issued).unwrap_or(Duration::ZERO);
    let half = life / 2;
    let window = life.mul_f64(JITTER_FRACTION * jitter.abs().min(1.0));
    if jitter < 0.0 {
        issued + half - window
    } else {
        issued + half + window
    }
}

/// A uniformly random jitter in `[-1, 1]` (0 if the RNG fails).
pub fn random_jitter() -> f64 {
    let mut b = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn half_life_without_jitter() {
        assert_eq!(renew_at(t(1000), t(4600), 0.0), t(2800));
    }

    #[test]
    fn jitter_stays_within_ten_percent_of_the_lifetime() {
        assert_eq!(renew_at(t(0), t(3600), 1.0), t(1800 + 360));
        assert_eq!(renew_at(t(0), t(3600), -1.0), t(1800 - 360));
        assert_eq!(renew_at(t(0), t(3600), 7.0), t(1800 + 360));
        for _ in 0..1000 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j));
            let at = renew_at(t(0), t(3600), j);
            assert!(at >= t(1440) && at <= t(2160));
        }
    }

    #[test]
    fn random_jitter_spreads() {
        let xs: Vec<f64> = (0..200).map(|_| random_jitter()).collect();
        assert!(xs.iter().any(|x| *x < -0.5) && xs.iter().any(|x| *x > 0.5));
    }

    #[test]
    fn expired_or_inverted_lifetimes_renew_immediately() {
        assert_eq!(renew_at(t(100), t(50), 0.5), t(100));
    }
}
