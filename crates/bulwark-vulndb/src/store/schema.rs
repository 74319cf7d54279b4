//! Tables of the store and their version.

use super::{Store, StoreError};

/// Bumped when the tables change; older stores are migrated on open.
pub const SCHEMA_VERSION: &str = "2";

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vulns (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vulns_by_source ON vulns(source);
CREATE TABLE IF NOT EXISTS affected_keys (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    candidate TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, vuln_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS affected_keys_by_vuln ON affected_keys(vuln_id);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL,
    invalid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inventories (
    digest TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    inventory TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory_keys (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings (
    digest TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    resolved_at TEXT,
    finding TEXT NOT NULL,
    PRIMARY KEY (digest, finding_id)
);
CREATE INDEX IF NOT EXISTS findings_by_vuln ON findings(vuln_id);
CREATE INDEX IF NOT EXISTS findings_open ON findings(digest, finding_id, vuln_id)
    WHERE resolved_at IS NULL;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events(at);
";

/// Creates the tables of a new store, or checks an existing one is ours
/// and of this version.
pub(crate) fn ensure(store: &Store, create: bool) -> Result<(), StoreError> {
    let has_meta: bool = store
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(|e| store.err(e))?;
    if !has_meta {
        let empty: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        if empty > 0 || !create {
            return Err(StoreError::Foreign {
                path: store.path().display().to_string(),
                detail: "a SQLite file without Bulwark's tables".into(),
            });
        }
        store
            .conn()
            .execute_batch(TABLES)
            .map_err(|e| store.err(e))?;
        store.set_meta("schema_version", SCHEMA_VERSION)?;
        return Ok(());
    }
    match store.meta("schema_version")? {
        Some(v) if v == SCHEMA_VERSION => ensure_open_findings_index(store),
        Some(v) if v == "1" => migrate_v1(store),
        other => Err(StoreError::Foreign {
            path: store.path().display().to_string(),
            detail: format!(
                "schema version {}, this bulwark reads {SCHEMA_VERSION}",
                other.unwrap_or_else(|| "missing".into())
            ),
        }),
    }
}

/// Version 1 kept bare (ecosystem, name, vuln_id) keys; version 2 keeps
/// each key's digested [`Candidate`](crate::matcher::Candidate) beside it.
/// Rebuilt from the stored records in one transaction: advisories, SBOMs,
/// findings and events are kept.
fn migrate_v1(store: &Store) -> Result<(), StoreError> {
    store.transaction(|| {
        store
            .conn()
            .execute_batch(
                "DROP TABLE affected_keys;
                 CREATE TABLE affected_keys (
                     ecosystem TEXT NOT NULL,
                     name TEXT NOT NULL,
                     vuln_id TEXT NOT NULL,
                     candidate TEXT NOT NULL,
                     PRIMARY KEY (ecosystem, name, vuln_id)
                 ) WITHOUT ROWID;
                 CREATE INDEX affected_keys_by_vuln ON affected_keys(vuln_id);",
            )
            .map_err(|e| store.err(e))?;
        let mut stmt = store
            .conn()
            .prepare("SELECT record FROM vulns")
            .map_err(|e| store.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| store.err(e))?;
        while let Some(row) = rows.next().map_err(|e| store.err(e))? {
            let text: String = row.get(0).map_err(|e| store.err(e))?;
            let vuln = store.parse_record(&text)?;
            store.put_candidates(&vuln)?;
        }
        store.set_meta("schema_version", SCHEMA_VERSION)
    })?;
    ensure_open_findings_index(store)
}

/// The covering index of open findings (added within version 2): the
/// re-match reads which findings an image has open without reading them.
fn ensure_open_findings_index(store: &Store) -> Result<(), StoreError> {
    let present: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'findings_open'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| store.err(e))?;
    if present > 0 {
        return Ok(());
    }
    store
        .conn()
        .execute_batch(
            "CREATE INDEX IF NOT EXISTS findings_open ON findings(digest, finding_id, vuln_id)
             WHERE resolved_at IS NULL;",
        )
        .map_err(|e| store.err(e))
}
