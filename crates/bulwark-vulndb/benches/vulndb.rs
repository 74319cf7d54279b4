//! `cargo bench -p bulwark-vulndb`: import, match and re-match on the real
//! advisory data in `shared/data/osv`, each phase in its own process so its
//! peak RSS (VmHWM) is its own. Every number is printed next to a baseline
//! measured in the same run:
//!
//! * import: reading + parsing + validating every record without storing
//!   (baseline) vs the full import into a fresh store;
//! * match: looking each of 10,000 packages up in an in-memory key set
//!   (baseline) vs matching all of them (`match_components` on the store),
//!   once with every package having advisories (worst case) and once with
//!   1,000 of 10,000 (`match-mixed`);
//! * re-match: matching all 1,000 stored SBOMs again (baseline, what a
//!   scanner without key tracking does) vs importing a 1% advisory delta
//!   plus `rescan::rematch` (see [`rematch_phase`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use bulwark_vulndb::import::{Item, Limits, read_inputs};
use bulwark_vulndb::matcher::Component;
use bulwark_vulndb::osv::{Event, Record};
use bulwark_vulndb::rescan::{StoreAdvisories, match_in_store, rematch, scan_inventory_with};
use bulwark_vulndb::store::{Store, StoreError, StoredInventory};

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

fn data_dir() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/data"))
        .find(|d| d.join("SOURCES.md").is_file())
        .unwrap_or_else(|| panic!("shared/data not found above {}", start.display()))
}

fn inputs() -> Vec<PathBuf> {
    ARCHIVES.iter().map(|a| data_dir().join(a)).collect()
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time this thread has run (ns, from the scheduler): on a shared
/// machine wall time also counts the time spent waiting for a core.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn import_all(store: &Store) {
    for path in inputs() {
        store
            .import::<StoreError>("bench", SystemTime::now(), |imp| {
                read_inputs(
                    std::slice::from_ref(&path),
                    &Limits::default(),
                    &mut |item| {
                        if let Item::Record { record, .. } = item {
                            imp.put(&record).unwrap();
                        }
                        Ok(())
                    },
                )
                .unwrap();
                Ok(())
            })
            .unwrap();
    }
}

/// `n` components built from the store's own keys, at versions taken from
/// the records (each one's first fixed version, so some match other records).
fn components(store: &Store, n: usize, salt: usize) -> Vec<Component> {
    let mut keys: Vec<(String, String)> = store.all_keys().unwrap().into_iter().collect();
    keys.sort();
    let mut out = Vec::with_capacity(n);
    let mut i = salt;
    while out.len() < n {
        let (eco, name) = &keys[i % keys.len()];
        i += 7919;
        let version = store
            .advisories_for(eco, name)
            .unwrap()
            .iter()
            .flat_map(|v| {
                v.affected
                    .iter()
                    .flat_map(|a| a.ranges.iter().flat_map(|r| r.events.iter()))
            })
            .find_map(|e| match e {
                Event::Fixed(f) => Some(f.clone()),
                _ => None,
            });
        let Some(version) = version else { continue };
        out.push(Component {
            ecosystem: eco.clone(),
            name: name.clone(),
            version: version.clone(),
            package: format!("{name}-{}", out.len()),
            installed_version: version,
            purl: None,
            layer: None,
        });
    }
    out
}

/// 1,000 stored SBOMs of 300 packages: 20 base images of 100 packages,
/// each shared by 50 SBOMs, plus 200 application packages per SBOM from a
/// pool of 30,000 (so each appears in about 7 SBOMs). Then a 1% advisory
/// delta: every 100th record is re-published (later `modified`, edited
/// summary), as upstream edits do. Measured: importing the delta plus the
/// re-match it triggers. Baseline in the same run: matching every stored
/// SBOM again, which is what a scanner without key tracking has to do.
fn rematch_phase(db: &Path) -> (f64, f64, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let copy = dir.path().join("db.sqlite");
    std::fs::copy(db, &copy).unwrap();
    let store = Store::open_existing(&copy).unwrap();
    let now = "2026-01-01T00:00:00Z";
    let bases: Vec<Vec<Component>> = (0..20)
        .map(|b| components(&store, 100, 100_000 + b))
        .collect();
    let pool = components(&store, 30_000, 1);
    let shared = StoreAdvisories::new(&store).unwrap();
    for i in 0..1_000 {
        let mut comps = bases[i % bases.len()].clone();
        comps.extend((0..200).map(|k| pool[(i * 200 + k * 7) % pool.len()].clone()));
        let inv = StoredInventory {
            digest: format!("sha256:{i:064}"),
            reference: format!("img:{i}"),
            stored_at: now.into(),
            components: comps,
        };
        scan_inventory_with(&store, &shared, &inv, now).unwrap();
    }
    drop(shared);
    let t = Instant::now();
    let source = StoreAdvisories::new(&store).unwrap();
    for i in 0..1_000 {
        let inv = store
            .inventory(&format!("sha256:{i:064}"))
            .unwrap()
            .unwrap();
        match_in_store(&store, &source, &inv.components).unwrap();
    }
    let base = t.elapsed().as_secs_f64();
    let delta: Vec<Record> = store
        .record_ids()
        .unwrap()
        .iter()
        .step_by(100)
        .map(|id| {
            let mut raw = store.record(id).unwrap().unwrap();
            raw["modified"] = serde_json::json!("2030-01-01T00:00:00Z");
            raw["summary"] = serde_json::json!("changed by the benchmark");
            Record::from_value(raw).unwrap()
        })
        .collect();
    let (t, cpu) = (Instant::now(), cpu_secs());
    let summary = store
        .import::<StoreError>("delta", SystemTime::now(), |imp| {
            for r in &delta {
                imp.put(r).unwrap();
            }
            Ok(())
        })
        .unwrap();
    let imported = t.elapsed().as_secs_f64();
    let keys: BTreeSet<(String, String)> = summary.changed_keys;
    let re = rematch(&store, &keys, "2030-01-01T00:00:01Z").unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    (
        secs,
        base,
        format!(
            "cpu {cpu:.3} s; import {imported:.3} s + re-match {:.3} s; {} changed records ({} keys), {} of 1000 SBOMs and {} of 300000 packages re-matched, {} findings rewritten, {} events",
            secs - imported,
            summary.changed,
            keys.len(),
            re.rematched,
            re.components,
            re.updated,
            re.events.len()
        ),
    )
}

