//! Cross-check of PyPI matching against an independent evaluator: the OSV
//! algorithm run by Python with `packaging`'s PEP 440 ordering
//! (`tests/py/pep440_osv.py`) over every PyPA record in
//! `shared/data/osv/pypi.tar.zst`, at every version the record names
//! (its `versions` list, each event, and just below each fix).
//!
//! Every disagreement must be listed, with its explanation, in
//! `tests/crosscheck/pypi-differences.md`; the test fails on any
//! disagreement that is not listed and on any listed one that is gone.
//! (pip-audit cannot be used here: it needs an advisory service.)
//!
//! CI checks every 3rd record file (by path) and the listed differences of
//! those records; `bench/vulndb-full-checks.sh` runs all of them.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use bulwark_vulndb::ecosystem::Ecosystem;
use bulwark_vulndb::matcher::evaluate;
use bulwark_vulndb::osv::{Event, Format, parse_record};
use bulwark_vulndb::version::Scheme;
use serde_json::json;

#[test]
fn pypi_matching_agrees_with_packaging_or_the_difference_is_explained() {
    let root = support::unpacked("osv/pypi.tar.zst");
    let mut queries = Vec::new();
    let mut ours = Vec::new();
    let mut labels = Vec::new();
    let eco = Ecosystem::parse("PyPI").unwrap();
    let mut checked_ids = BTreeSet::new();
    for path in support::sample(support::files_with_ext(&root, &[".yaml"]), 3) {
        let Ok(rec) = parse_record(&std::fs::read(&path).unwrap(), Format::Yaml) else {
            continue;
        };
        checked_ids.insert(rec.vuln.id.clone());
        for a in &rec.vuln.affected {
            let mut versions: BTreeSet<String> = a.versions.iter().cloned().collect();
            for r in &a.ranges {
                for e in &r.events {
                    if e.value() != "0" && !matches!(e, Event::Limit(_)) {
                        versions.insert(e.value().to_string());
                    }
                    if let Event::Fixed(f) = e {
                        versions.insert(format!("{f}.dev0"));
                    }
                }
            }
            for v in versions {
                // Both sides read only valid PEP 440 (packaging >= 22 has no legacy versions).
                let Ok(parsed) = Scheme::Pep440.parse(&v) else {
                    continue;
                };
                let bulwark_vulndb::version::Version::Pep440(p) = parsed else {
                    continue;
                };
                if !p.is_pep440() {
                    continue;
                }
                let Ok(hit) = evaluate(&eco, &v, a) else {
                    continue;
                };
                queries.push(json!({"affected": serde_json::to_value(a).unwrap(), "version": v}));
                ours.push(hit.is_some());
                labels.push((rec.vuln.id.clone(), v));
            }
        }
    }
    let want = if support::full_checks() {
        140_000
    } else {
        40_000
    };
    assert!(queries.len() > want, "only {} queries", queries.len());
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("q.jsonl");
    let lines: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let python = support::python_with("packaging");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/pep440_osv.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(theirs.len(), ours.len());
    let mut differences = BTreeSet::new();
    for ((label, ours), theirs) in labels.iter().zip(&ours).zip(&theirs) {
        let theirs = match theirs.as_str() {
            "1" => true,
            "0" => false,
            _ => continue,
        };
        if *ours != theirs {
            differences.insert(format!(
                "{} {} bulwark={} packaging={}",
                label.0, label.1, ours, theirs
            ));
        }
    }
    let listed = support::listed_differences("pypi-differences.md", |l| {
        l.split(' ')
            .next()
            .is_some_and(|id| checked_ids.contains(id))
    });
    println!(
        "{} queries, {} differences",
        queries.len(),
        differences.len()
    );
    support::assert_differences_are_listed(&differences, &listed);
}
