//! The control plane (work in progress).

pub mod auth;
pub mod db;
pub mod documents;
pub mod model;
pub mod store;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