fn phase(name: &str, db: &Path) -> (f64, f64, String) {
    match name {
        "import-baseline" => {
            let t = Instant::now();
            let mut n = 0u64;
            read_inputs(&inputs(), &Limits::default(), &mut |item| {
                if matches!(item, Item::Record { .. }) {
                    n += 1;
                }
                Ok(())
            })
            .unwrap();
            (
                t.elapsed().as_secs_f64(),
                0.0,
                format!("{n} records read and validated"),
            )
        }
        "import" => {
            let _ = std::fs::remove_file(db);
            let t = Instant::now();
            let store = Store::open_or_create(db).unwrap();
            import_all(&store);
            let secs = t.elapsed().as_secs_f64();
            let size = std::fs::metadata(db).unwrap().len();
            let records = store.status().unwrap().records;
            (secs, 0.0, format!("{records} records, store {size} bytes"))
        }
        "match" => {
            let store = Store::open_existing(db).unwrap();
            let comps = components(&store, 10_000, 0);
            let keys = store.all_keys().unwrap();
            let t = Instant::now();
            let hits = comps
                .iter()
                .filter(|c| keys.contains(&(c.ecosystem.clone(), c.name.clone())))
                .count();
            let base = t.elapsed().as_secs_f64();
            let (t, cpu) = (Instant::now(), cpu_secs());
            let source = StoreAdvisories::new(&store).unwrap();
            let report = match_in_store(&store, &source, &comps).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu;
            (
                secs,
                base,
                format!(
                    "10000 packages ({hits} with advisories), {} findings; cpu {cpu:.3} s",
                    report.findings.len()
                ),
            )
        }
        "match-mixed" => {
            // 1,000 packages with advisories and 9,000 without (names no
            // record uses), in the same ecosystems: closer to a real image.
            let store = Store::open_existing(db).unwrap();
            let mut comps = components(&store, 1_000, 3);
            let clean: Vec<Component> = (0..9_000)
                .map(|i| {
                    let like = &comps[i % comps.len()];
                    Component {
                        name: format!("{}-clean-{i}", like.name),
                        package: format!("{}-clean-{i}", like.package),
                        ..like.clone()
                    }
                })
                .collect();
            comps.extend(clean);
            let keys = store.all_keys().unwrap();
            let t = Instant::now();
            let hits = comps
                .iter()
                .filter(|c| keys.contains(&(c.ecosystem.clone(), c.name.clone())))
                .count();
            let base = t.elapsed().as_secs_f64();
            let (t, cpu) = (Instant::now(), cpu_secs());
            let source = StoreAdvisories::new(&store).unwrap();
            let report = match_in_store(&store, &source, &comps).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu;
            (
                secs,
                base,
                format!(
                    "10000 packages ({hits} with advisories), {} findings; cpu {cpu:.3} s",
                    report.findings.len()
                ),
            )
        }
        "rematch" => rematch_phase(db),
        other => panic!("unknown phase {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(p) = args.iter().find_map(|a| a.strip_prefix("--phase=")) {
        let db = PathBuf::from(args.iter().find_map(|a| a.strip_prefix("--db=")).unwrap());
        let (secs, base, note) = phase(p, &db);
        println!("{secs} {base} {} {note}", peak_rss_kb());
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("vulndb.sqlite");
    let me = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    for p in [
        "import-baseline",
        "import",
        "match",
        "match-mixed",
        "rematch",
    ] {
        let out = Command::new(&me)
            .arg(format!("--phase={p}"))
            .arg(format!("--db={}", db.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "phase {p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mut parts = line.splitn(4, ' ');
        let secs: f64 = parts.next().unwrap().parse().unwrap();
        let base: f64 = parts.next().unwrap().parse().unwrap();
        let rss: u64 = parts.next().unwrap().parse().unwrap();
        let note = parts.next().unwrap_or("").to_string();
        results.push((p, secs, base, rss, note));
    }
    let import_base = results[0].1;
    println!(
        "{:<16} {:>10} {:>12} {:>8} {:>10}  note",
        "phase", "time", "baseline", "ratio", "peak RSS"
    );
    for (p, secs, base, rss, note) in &results {
        let base = if *p == "import" { import_base } else { *base };
        let ratio = if base > 0.0 {
            format!("{:.1}x", secs / base)
        } else {
            "-".into()
        };
        println!(
            "{p:<16} {:>8.3} s {:>10.3} s {ratio:>8} {:>7} MiB  {note}",
            secs,
            base,
            rss / 1024
        );
    }
}
