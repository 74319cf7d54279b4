//! Cross-check support shared by bulwark-vulndb's tests and the bulwark
//! crate's end-to-end npm cross-check (which includes this file by path):
//! the list of explained differences in `bulwark-vulndb/tests/crosscheck/`,
//! and node-semver, the independent npm evaluator (`tests/js/semver_osv.js`).
//! Uses only std, serde_json and tempfile, which both crates' tests have.

#![allow(dead_code, clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// bulwark-vulndb's `tests/` folder, from either crate.
fn vulndb_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bulwark-vulndb/tests")
}

/// The differences listed in `bulwark-vulndb/tests/crosscheck/FILE` (lines
/// starting with "- `DIFFERENCE`"), keeping only those `keep` accepts.
pub fn listed_differences(file: &str, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    let path = vulndb_tests().join("crosscheck").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .filter(|l| keep(l))
        .map(str::to_string)
        .collect()
}

/// Fails, listing both sides, unless `found` and `listed` are the same set:
/// every difference must be explained and every explanation still needed.
pub fn assert_differences_are_listed(found: &BTreeSet<String>, listed: &BTreeSet<String>) {
    let bullets = |set: Vec<&String>| {
        set.iter()
            .map(|s| format!("- `{s}`"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let unexplained: Vec<&String> = found.difference(listed).collect();
    let gone: Vec<&String> = listed.difference(found).collect();
    assert!(
        unexplained.is_empty() && gone.is_empty(),
        "unexplained differences:\n{}\nlisted but gone:\n{}",
        bullets(unexplained),
        bullets(gone)
    );
}

/// `node`, with `NODE_PATH` at the node-semver that `scripts/install-deps.sh`
/// put in `.cache/node`; panics naming what to run when node or semver is
/// missing.
fn node_with_semver() -> Command {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/node/node_modules");
    let node = || {
        let mut c = Command::new("node");
        c.env("NODE_PATH", &modules);
        c
    };
    let ok = node()
        .args(["-e", "require('semver')"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "node with the npm package semver is needed (looked in {}): run scripts/install-deps.sh \
         (it installs nodejs and semver into .cache/node)",
        modules.display()
    );
    node()
}

/// node-semver's verdict on each query (`{"affected": <OSV affected[]
/// entry>, "version": V}`): `Some(true|false)`, or `None` when it cannot
/// read a version of the query (its message is printed).
pub fn semver_verdicts(queries: &[serde_json::Value]) -> Vec<Option<bool>> {
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("queries.jsonl");
    let lines: Vec<String> = queries.iter().map(|q| q.to_string() + "\n").collect();
    std::fs::write(&input, lines.concat()).unwrap();
    let out = node_with_semver()
        .arg(vulndb_tests().join("js/semver_osv.js"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "semver_osv.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Option<bool>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match l {
            "1" => Some(true),
            "0" => Some(false),
            other => {
                println!("node-semver: {other}");
                None
            }
        })
        .collect();
    assert_eq!(verdicts.len(), queries.len(), "one verdict per query");
    verdicts
}
