//! Import of the real advisory data in `shared/data/osv` (every archive),
//! then boundary probes derived from the records themselves: at each
//! `introduced`, just below and at each `fixed`, at `last_affected` (CI:
//! every 4th record by id; all of them under `bench/vulndb-full-checks.sh`).
//! Also: re-importing is a no-op, a changed record is detected, and a
//! corrupt or truncated store gives a clear error.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bulwark_vulndb::ecosystem::Ecosystem;
use bulwark_vulndb::import::{Item, Limits, read_inputs};
use bulwark_vulndb::matcher::{AdvisorySource, Candidate, Component, match_components};
use bulwark_vulndb::osv::{Event, RangeType, Vulnerability};
use bulwark_vulndb::rescan::StoreAdvisories;
use bulwark_vulndb::store::{ImportSummary, Store, StoreError};
use bulwark_vulndb::version::Scheme;
use tempfile::TempDir;

const ARCHIVES: [&str; 8] = [
    "osv/rustsec.tar.zst",
    "osv/go.tar.zst",
    "osv/pypi.tar.zst",
    "osv/almalinux.tar.zst",
    "osv/oss-fuzz.tar.zst",
    "osv/ghsa-sample.tar.zst",
    "osv/debian-lists.tar.zst",
    "osv/alpine-secdb.tar.zst",
];

fn import(store: &Store, path: &PathBuf) -> ImportSummary {
    store
        .import::<StoreError>(&path.display().to_string(), SystemTime::now(), |imp| {
            read_inputs(
                std::slice::from_ref(path),
                &Limits::default(),
                &mut |item| {
                    match item {
                        Item::Record { record, .. } => {
                            imp.put(&record).unwrap();
                        }
                        Item::Invalid { .. } => imp.invalid(),
                    }
                    Ok(())
                },
            )
            .unwrap();
            Ok(())
        })
        .unwrap()
}

/// One store with everything imported, built once per build directory
/// (the import summaries are kept beside it), opened by every test.
fn fixture() -> &'static (PathBuf, Vec<(String, ImportSummary)>) {
    static F: OnceLock<(PathBuf, Vec<(String, ImportSummary)>)> = OnceLock::new();
    F.get_or_init(|| {
        let data = support::data_dir();
        let inputs: Vec<PathBuf> = ARCHIVES.iter().map(|a| data.join(a)).collect();
        let key = format!(
            "all-osv-{}-s{}-{}.sqlite",
            env!("CARGO_PKG_VERSION"),
            bulwark_vulndb::store::SCHEMA_VERSION,
            support::inputs_key(&inputs)
        );
        let path = support::cached_fixture(&key, |out| {
            let store = Store::open_or_create(out).unwrap();
            let summaries: Vec<(String, ImportSummary)> = ARCHIVES
                .iter()
                .zip(&inputs)
                .map(|(a, p)| (a.to_string(), import(&store, p)))
                .collect();
            let counts: Vec<(String, [u64; 4])> = summaries
                .into_iter()
                .map(|(a, s)| (a, [s.added, s.changed, s.unchanged, s.invalid]))
                .collect();
            let summary = out.with_file_name(format!("{key}.summary.json"));
            std::fs::write(summary, serde_json::to_vec(&counts).unwrap()).unwrap();
        });
        let summary = std::fs::read(path.with_file_name(format!("{key}.summary.json"))).unwrap();
        let counts: Vec<(String, [u64; 4])> = serde_json::from_slice(&summary).unwrap();
        let summaries = counts
            .into_iter()
            .map(|(a, [added, changed, unchanged, invalid])| {
                (
                    a,
                    ImportSummary {
                        added,
                        changed,
                        unchanged,
                        invalid,
                        ..Default::default()
                    },
                )
            })
            .collect();
        (path, summaries)
    })
}

/// A private copy of the fixture store, for tests that write.
fn copy_of_fixture() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    std::fs::copy(&fixture().0, &path).unwrap();
    (dir, path)
}

fn open() -> Store {
    Store::open_existing(&fixture().0).unwrap()
}

#[test]
fn every_archive_imports_and_bad_records_are_counted_not_fatal() {
    let (_, summaries) = fixture();
    for (archive, s) in summaries {
        println!(
            "{archive}: {} added, {} changed, {} unchanged, {} invalid",
            s.added, s.changed, s.unchanged, s.invalid
        );
        assert!(s.added > 0, "{archive} imported nothing");
    }
    let status = open().status().unwrap();
    assert!(status.records > 28_000, "{} records", status.records);
    // PyPA has 7 records whose GIT events are not full commit hashes; the
    // GHSA sample holds 11 GraphQL (non-OSV) inputs and one bad CVSS vector.
    let invalid: BTreeMap<&str, u64> = summaries
        .iter()
        .map(|(a, s)| (a.as_str(), s.invalid))
        .collect();
    assert_eq!(invalid["osv/pypi.tar.zst"], 7);
    assert_eq!(invalid["osv/ghsa-sample.tar.zst"], 12);
    assert_eq!(invalid["osv/debian-lists.tar.zst"], 0);
    assert_eq!(invalid["osv/alpine-secdb.tar.zst"], 0);
}

