//! Stores written by older schema versions are migrated on open:
//! advisories match again, stored SBOMs, findings (with their first-seen
//! times) and events are kept, and the continuous re-match works on them.
//! Version 1 kept bare `affected_keys`; version 2 a JSON candidate per key,
//! one JSON inventory per image, and no component column on findings;
//! version 3 the binary candidate layout of format 1 (strings inline).
//!
//! Fixtures: the old tables are created here with the statements those
//! versions used, and filled with a small hand-made OSV record, the
//! inventory of `support::jinja_app_inventory`, and its finding and event,
//! all serialised by this crate's own types. A version 3 store is written
//! by this version and taken back: schema version 3, format 1 candidates
//! (encoded here byte by byte).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use bulwark_vulndb::matcher::{AdvisorySource, Candidate, match_components};
use bulwark_vulndb::osv::Record;
use bulwark_vulndb::rescan::{rematch, scan_inventory};
use bulwark_vulndb::store::{FindingEvent, SCHEMA_VERSION, Store, StoreError, StoredInventory};
use rusqlite::params;
use serde_json::json;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const FIRST_SEEN: &str = "2026-01-01T00:00:00Z";

/// The tables of version 2 (version 1 differs only in `affected_keys`).
const V2_TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vulns (id TEXT PRIMARY KEY, modified TEXT NOT NULL, content_hash TEXT NOT NULL,
    source TEXT NOT NULL, withdrawn INTEGER NOT NULL, imported_at TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX vulns_by_source ON vulns(source);
CREATE TABLE sources (name TEXT PRIMARY KEY, imported_at TEXT NOT NULL, invalid INTEGER NOT NULL);
CREATE TABLE inventories (digest TEXT PRIMARY KEY, reference TEXT NOT NULL, stored_at TEXT NOT NULL,
    inventory TEXT NOT NULL);
CREATE TABLE inventory_keys (ecosystem TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, digest)) WITHOUT ROWID;
CREATE TABLE findings (digest TEXT NOT NULL, finding_id TEXT NOT NULL, vuln_id TEXT NOT NULL,
    first_seen TEXT NOT NULL, resolved_at TEXT, finding TEXT NOT NULL, PRIMARY KEY (digest, finding_id));
CREATE INDEX findings_by_vuln ON findings(vuln_id);
CREATE INDEX findings_open ON findings(digest, finding_id, vuln_id) WHERE resolved_at IS NULL;
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX events_by_time ON events(at);
";

fn record() -> Record {
    Record::from_value(json!({"id": "PYSEC-2019-1",
        "modified": "2024-01-01T00:00:00Z", "summary": "XSS",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}]}]}))
    .unwrap()
}

fn inventory() -> StoredInventory {
    support::jinja_app_inventory(DIGEST)
}

struct OneRecord(Candidate);

impl AdvisorySource for OneRecord {
    type Error = Infallible;
    fn advisories(&self, eco: &str, name: &str) -> Result<Vec<Arc<Candidate>>, Infallible> {
        Ok(if (eco, name) == ("PyPI", "jinja2") {
            vec![Arc::new(self.0.clone())]
        } else {
            vec![]
        })
    }
}

/// The candidate of `record()` for (PyPI, jinja2) in format 1 of the
/// binary layout (schema 3): strings inline, each after its length.
fn format_1_candidate() -> Vec<u8> {
    let mut b = vec![1u8];
    let s = |b: &mut Vec<u8>, text: &str| {
        b.push(u8::try_from(text.len()).unwrap());
        b.extend_from_slice(text.as_bytes());
    };
    s(&mut b, "PYSEC-2019-1");
    b.extend([0, 1]); // no aliases; a summary
    s(&mut b, "XSS");
    b.extend([0, 0, 1]); // no url, not withdrawn, one entry
    b.extend([0, 0, 1]); // affected[0], no versions, one range
    b.extend([1, 0, 2]); // ECOSYSTEM, no repo, two events
    b.push(0);
    s(&mut b, "0");
    b.push(1);
    s(&mut b, "2.10.1");
    b.push(0); // severity unknown
    s(&mut b, "none");
    b.push(0); // no scores
    b
}

