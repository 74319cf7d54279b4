//! Store lookups: a component of a release (`Debian:12`) matches records
//! under its release and under the release-less ecosystem (`Debian`), not
//! other releases; keys of ecosystems no record names are answered without
//! a query, from the stored ecosystems. Fixtures: hand-made records here.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::SystemTime;

use bulwark_vulndb::matcher::Component;
use bulwark_vulndb::osv::Record;
use bulwark_vulndb::rescan::{StoreAdvisories, match_in_store};
use bulwark_vulndb::store::{Store, StoreError};
use serde_json::json;

fn record(id: &str, ecosystem: &str) -> Record {
    Record::from_value(json!({"id": id, "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": ecosystem, "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}]}))
    .unwrap()
}

#[test]
fn release_component_matches_its_release_and_the_release_less_ecosystem_only() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open_or_create(&dir.path().join("vulndb.sqlite")).unwrap();
    store
        .import::<StoreError>("test", SystemTime::now(), |imp| {
            for (id, eco) in [
                ("DSA-1", "Debian:12"),
                ("DSA-2", "Debian"),
                ("DSA-3", "Debian:11"),
            ] {
                imp.put(&record(id, eco))?;
            }
            Ok(())
        })
        .unwrap();
    let ecosystems: BTreeSet<&str> = ["Debian", "Debian:11", "Debian:12"].into();
    assert_eq!(
        store.advisory_ecosystems().unwrap(),
        ecosystems.iter().map(|e| e.to_string()).collect()
    );
    let component = |eco: &str| Component {
        ecosystem: eco.into(),
        name: "openssl".into(),
        version: "3.0.11-1~deb12u1".into(),
        package: "libssl3".into(),
        installed_version: "3.0.11-1~deb12u1".into(),
        purl: None,
        layer: None,
    };
    let source = StoreAdvisories::new(&store).unwrap();
    let report = match_in_store(
        &store,
        &source,
        &[component("Debian:12"), component("Alpine:v3.19")],
    )
    .unwrap();
    let ids: Vec<&str> = report.findings.iter().map(|f| f.vuln_id.as_str()).collect();
    assert_eq!(ids, ["DSA-1", "DSA-2"]);
}
