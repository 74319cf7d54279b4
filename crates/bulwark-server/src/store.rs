//! The control plane's state, over [`Db`]. Every operation on behalf of a
//! caller takes the RBAC [`Permit`](bulwark_control::rbac::Permit) it
//! needs, so a handler cannot reach data it did not authorise; list
//! operations filter by the permit's scope inside the query. Writes run in
//! one transaction with the caller's audit append as the commit gate.

mod alerts;
mod directory;
mod images;
mod ingest;
mod nodes;
mod ownership;
mod policies;
mod profiles;
mod routes;
mod updates;
mod workloads;

use bulwark_control::rbac::ScopeFilter;
use bulwark_core::Severity;

use crate::db::{Db, DbError, Value};

pub use alerts::AlertQuery;
pub use directory::TokenOwner;
pub use directory::{AuthRecord, Directory};
pub use images::{Finding, ImageScan};
pub use ingest::{IngestOutcome, StoredAlert};
pub use ownership::Screened;
pub use policies::resource_of;
pub use profiles::ModeRequest;
pub use updates::UpdateFeed;
pub use workloads::ContainerRow;

/// The store: cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    pub fn new(db: Db) -> Store {
        Store { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// Severities are stored as their rank, so `>=` works in SQL.
pub(crate) fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Unknown => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

pub(crate) fn severity_of_rank(rank: i64) -> Severity {
    match rank {
        4 => Severity::Critical,
        3 => Severity::High,
        2 => Severity::Medium,
        1 => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// A SQL condition limiting rows to what `filter` lets the caller see:
/// `namespace_col` in the permitted namespaces, or `workload_col` matching a
/// permitted workload pattern. Appends its parameters to `params`.
pub(crate) fn scope_clause(
    filter: &ScopeFilter,
    namespace_col: &str,
    workload_col: &str,
    params: &mut Vec<Value>,
) -> String {
    if filter.cluster {
        return "1 = 1".into();
    }
    let mut terms = Vec::new();
    for ns in &filter.namespaces {
        params.push(Value::from(ns.as_str()));
        terms.push(format!("{namespace_col} = ${}", params.len()));
    }
    for like in filter.workload_like_patterns() {
        params.push(Value::from(like));
        terms.push(format!("{workload_col} LIKE ${} ESCAPE '\\'", params.len()));
    }
    if terms.is_empty() {
        return "1 = 0".into();
    }
    format!("({})", terms.join(" OR "))
}

/// Upper bound of any list the API returns at once.
pub const MAX_PAGE: i64 = 1000;

pub(crate) fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(100).clamp(1, MAX_PAGE)
}

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{what}: {e}"))
    }
}
