//! Test support: find `shared/data` and unpack its archives once per test
//! binary.
//!
//! Origin of the data: `/work/shared/data` (see its README.md and
//! SOURCES.md), found by walking up from this crate's manifest directory to
//! the first ancestor that holds `shared/data/SOURCES.md`.

#![allow(dead_code, clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

mod crosscheck;
#[allow(unused_imports)]
pub use crosscheck::*;

/// The `shared/data` folder. Panics naming the paths looked at when absent.
pub fn data_dir() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        let candidate = dir.join("shared/data");
        if candidate.join("SOURCES.md").is_file() {
            return candidate;
        }
    }
    panic!(
        "shared test data not found: no ancestor of {} has shared/data/SOURCES.md",
        start.display()
    );
}

/// Unpacks `shared/data/<archive>` (a `.tar.zst`) into a temp dir that
/// lives as long as the test binary, once, and returns its path.
pub fn unpacked(archive: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static TempDir>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = cache.get(archive) {
        return dir.path().to_path_buf();
    }
    let path = data_dir().join(archive);
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("shared test data {} missing: {e}", path.display()));
    let decoder = zstd::Decoder::new(file).expect("zstd decoder");
    let dir = TempDir::new().expect("temp dir");
    tar::Archive::new(decoder)
        .unpack(dir.path())
        .unwrap_or_else(|e| panic!("unpacking {}: {e}", path.display()));
    let dir: &'static TempDir = Box::leak(Box::new(dir));
    cache.insert(archive.to_string(), dir);
    dir.path().to_path_buf()
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// The Python that `scripts/install-deps.sh` set up (`.cache/venv`), or
/// `python3` on PATH; panics naming what to run when `module` is missing.
pub fn python_with(module: &str) -> PathBuf {
    let venv = workspace_root().join(".cache/venv/bin/python3");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python module {module:?} not importable by {}: run scripts/install-deps.sh \
         (it installs scripts/python-requirements.txt into .cache/venv)",
        python.display()
    );
    python
}

/// Runs `tests/py/jsonschema_verdicts.py` on `docs`: one verdict per doc,
/// `None` when the official schema accepts it, else the message.
pub fn jsonschema_verdicts(schema: &Path, docs: &[serde_json::Value]) -> Vec<Option<String>> {
    let python = python_with("jsonschema");
    let dir = TempDir::new().expect("temp dir");
    let input = dir.path().join("docs.jsonl");
    let mut text = String::new();
    for d in docs {
        text.push_str(&serde_json::to_string(d).expect("json"));
        text.push('\n');
    }
    std::fs::write(&input, text).expect("write docs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/jsonschema_verdicts.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(schema)
        .arg(&input)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "jsonschema_verdicts.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Option<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| (l != "ok").then(|| l.trim_start_matches("bad\t").to_string()))
        .collect();
    assert_eq!(verdicts.len(), docs.len(), "one verdict per document");
    verdicts
}

/// Every file under `root` whose name ends in one of `exts`, sorted.
pub fn files_with_ext(root: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if exts.iter().any(|e| path.to_string_lossy().ends_with(e)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A fixture file built once per build directory (shared by test binaries
/// and nextest's per-test processes) under `CARGO_TARGET_TMPDIR`: `build`
/// writes it to the path it is given; a lock file keeps concurrent test
/// processes from building it twice. `key` must change whenever the inputs
/// or the format change.
pub fn cached_fixture(key: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bulwark-vulndb-fixtures");
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let path = dir.join(key);
    let lock = std::fs::File::create(dir.join(format!("{key}.lock"))).expect("lock file");
    lock.lock().expect("lock fixture");
    if !path.exists() {
        let partial = dir.join(format!("{key}.partial"));
        let _ = std::fs::remove_file(&partial);
        build(&partial);
        std::fs::rename(&partial, &path).expect("publish fixture");
    }
    path
}

/// A key that changes when any of `files` changes (size and mtime).
pub fn inputs_key(files: &[PathBuf]) -> String {
    let mut parts = Vec::new();
    for f in files {
        let m = std::fs::metadata(f)
            .unwrap_or_else(|e| panic!("shared test data {} missing: {e}", f.display()));
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        parts.push(format!("{}:{}", m.len(), mtime));
    }
    let joined = parts.join(",");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in joined.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Whether the full data checks run (`BULWARK_VULNDB_FULL=1`, set by
/// `bench/vulndb-full-checks.sh`) rather than CI's deterministic sample.
pub fn full_checks() -> bool {
    std::env::var("BULWARK_VULNDB_FULL").is_ok_and(|v| v == "1")
}

/// Every `step`-th item of `items` (sorted by the caller, so the sample is
/// the same on every run and machine), or all of them under
/// [`full_checks`]. The items kept are spread over the whole input: every
/// archive, ecosystem and record shape keeps its share.
pub fn sample<T>(items: Vec<T>, step: usize) -> Vec<T> {
    let step = if full_checks() { 1 } else { step.max(1) };
    items.into_iter().step_by(step).collect()
}

/// A stored inventory of two PyPI packages, jinja2 2.10 (affected by the
/// hand-made PYSEC-2019-1 records of the store tests) and markupsafe 2.10
/// (no advisory), under `digest`, stored at 2026-01-01.
pub fn jinja_app_inventory(digest: &str) -> bulwark_vulndb::store::StoredInventory {
    use bulwark_vulndb::matcher::Component;
    let jinja = Component {
        ecosystem: "PyPI".into(),
        name: "jinja2".into(),
        version: "2.10".into(),
        package: "jinja2".into(),
        installed_version: "2.10".into(),
        purl: Some("pkg:pypi/jinja2@2.10".into()),
        layer: None,
    };
    let clean = Component {
        name: "markupsafe".into(),
        package: "markupsafe".into(),
        purl: None,
        ..jinja.clone()
    };
    bulwark_vulndb::store::StoredInventory {
        digest: digest.into(),
        reference: "example.invalid/app:1".into(),
        stored_at: "2026-01-01T00:00:00Z".into(),
        components: vec![jinja, clean],
    }
}
