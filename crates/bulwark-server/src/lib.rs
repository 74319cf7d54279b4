//! The control plane: the HTTP API with RBAC and audit ([`api`]), the
//! agents' link ([`agent_link`]), alert routing ([`dispatch`]), the
//! compliance report ([`compliance`]), listeners ([`serve`]) and storage on
//! SQLite or PostgreSQL ([`db`], [`store`]).
//!
//! Decisions without I/O (RBAC, routing rules, the wire protocol, CIS/NIST
//! checks) live in `bulwark-control`; the web dashboard is
//! `bulwark-dashboard`. This crate does not collect events or enforce
//! anything on a node: agents do, and report here.

pub mod agent_link;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod compliance;
pub mod db;
pub mod dispatch;
pub mod documents;
pub mod metrics;
pub mod model;
pub mod serve;
pub mod store;
pub mod uplink;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
