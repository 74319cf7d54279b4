//! Cross-check of npm matching against an independent evaluator: the OSV
//! algorithm run by node with node-semver, the version ordering npm itself
//! uses (`tests/js/semver_osv.js`), over every npm record in
//! `shared/data/osv/ghsa-sample.tar.zst` (the only npm advisories here: a
//! handful of GHSA records), at every version the record names (its
//! `versions` list, each event, just below each fix) and at every version of
//! the package published on the npm registry (`npm view PKG versions
//! --json`, fetched once per build directory and cached under `target/`).
//!
//! Every disagreement must be listed, with its explanation, in
//! `tests/crosscheck/npm-differences.md`; the test fails on any
//! disagreement that is not listed and on any listed one that is gone.
//! `npm audit` is not the oracle: it asks the registry's advisory endpoint,
//! which answers 405 from these machines, and it has no offline mode that
//! reads OSV records. The end-to-end check on a real installed environment
//! of old package versions is `crates/bulwark/tests/npm_env_crosscheck.rs`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use bulwark_vulndb::ecosystem::Ecosystem;
use bulwark_vulndb::matcher::evaluate;
use bulwark_vulndb::osv::{Affected, Event, Format, parse_record};
use serde_json::json;

/// Every version of `package` on the npm registry, cached under `target/`.
fn published_versions(package: &str) -> Vec<String> {
    let path = support::cached_fixture(&format!("npm-versions-{package}.json"), |out| {
        let got = Command::new("npm")
            .args(["view", package, "versions", "--json"])
            .output()
            .unwrap_or_else(|e| panic!("running npm view {package}: {e} (install nodejs)"));
        assert!(
            got.status.success(),
            "npm view {package} versions failed: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        std::fs::write(out, &got.stdout).unwrap();
    });
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The versions a record's affected entry names: its `versions`, each
/// event, and the highest prerelease-free version just below each fix.
fn named_versions(a: &Affected) -> BTreeSet<String> {
    let mut versions: BTreeSet<String> = a.versions.iter().cloned().collect();
    for r in &a.ranges {
        for e in &r.events {
            if e.value() != "0" && !matches!(e, Event::Limit(_)) {
                versions.insert(e.value().to_string());
            }
            if let Event::Fixed(f) = e
                && !f.contains('-')
            {
                versions.insert(format!("{f}-0"));
            }
        }
    }
    versions
}

#[test]
fn npm_matching_agrees_with_node_semver_or_the_difference_is_explained() {
    let root = support::unpacked("osv/ghsa-sample.tar.zst");
    let eco = Ecosystem::parse("npm").unwrap();
    let mut queries = Vec::new();
    let mut ours = Vec::new();
    let mut labels = Vec::new();
    let mut records = BTreeSet::new();
    for path in support::files_with_ext(&root, &[".json"]) {
        // The GHSA-format inputs of the converter tests are not OSV records.
        let Ok(rec) = parse_record(&std::fs::read(&path).unwrap(), Format::Json) else {
            continue;
        };
        for a in &rec.vuln.affected {
            let Some(package) = a.package.as_ref().filter(|p| p.ecosystem == "npm") else {
                continue;
            };
            records.insert(rec.vuln.id.clone());
            let mut versions = named_versions(a);
            versions.extend(published_versions(&package.name));
            for v in versions {
                queries.push(json!({"affected": serde_json::to_value(a).unwrap(), "version": v}));
                ours.push(evaluate(&eco, &v, a).map(|hit| hit.is_some()));
                labels.push(format!("{} {}@{v}", rec.vuln.id, package.name));
            }
        }
    }
    // 6 records (formidable, mixin-deep, shiba, i18next, jquery, marky-markdown),
    // over 600 published versions between them.
    assert_eq!(records.len(), 6, "npm records in the sample: {records:?}");
    assert!(queries.len() > 600, "only {} queries", queries.len());
    let theirs = support::semver_verdicts(&queries);
    let show = |v: Option<bool>| v.map_or("error".to_string(), |b| b.to_string());
    let mut differences = BTreeSet::new();
    for ((label, ours), theirs) in labels.iter().zip(&ours).zip(theirs) {
        let ours = ours.as_ref().ok().copied();
        if ours != theirs {
            differences.insert(format!(
                "{label} bulwark={} semver={}",
                show(ours),
                show(theirs)
            ));
        }
    }
    let listed = support::listed_differences("npm-differences.md", |l| l.starts_with("GHSA-"));
    println!(
        "{} queries, {} differences",
        queries.len(),
        differences.len()
    );
    support::assert_differences_are_listed(&differences, &listed);
}
