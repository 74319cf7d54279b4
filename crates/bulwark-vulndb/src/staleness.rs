//! How old a DB may be before scans warn or fail. Air-gapped sites set a
//! longer age or `ignore`.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// What to do with a DB older than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStale {
    Warn,
    Fail,
    Ignore,
}

impl std::str::FromStr for OnStale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "warn" => Ok(OnStale::Warn),
            "fail" => Ok(OnStale::Fail),
            "ignore" => Ok(OnStale::Ignore),
            other => Err(format!(
                "unknown stale action {other:?}: expected warn, fail or ignore"
            )),
        }
    }
}

/// The staleness policy.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Policy {
    pub max_age: Duration,
    pub on_stale: OnStale,
}

/// The verdict for one DB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Staleness {
    Fresh {
        age_hours: u64,
    },
    Stale {
        age_hours: u64,
        max_age_hours: u64,
    },
    /// Nothing was ever imported.
    Empty,
}

/// Judges a DB last built at `built_at` (RFC 3339).
pub fn check(built_at: Option<&str>, now: SystemTime, policy: &Policy) -> Staleness {
    let Some(built) = built_at.and_then(crate::time_fmt::parse) else {
        return Staleness::Empty;
    };
    let now = time::OffsetDateTime::from(now);
    let age = (now - built).whole_hours().max(0) as u64;
    let max = policy.max_age.as_secs() / 3600;
    if age > max {
        Staleness::Stale {
            age_hours: age,
            max_age_hours: max,
        }
    } else {
        Staleness::Fresh { age_hours: age }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_the_limit_is_stale() {
        let policy = Policy {
            max_age: Duration::from_secs(5 * 86_400),
            on_stale: OnStale::Warn,
        };
        let built = "2024-01-01T00:00:00Z";
        let at =
            |days: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + days * 86_400);
        assert_eq!(
            check(Some(built), at(1), &policy),
            Staleness::Fresh { age_hours: 24 }
        );
        assert!(matches!(
            check(Some(built), at(6), &policy),
            Staleness::Stale { .. }
        ));
        assert_eq!(check(None, at(6), &policy), Staleness::Empty);
    }
}
