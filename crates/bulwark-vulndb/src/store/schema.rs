//! Tables of the store and their version.

use super::{Store, StoreError, StoredInventory};
use crate::osv::Vulnerability;

/// Bumped when the tables change; older stores are migrated on open.
pub const SCHEMA_VERSION: &str = "4";

const AFFECTED_KEYS: &str = "
CREATE TABLE affected_keys (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    candidate BLOB NOT NULL,
    PRIMARY KEY (ecosystem, name, vuln_id)
) WITHOUT ROWID;
CREATE INDEX affected_keys_by_vuln ON affected_keys(vuln_id);
";

const INVENTORIES: &str = "
CREATE TABLE inventories (
    digest TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE inventory_components (
    digest TEXT NOT NULL,
    seq INTEGER NOT NULL,
    component TEXT NOT NULL,
    PRIMARY KEY (digest, seq)
) WITHOUT ROWID;
CREATE TABLE inventory_keys (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name, digest, seq)
) WITHOUT ROWID;
CREATE INDEX inventory_keys_by_digest ON inventory_keys(digest);
";

const OPEN_FINDINGS_INDEX: &str = "
CREATE INDEX findings_open_by_component ON findings(digest, component, finding_id, content)
    WHERE resolved_at IS NULL;
";

const TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vulns (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX vulns_by_source ON vulns(source);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL,
    invalid INTEGER NOT NULL
);
CREATE TABLE findings (
    digest TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    resolved_at TEXT,
    finding TEXT NOT NULL,
    component TEXT NOT NULL,
    content BLOB,
    PRIMARY KEY (digest, finding_id)
);
CREATE INDEX findings_by_vuln ON findings(vuln_id);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX events_by_time ON events(at);
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
        return store.transaction(|| {
            for ddl in [TABLES, AFFECTED_KEYS, INVENTORIES, OPEN_FINDINGS_INDEX] {
                store.conn().execute_batch(ddl).map_err(|e| store.err(e))?;
            }
            store.set_meta("schema_version", SCHEMA_VERSION)
        });
    }
    match store.meta("schema_version")? {
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        Some(v) if v == "1" || v == "2" || v == "3" => migrate(store, &v),
        other => Err(StoreError::Foreign {
            path: store.path().display().to_string(),
            detail: format!(
                "schema version {}, this bulwark reads {SCHEMA_VERSION}",
                other.unwrap_or_else(|| "missing".into())
            ),
        }),
    }
}

/// An older version to this one, in one transaction (a failure leaves
/// the old store as it was): advisories, SBOMs, findings and events are
/// kept.
///
/// * `affected_keys`: version 1 kept bare keys, version 2 each key's
///   [`Candidate`](crate::matcher::Candidate) as JSON, version 3 in a
///   binary layout with each string inline; version 4 keeps the strings of
///   a candidate together (one allocation to decode). Rebuilt from the
///   stored records.
/// * (from 1 and 2) inventories: one JSON document per image became one
///   row per component (`inventory_components`) with its keys
///   (`inventory_keys`, now naming the component), so a re-match reads
///   only the components an import touched.
/// * (from 1 and 2) findings: a `component` column (the end of the
///   finding id) and a `content` digest of the stored finding, both in the
///   covering index of open findings per component that replaces the
///   index of open finding ids per image. Migrated rows have no digest:
///   each is rewritten once, by the first re-match that sees it.
fn migrate(store: &Store, from: &str) -> Result<(), StoreError> {
    store.transaction(|| {
        let run = |sql: &str| store.conn().execute_batch(sql).map_err(|e| store.err(e));
        run("DROP TABLE affected_keys;")?;
        run(AFFECTED_KEYS)?;
        for (id, text) in records(store)? {
            let vuln: Vulnerability =
                serde_json::from_str(&text).map_err(|e| StoreError::Data {
                    path: store.path().display().to_string(),
                    detail: format!("record {id}: {e}"),
                })?;
            store.put_candidates(&vuln)?;
        }
        if from != "3" {
            inventories_and_findings_to_v3(store)?;
        }
        store.set_meta("schema_version", SCHEMA_VERSION)
    })
}

/// Versions 1 and 2: inventories split into rows, findings get their
/// component and content digest.
fn inventories_and_findings_to_v3(store: &Store) -> Result<(), StoreError> {
    let run = |sql: &str| store.conn().execute_batch(sql).map_err(|e| store.err(e));
    run("ALTER TABLE inventories RENAME TO inventories_v2; DROP TABLE inventory_keys;")?;
    run(INVENTORIES)?;
    let old = old_inventories(store)?;
    for inv in &old {
        store.insert_inventory(inv)?;
    }
    run("DROP TABLE inventories_v2;
         DROP INDEX IF EXISTS findings_open;
         ALTER TABLE findings ADD COLUMN component TEXT NOT NULL DEFAULT '';
         ALTER TABLE findings ADD COLUMN content BLOB;
         UPDATE findings SET component = substr(finding_id, length(vuln_id) + 2);")?;
    run(OPEN_FINDINGS_INDEX)
}

fn records(store: &Store) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT id, record FROM vulns")
        .map_err(|e| store.err(e))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| store.err(e))?;
    rows.collect::<Result<_, _>>().map_err(|e| store.err(e))
}

/// The inventories of a version 1 or 2 store (renamed `inventories_v2`).
fn old_inventories(store: &Store) -> Result<Vec<StoredInventory>, StoreError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT digest, reference, stored_at, inventory FROM inventories_v2")
        .map_err(|e| store.err(e))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(|e| store.err(e))?;
    let mut out = Vec::new();
    for row in rows {
        let (digest, reference, stored_at, json) = row.map_err(|e| store.err(e))?;
        let components = serde_json::from_str(&json).map_err(|e| StoreError::Data {
            path: store.path().display().to_string(),
            detail: format!("inventory of {digest}: {e}"),
        })?;
        out.push(StoredInventory {
            digest,
            reference,
            stored_at,
            components,
        });
    }
    Ok(out)
}
