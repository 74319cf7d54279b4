//! The continuous re-match writes only what changed: a record re-published
//! with the same matching content (a new `modified` only) rewrites no
//! finding and creates no event; one with an edited summary rewrites the
//! finding in place (first-seen time kept) without a `new` event.
//! Writes are counted by SQLite triggers this test adds to the store file.
//! Fixtures: a small hand-made PyPI record written here and the inventory
//! of `support::jinja_app_inventory`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use bulwark_vulndb::osv::Record;
use bulwark_vulndb::rescan::{RematchSummary, rematch, scan_inventory};
use bulwark_vulndb::store::{Store, StoreError, StoredInventory};
use serde_json::{Value, json};

const DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn record(modified: &str, summary: &str) -> Value {
    json!({"id": "PYSEC-2019-1", "modified": modified, "summary": summary,
        "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}]}]})
}

fn publish(store: &Store, raw: Value, now: &str) -> RematchSummary {
    let record = Record::from_value(raw).unwrap();
    let summary = store
        .import::<StoreError>("test", SystemTime::now(), |imp| imp.put(&record).map(drop))
        .unwrap();
    let keys: BTreeSet<(String, String)> = summary.changed_keys;
    rematch(store, &keys, now).unwrap()
}

fn inventory() -> StoredInventory {
    support::jinja_app_inventory(DIGEST)
}

/// Adds triggers counting every insert into and update of `findings`.
fn count_finding_writes(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE finding_writes (n INTEGER NOT NULL);
         INSERT INTO finding_writes VALUES (0);
         CREATE TRIGGER finding_insert AFTER INSERT ON findings
             BEGIN UPDATE finding_writes SET n = n + 1; END;
         CREATE TRIGGER finding_update AFTER UPDATE ON findings
             BEGIN UPDATE finding_writes SET n = n + 1; END;",
    )
    .unwrap();
}

fn finding_writes(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT n FROM finding_writes", [], |r| r.get(0))
        .unwrap()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    let store = Store::open_or_create(&path).unwrap();
    publish(
        &store,
        record("2024-01-01T00:00:00Z", "XSS"),
        "2026-01-01T00:00:00Z",
    );
    let outcome = scan_inventory(&store, &inventory(), "2026-01-01T00:00:00Z").unwrap();
    assert_eq!(outcome.events.len(), 1);
    drop(store);
    count_finding_writes(&path);
    (dir, path)
}

#[test]
fn republished_record_with_unchanged_content_creates_no_events_and_no_writes() {
    let (_dir, path) = setup();
    let store = Store::open_existing(&path).unwrap();
    let re = publish(
        &store,
        record("2025-01-01T00:00:00Z", "XSS"),
        "2026-02-01T00:00:00Z",
    );
    assert_eq!(
        (re.rematched, re.components),
        (1, 1),
        "only jinja2 re-matched"
    );
    assert!(re.events.is_empty(), "{:?}", re.events);
    assert_eq!(re.updated, 0);
    assert_eq!(finding_writes(&path), 0);
    assert_eq!(store.events_since("2026-02-01T00:00:00Z").unwrap(), vec![]);
}

#[test]
fn republished_record_with_changed_summary_updates_the_finding_without_a_new_event() {
    let (_dir, path) = setup();
    let store = Store::open_existing(&path).unwrap();
    let re = publish(
        &store,
        record("2025-01-01T00:00:00Z", "XSS in the sandbox"),
        "2026-02-01T00:00:00Z",
    );
    assert!(re.events.is_empty(), "{:?}", re.events);
    assert_eq!(re.updated, 1);
    assert_eq!(finding_writes(&path), 1);
    let stored = store.findings_named("PYSEC-2019-1").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].finding.summary.as_deref(),
        Some("XSS in the sandbox")
    );
    assert_eq!(stored[0].first_seen, "2026-01-01T00:00:00Z");
    assert!(stored[0].resolved_at.is_none());
    assert_eq!(store.events_since("2026-02-01T00:00:00Z").unwrap(), vec![]);
    // Then fixed below the installed version: resolved, one event.
    let mut fixed = record("2025-06-01T00:00:00Z", "XSS in the sandbox");
    fixed["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": "2.9"});
    let re = publish(&store, fixed, "2026-03-01T00:00:00Z");
    assert_eq!(re.events.len(), 1);
    assert_eq!(re.events[0].event, "resolved");
    assert_eq!(re.events[0].first_seen, "2026-01-01T00:00:00Z");
    assert_eq!(store.open_findings(DIGEST).unwrap().len(), 0);
}