/// Writes a store of schema version 3: written by this version, then
/// taken back (version number, candidates in format 1).
fn v3_store(path: &std::path::Path) {
    {
        let store = Store::open_or_create(path).unwrap();
        store
            .import::<StoreError>("test", SystemTime::now(), |imp| {
                imp.put(&record()).map(drop)
            })
            .unwrap();
        let outcome = scan_inventory(&store, &inventory(), FIRST_SEEN).unwrap();
        assert_eq!(outcome.events.len(), 1);
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    let n = conn
        .execute(
            "UPDATE affected_keys SET candidate = ?1",
            params![format_1_candidate()],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Writes a store of schema `version` (1, 2 or 3) holding one record, one
/// inventory, its finding and the finding's `new` event.
fn old_store(path: &std::path::Path, version: u8) {
    if version == 3 {
        return v3_store(path);
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(V2_TABLES).unwrap();
    let record = record();
    let candidate = Candidate::of(&record.vuln, ("PyPI", "jinja2")).unwrap();
    let inv = inventory();
    let report = match_components(&inv.components, &OneRecord(candidate.clone())).unwrap();
    assert_eq!(report.findings.len(), 1);
    let finding = report.findings[0].clone();
    let event = FindingEvent {
        event: "new".into(),
        at: FIRST_SEEN.into(),
        image_digest: DIGEST.into(),
        image: inv.reference.clone(),
        first_seen: FIRST_SEEN.into(),
        finding: finding.clone(),
    };
    let ex = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
        conn.execute(sql, p).unwrap();
    };
    ex(
        "INSERT INTO meta VALUES ('schema_version', ?1), ('built_at', ?2)",
        params![version.to_string(), FIRST_SEEN],
    );
    ex(
        "INSERT INTO vulns VALUES (?1, ?2, ?3, 'test', 0, ?4, ?5)",
        params![
            record.vuln.id,
            record.vuln.modified,
            record.content_hash,
            FIRST_SEEN,
            serde_json::to_string(&record.raw).unwrap()
        ],
    );
    ex(
        "INSERT INTO sources VALUES ('test', ?1, 0)",
        params![FIRST_SEEN],
    );
    if version == 1 {
        ex(
            "CREATE TABLE affected_keys (ecosystem TEXT NOT NULL, name TEXT NOT NULL,
                vuln_id TEXT NOT NULL, PRIMARY KEY (ecosystem, name, vuln_id)) WITHOUT ROWID",
            params![],
        );
        ex(
            "INSERT INTO affected_keys VALUES ('PyPI', 'jinja2', 'PYSEC-2019-1')",
            params![],
        );
    } else {
        ex(
            "CREATE TABLE affected_keys (ecosystem TEXT NOT NULL, name TEXT NOT NULL,
                vuln_id TEXT NOT NULL, candidate TEXT NOT NULL,
                PRIMARY KEY (ecosystem, name, vuln_id)) WITHOUT ROWID",
            params![],
        );
        ex(
            "INSERT INTO affected_keys VALUES ('PyPI', 'jinja2', 'PYSEC-2019-1', ?1)",
            params![serde_json::to_string(&candidate).unwrap()],
        );
    }
    ex(
        "CREATE INDEX affected_keys_by_vuln ON affected_keys(vuln_id)",
        params![],
    );
    ex(
        "INSERT INTO inventories VALUES (?1, ?2, ?3, ?4)",
        params![
            DIGEST,
            inv.reference,
            inv.stored_at,
            serde_json::to_string(&inv.components).unwrap()
        ],
    );
    for name in ["jinja2", "markupsafe"] {
        ex(
            "INSERT INTO inventory_keys VALUES ('PyPI', ?1, ?2)",
            params![name, DIGEST],
        );
    }
    ex(
        "INSERT INTO findings VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
        params![
            DIGEST,
            finding.id,
            finding.vuln_id.as_str(),
            FIRST_SEEN,
            serde_json::to_string(&finding).unwrap()
        ],
    );
    ex(
        "INSERT INTO events(at, event) VALUES (?1, ?2)",
        params![FIRST_SEEN, serde_json::to_string(&event).unwrap()],
    );
}

fn migrated_store_keeps_everything(version: u8) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    old_store(&path, version);
    let store = Store::open_existing(&path).unwrap();
    let status = store.status().unwrap();
    assert_eq!(status.schema_version, SCHEMA_VERSION);
    assert_eq!(
        (status.records, status.package_keys, status.stored_sboms),
        (1, 1, 1)
    );
    let candidates = store.candidates_for("PyPI", "jinja2").unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].vuln_id, "PYSEC-2019-1");
    assert_eq!(
        store.inventory(DIGEST).unwrap().unwrap().components,
        inventory().components
    );
    let open = store.open_findings(DIGEST).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].first_seen, FIRST_SEEN);
    assert_eq!(store.events_since("2000-01-01T00:00:00Z").unwrap().len(), 1);

    // Scanning again finds the same finding, already known: no new event.
    let outcome = scan_inventory(&store, &inventory(), "2026-02-01T00:00:00Z").unwrap();
    assert_eq!(outcome.report.findings.len(), 1);
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);

    // The re-match reads the migrated per-component rows: the fix moves
    // below the installed version and the finding is resolved.
    let mut raw = record().raw;
    raw["modified"] = json!("2025-01-01T00:00:00Z");
    raw["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": "2.9"});
    let fixed = Record::from_value(raw).unwrap();
    let summary = store
        .import::<StoreError>("test", SystemTime::now(), |imp| imp.put(&fixed).map(drop))
        .unwrap();
    let keys: BTreeSet<(String, String)> = summary.changed_keys;
    let re = rematch(&store, &keys, "2026-03-01T00:00:00Z").unwrap();
    assert_eq!((re.rematched, re.components), (1, 1));
    assert_eq!(re.events.len(), 1);
    assert_eq!(re.events[0].event, "resolved");
    assert_eq!(re.events[0].first_seen, FIRST_SEEN);
    assert!(store.open_findings(DIGEST).unwrap().is_empty());
}

#[test]
fn version_1_store_is_migrated_and_keeps_sboms_findings_and_events() {
    migrated_store_keeps_everything(1);
}

#[test]
fn version_2_store_is_migrated_and_keeps_sboms_findings_and_events() {
    migrated_store_keeps_everything(2);
}

#[test]
fn version_3_store_is_migrated_and_keeps_sboms_findings_and_events() {
    migrated_store_keeps_everything(3);
}

#[test]
fn failed_migration_of_a_version_3_store_names_the_record_and_leaves_it_untouched() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    old_store(&path, 3);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE vulns SET record = 'not json'", [])
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open_existing(&path).err().expect("refused");
    assert!(err.to_string().contains("record PYSEC-2019-1"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn failed_migration_leaves_the_old_store_untouched() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    old_store(&path, 2);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE inventories SET inventory = 'not json'", [])
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open_existing(&path).err().expect("refused");
    assert!(
        err.to_string().contains("inventory of sha256:1111"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn store_of_an_unknown_schema_version_is_refused_untouched() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    drop(Store::open_or_create(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open_existing(&path).err().expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
