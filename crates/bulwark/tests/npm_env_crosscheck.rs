//! npm cross-check end to end: a small environment of real old package
//! versions (`tests/npm_env/package.json`: jquery, mixin-deep, i18next and
//! formidable at versions inside and outside the ranges of the GHSA records
//! in `shared/data/osv/ghsa-sample.tar.zst`, several versions of one package
//! side by side through `npm:` aliases) is resolved and installed by the
//! real npm client from the npm registry (`tests/npm_env/build-env.sh`,
//! once per build directory, cached under `target/tmp/`), then scanned by
//! the real `bulwark scan DIR` with the sample imported by `bulwark db
//! import`. Its findings are compared with node-semver's evaluation of the
//! same records (read as plain JSON) at every package npm wrote into the
//! environment's `package-lock.json`, and the packages bulwark catalogued
//! with the packages of that lock file.
//!
//! Every difference must be listed, with its explanation, in
//! `crates/bulwark-vulndb/tests/crosscheck/npm-differences.md` (lines
//! starting `lock ` or `inventory `); the test fails on an unlisted one and
//! on a listed one that is gone. `npm audit` cannot be the oracle: the
//! registry's advisory endpoint answers 405 from these machines.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../bulwark-vulndb/tests/support/crosscheck.rs"]
mod crosscheck;
mod sbom_fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sbom_fixture::shared_data;
use serde_json::{Value, json};
use tempfile::TempDir;

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The installed environment, built once per build directory and inputs.
fn environment() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/npm_env");
    let mut key: u64 = 0xcbf29ce484222325;
    for file in ["package.json", "build-env.sh"] {
        for b in std::fs::read(src.join(file)).unwrap() {
            key = (key ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).unwrap();
    let dir = base.join(format!("npm-crosscheck-env-{key:016x}"));
    let lock = std::fs::File::create(base.join("npm-crosscheck-env.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("package-lock.json").exists() {
        let partial = base.join("npm-crosscheck-env.partial");
        let _ = std::fs::remove_dir_all(&partial);
        let status = Command::new("bash")
            .arg(src.join("build-env.sh"))
            .arg(&partial)
            .status()
            .unwrap_or_else(|e| panic!("running build-env.sh: {e}"));
        assert!(
            status.success(),
            "tests/npm_env/build-env.sh failed: npm and the npm registry are needed"
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).unwrap();
    }
    dir
}

/// The packages of an npm v3 lock file as (name, version): the name is the
/// entry's `name` (set for `npm:` aliases) or its path after the last
/// `node_modules/`.
fn lock_packages(lock: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, entry) in lock["packages"].as_object().unwrap() {
        let Some((_, dir_name)) = path.rsplit_once("node_modules/") else {
            continue; // "" is the project itself
        };
        let name = entry["name"].as_str().unwrap_or(dir_name);
        let version = entry["version"].as_str().unwrap();
        out.insert((name.to_string(), version.to_string()));
    }
    out
}

/// The npm `affected[]` entries of the sample's OSV records, by package name,
/// read as plain JSON (the GHSA-format inputs of the converter tests have no
/// `affected` and are skipped).
fn npm_affected(archive: &Path) -> BTreeMap<String, Vec<(String, Value)>> {
    let tmp = TempDir::new().unwrap();
    let status = Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success(), "unpacking {}", archive.display());
    let mut out: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    let mut stack = vec![tmp.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(rec) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
                continue;
            };
            let id = rec["id"].as_str().unwrap_or_default().to_string();
            for a in rec["affected"].as_array().into_iter().flatten() {
                if a["package"]["ecosystem"] == "npm" {
                    let name = a["package"]["name"].as_str().unwrap().to_string();
                    out.entry(name).or_default().push((id.clone(), a.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn installed_old_npm_packages_scan_like_node_semver_evaluates_their_lock_file() {
    let env = environment();
    let archive = shared_data("osv/ghsa-sample.tar.zst");
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    ok(&bulwark(
        &data,
        &["db", "import", archive.to_str().unwrap()],
    ));
    let report = ok(&bulwark(
        &data,
        &["scan", env.to_str().unwrap(), "--format", "json"],
    ));

    let lock: Value =
        serde_json::from_slice(&std::fs::read(env.join("package-lock.json")).unwrap()).unwrap();
    let installed = lock_packages(&lock);
    let affected = npm_affected(&archive);
    let mut queries = Vec::new();
    let mut labels = Vec::new();
    for (name, version) in &installed {
        for (id, a) in affected.get(name).into_iter().flatten() {
            queries.push(json!({"affected": a, "version": version}));
            labels.push(format!("{id} {name}@{version}"));
        }
    }
    let verdicts = crosscheck::semver_verdicts(&queries);
    let expected: BTreeSet<String> = labels
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| **v == Some(true))
        .map(|(l, _)| l.clone())
        .collect();
    let found: BTreeSet<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ecosystem"] == "npm")
        .map(|f| {
            let (id, name, version) = (&f["vuln_id"], &f["package"], &f["installed_version"]);
            format!(
                "{} {}@{}",
                id.as_str().unwrap(),
                name.as_str().unwrap(),
                version.as_str().unwrap()
            )
        })
        .collect();
    let catalogued: BTreeSet<(String, String)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "npm")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_string();
            (s("name"), s("version"))
        })
        .collect();

    // The environment must exercise both verdicts on several records, or the
    // comparison proves nothing.
    let ids: BTreeSet<&str> = expected
        .iter()
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(ids.len() >= 4, "affected records hit: {ids:?}");
    assert!(verdicts.contains(&Some(false)), "no unaffected version");
    assert!(installed.len() > 20, "lock file packages: {installed:?}");

    let mut differences = BTreeSet::new();
    for l in expected.symmetric_difference(&found) {
        let ours = found.contains(l);
        differences.insert(format!("lock {l} bulwark={ours} semver={}", !ours));
    }
    for (name, version) in installed.symmetric_difference(&catalogued) {
        let ours = catalogued.contains(&(name.clone(), version.clone()));
        differences.insert(format!(
            "inventory {name}@{version} bulwark={ours} lock={}",
            !ours
        ));
    }
    println!(
        "{} lock packages, {} queries, {} expected findings, {} found, {} differences",
        installed.len(),
        queries.len(),
        expected.len(),
        found.len(),
        differences.len()
    );
    let listed = crosscheck::listed_differences("npm-differences.md", |l| {
        l.starts_with("lock ") || l.starts_with("inventory ")
    });
    crosscheck::assert_differences_are_listed(&differences, &listed);
}