#[test]
fn reimporting_unchanged_records_is_a_no_op() {
    let (_dir, path) = copy_of_fixture();
    let store = Store::open_existing(&path).unwrap();
    let before = store.status().unwrap().records;
    let s = import(&store, &support::data_dir().join("osv/rustsec.tar.zst"));
    assert_eq!((s.added, s.changed), (0, 0));
    assert!(s.unchanged > 1_000);
    assert!(s.changed_keys.is_empty());
    assert_eq!(store.status().unwrap().records, before);
}

/// A version just below `v` under `scheme`, when one can be written.
fn just_below(scheme: Scheme, v: &str) -> Option<String> {
    let candidate = match scheme {
        Scheme::Dpkg | Scheme::Rpm => format!("{v}~"),
        Scheme::SemVer | Scheme::Go if !v.contains('-') => format!("{v}-0"),
        Scheme::Pep440 => format!("{v}.dev0"),
        Scheme::Maven => format!("{v}-alpha"),
        Scheme::Apk => match v.rsplit_once("-r") {
            Some((base, rev)) if rev.parse::<u64>().is_ok_and(|r| r > 0) => {
                format!("{base}-r{}", rev.parse::<u64>().ok()? - 1)
            }
            Some((base, _)) => format!("{base}_alpha-r0"),
            None => format!("{v}_alpha"),
        },
        _ => return None,
    };
    (scheme.compare(&candidate, v).ok()? == std::cmp::Ordering::Less).then_some(candidate)
}

struct Probe {
    ecosystem: String,
    name: String,
    version: String,
    want_affected: bool,
    what: &'static str,
    vuln: String,
}

fn probes_of(v: &Vulnerability) -> Vec<Probe> {
    let mut out = Vec::new();
    let entries_for = |p: &bulwark_vulndb::osv::Package| {
        v.affected
            .iter()
            .filter(|a| {
                a.package
                    .as_ref()
                    .is_some_and(|q| q.name == p.name && q.ecosystem == p.ecosystem)
            })
            .count()
    };
    for a in &v.affected {
        let Some(pkg) = &a.package else { continue };
        let Ok(eco) = Ecosystem::parse(&pkg.ecosystem) else {
            continue;
        };
        // A "not affected" expectation holds only when nothing else in the
        // record could cover the probe: the package's only entry, with one
        // range of one interval and no version list.
        let simple = entries_for(pkg) == 1
            && a.ranges.len() == 1
            && a.versions.is_empty()
            && a.ranges[0].events.len() == 2;
        for r in &a.ranges {
            let scheme = match (r.kind, eco.scheme()) {
                (RangeType::Git, _) => continue,
                (RangeType::SemVer, _) if eco.base() == "Go" => Scheme::Go,
                (RangeType::SemVer, _) => Scheme::SemVer,
                (RangeType::Ecosystem, Some(s)) => s,
                (RangeType::Ecosystem, None) => continue,
            };
            let mut probe = |version: &str, want: bool, what| {
                if scheme.parse(version).is_ok() {
                    out.push(Probe {
                        ecosystem: pkg.ecosystem.clone(),
                        name: pkg.name.clone(),
                        version: version.to_string(),
                        want_affected: want,
                        what,
                        vuln: v.id.clone(),
                    });
                }
            };
            let mut introduced: Option<&str> = None;
            for (k, e) in r.events.iter().enumerate() {
                match e {
                    Event::Introduced(i) => {
                        introduced = Some(i);
                        // `[x, x)` is empty: no probe at its start.
                        let empty = matches!(r.events.get(k + 1), Some(Event::Fixed(f)) if f == i);
                        if i != "0" && !empty {
                            probe(i, true, "at introduced");
                        }
                    }
                    Event::Fixed(f) => {
                        if simple {
                            probe(f, false, "at fixed");
                        }
                        if let Some(below) = just_below(scheme, f) {
                            let above_intro = introduced.is_none_or(|i| {
                                i == "0" || scheme.compare(&below, i).is_ok_and(|o| o.is_ge())
                            });
                            if above_intro {
                                probe(&below, true, "just below fixed");
                            }
                        }
                    }
                    Event::LastAffected(l) => probe(l, true, "at last_affected"),
                    Event::Limit(_) => {}
                }
            }
        }
    }
    out
}

/// An advisory source holding one record, digested per key as the store
/// digests it.
struct OneRecord(HashMap<(String, String), Arc<Candidate>>);

