//! A store written by schema version 1 (bare `affected_keys`, no digested
//! candidates) is migrated on open: advisories match again, and stored
//! SBOMs, findings and events are kept. Fixtures: a small hand-made OSV
//! record and inventory written by this test; the version-1 table is
//! recreated here with the statement version 1 used.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use bulwark_vulndb::matcher::Component;
use bulwark_vulndb::osv::Record;
use bulwark_vulndb::rescan::scan_inventory;
use bulwark_vulndb::store::{SCHEMA_VERSION, Store, StoreError, StoredInventory};
use serde_json::json;

fn inventory() -> StoredInventory {
    StoredInventory {
        digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
        reference: "example.invalid/app:1".into(),
        stored_at: "2026-01-01T00:00:00Z".into(),
        components: vec![Component {
            ecosystem: "PyPI".into(),
            name: "jinja2".into(),
            version: "2.10".into(),
            package: "jinja2".into(),
            installed_version: "2.10".into(),
            purl: None,
            layer: None,
        }],
    }
}

#[test]
fn version_1_store_is_migrated_and_keeps_sboms_findings_and_events() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    {
        let store = Store::open_or_create(&path).unwrap();
        let record = Record::from_value(json!({"id": "PYSEC-2019-1",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}]}]}))
        .unwrap();
        store
            .import::<StoreError>("test", SystemTime::now(), |imp| imp.put(&record).map(drop))
            .unwrap();
        let outcome = scan_inventory(&store, &inventory(), "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(outcome.events.len(), 1);
    }
    // Turn it into what version 1 wrote.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE affected_keys;
             CREATE TABLE affected_keys (ecosystem TEXT NOT NULL, name TEXT NOT NULL,
                 vuln_id TEXT NOT NULL, PRIMARY KEY (ecosystem, name, vuln_id)) WITHOUT ROWID;
             CREATE INDEX affected_keys_by_vuln ON affected_keys(vuln_id);
             INSERT INTO affected_keys VALUES ('PyPI', 'jinja2', 'PYSEC-2019-1');
             UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
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
    // Scanning again finds the same finding, already known: no new event.
    let outcome = scan_inventory(&store, &inventory(), "2026-02-01T00:00:00Z").unwrap();
    assert_eq!(outcome.report.findings.len(), 1);
    assert!(outcome.events.is_empty());
    assert_eq!(store.events_since("2000-01-01T00:00:00Z").unwrap().len(), 1);
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