impl OneRecord {
    fn new(vuln: &Vulnerability) -> Self {
        OneRecord(
            Candidate::all_of(vuln)
                .into_iter()
                .map(|(k, c)| (k, Arc::new(c)))
                .collect(),
        )
    }
}

impl AdvisorySource for OneRecord {
    type Error = std::convert::Infallible;
    fn advisories(&self, eco: &str, name: &str) -> Result<Vec<Arc<Candidate>>, Self::Error> {
        Ok(self
            .0
            .get(&(eco.to_string(), name.to_string()))
            .cloned()
            .into_iter()
            .collect())
    }
}

#[test]
fn boundary_probes_from_every_record_hold() {
    let store = open();
    let all_ids = store.record_ids().unwrap();
    let total_records = all_ids.len();
    let stmt_ids = support::sample(all_ids, 4);
    let mut counts: BTreeMap<(String, &'static str), (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for id in &stmt_ids {
        let raw = store.record(id).unwrap().unwrap();
        let vuln: Vulnerability = serde_json::from_value(raw).unwrap();
        if vuln.withdrawn.is_some() {
            continue;
        }
        let probes = probes_of(&vuln);
        let components: Vec<Component> = probes
            .iter()
            .enumerate()
            .map(|(i, p)| Component {
                ecosystem: p.ecosystem.clone(),
                name: p.name.clone(),
                version: p.version.clone(),
                // A distinct package name per probe keeps findings apart.
                package: format!("probe-{i}"),
                installed_version: p.version.clone(),
                purl: None,
                layer: None,
            })
            .collect();
        // The record alone: each probe's expectation is about this record.
        let report = match_components(&components, &OneRecord::new(&vuln)).unwrap();
        for (i, p) in probes.iter().enumerate() {
            let package = format!("probe-{i}");
            let got = report
                .findings
                .iter()
                .any(|f| f.vuln_id == p.vuln && f.package == package);
            let base = Ecosystem::parse(&p.ecosystem).unwrap().base().to_string();
            let entry = counts.entry((base, p.what)).or_default();
            entry.0 += 1;
            if got != p.want_affected {
                entry.1 += 1;
                failures.push(format!(
                    "{} {} {} {} ({}): want affected={}, got {got}",
                    p.vuln, p.ecosystem, p.name, p.version, p.what, p.want_affected
                ));
            }
        }
    }
    let total: usize = counts.values().map(|c| c.0).sum();
    for ((eco, what), (n, bad)) in &counts {
        println!("{eco:>12} {what:<18} {n:>7} probes, {bad} wrong");
    }
    println!(
        "{total} probes over {} of {total_records} records",
        stmt_ids.len()
    );
    let want = if support::full_checks() {
        20_000
    } else {
        5_000
    };
    assert!(total > want, "only {total} probes");
    assert!(
        failures.is_empty(),
        "{} of {total} probes wrong:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn dpkg_binary_package_matches_through_its_source_package() {
    let store = open();
    let source = StoreAdvisories::new(&store).unwrap();
    // libssl1.1 is built from the openssl source package; DSA-4963-1 fixed
    // openssl 1.1.1d-0+deb10u7 in buster (Debian 10).
    let c = Component {
        ecosystem: "Debian:10".into(),
        name: "openssl".into(),
        version: "1.1.1d-0+deb10u6".into(),
        package: "libssl1.1".into(),
        installed_version: "1.1.1d-0+deb10u6".into(),
        purl: None,
        layer: None,
    };
    let report = match_components(std::slice::from_ref(&c), &source).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.vuln_id == "DSA-4963-1")
        .expect("DSA-4963-1 for libssl1.1 via openssl");
    assert_eq!(f.package, "libssl1.1");
    assert_eq!(f.source_package.as_deref(), Some("openssl"));
    assert_eq!(f.fixed_version.as_deref(), Some("1.1.1d-0+deb10u7"));
    // The binary name alone finds nothing: no name guessing.
    let by_binary = Component {
        name: "libssl1.1".into(),
        ..c
    };
    assert!(
        match_components(&[by_binary], &source)
            .unwrap()
            .findings
            .is_empty()
    );
}

#[test]
fn truncated_store_is_reported_as_corrupt() {
    let (_dir, copy) = copy_of_fixture();
    let len = std::fs::metadata(&copy).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    f.set_len(len / 2).unwrap();
    let err = Store::open_existing(&copy)
        .err()
        .expect("truncated store must not open");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains("corrupt or truncated") && msg.contains("vulndb.sqlite"),
        "{msg}"
    );
}

#[test]
fn garbage_file_is_not_taken_for_a_store() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open_existing(&path).err().unwrap();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    // Nothing was written over it.
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 4096]);
}

#[test]
fn missing_store_names_the_fix() {
    let dir = TempDir::new().unwrap();
    let err = Store::open_existing(&dir.path().join("nope.sqlite"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("bulwark db import"), "{err}");
}
