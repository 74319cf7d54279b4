//! `bulwark db import|status`, `scan`, `findings`, `explain` end to end
//! through the real binary and a real SQLite store.
//!
//! Origin of the fixtures: the OSV records, the SBOM and the OpenVEX
//! document are written by this test (small hand-made records in the shape
//! of real PyPA, Debian and GHSA ones). SARIF and CycloneDX output is
//! validated against the official schemas: SARIF 2.1.0 from the npm
//! package @microsoft/jest-sarif, CycloneDX 1.6 from the PyPI package
//! cyclonedx-python-lib (both installed by scripts/install-deps.sh), run by
//! Python `jsonschema`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .output()
        .expect("run bulwark")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn record(id: &str, modified: &str, eco: &str, name: &str, events: Value, extra: Value) -> Value {
    let mut r = json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": modified,
        "summary": format!("{name} advisory"),
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        "references": [{"type": "ADVISORY", "url": format!("https://example.invalid/{id}")}],
    });
    if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    r
}

fn advisories(dir: &Path, jinja_fixed: &str, modified: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let jinja = record(
        "PYSEC-2019-1",
        modified,
        "PyPI",
        "jinja2",
        json!([{"introduced": "0"}, {"fixed": jinja_fixed}]),
        json!({"aliases": ["CVE-2019-10906"], "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}),
    );
    std::fs::write(
        dir.join("PYSEC-2019-1.json"),
        serde_json::to_vec(&jinja).unwrap(),
    )
    .unwrap();
    let openssl = record(
        "DSA-5532-1",
        "2023-10-01T00:00:00Z",
        "Debian:12",
        "openssl",
        json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]),
        json!({"aliases": ["CVE-2023-5363"], "database_specific": {"severity": "high"}}),
    );
    std::fs::write(
        dir.join("DSA-5532-1.yaml"),
        serde_yaml::to_string(&openssl).unwrap(),
    )
    .unwrap();
    let mut leftpad = record(
        "GHSA-aaaa-bbbb-cccc",
        "2024-01-01T00:00:00Z",
        "npm",
        "left-pad",
        json!([{"introduced": "0"}]),
        json!({"database_specific": {"severity": "LOW"}}),
    );
    leftpad["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
    std::fs::write(
        dir.join("GHSA-aaaa-bbbb-cccc.json"),
        serde_json::to_vec(&leftpad).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("broken.json"), br#"{"id": "GHSA-zzzz-zzzz-zzzz"}"#).unwrap();
}

fn sbom() -> Value {
    let layer = json!({"index": 0, "diff_id": "sha256:1111111111111111111111111111111111111111111111111111111111111111"});
    let pkg = |eco: &str, name: &str, version: &str, purl: &str, source: Value| {
        let mut p = json!({"ecosystem": eco, "name": name, "version": version, "purl": purl, "layer": layer, "paths": []});
        if !source.is_null() {
            p["source"] = source;
        }
        p
    };
    json!({
        "schema": "bulwark.sbom/v1",
        "source": {"kind": "oci-layout", "reference": "example.invalid/app:1",
                   "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"},
        "distro": {"id": "debian", "version_id": "12"},
        "layers": [layer],
        "packages": [
            pkg("deb", "libssl3", "3.0.11-1~deb12u1", "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12",
                json!({"name": "openssl", "version": "3.0.11-1~deb12u1"})),
            pkg("npm", "left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0", Value::Null),
            pkg("pypi", "jinja2", "2.10", "pkg:pypi/jinja2@2.10", Value::Null),
        ],
    })
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// Validates a document against an official schema with Python jsonschema.
fn assert_schema_valid(schema: &Path, doc: &Value) {
    assert!(
        schema.exists(),
        "schema {} missing: run scripts/install-deps.sh",
        schema.display()
    );
    let dir = TempDir::new().unwrap();
    let docs = dir.path().join("doc.jsonl");
    std::fs::write(&docs, serde_json::to_string(doc).unwrap() + "\n").unwrap();
    let venv = workspace().join(".cache/venv/bin/python3");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let script = workspace().join("crates/bulwark-vulndb/tests/py/jsonschema_verdicts.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(schema)
        .arg(&docs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jsonschema (run scripts/install-deps.sh): {}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "ok",
        "{} rejects the document",
        schema.display()
    );
}

fn cyclonedx_schema() -> PathBuf {
    let lib = workspace().join(".cache/venv/lib");
    let py = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/install-deps.sh", lib.display()))
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("python3.x in the venv");
    py.path()
        .join("site-packages/cyclonedx/schema/_res/bom-1.6.SNAPSHOT.schema.json")
}

#[test]
fn import_scan_rematch_findings_explain_end_to_end() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let feed = tmp.path().join("feed");
    advisories(&feed, "2.10.1", "2024-01-01T00:00:00Z");
    let sbom_path = tmp.path().join("sbom.json");
    std::fs::write(&sbom_path, serde_json::to_vec(&sbom()).unwrap()).unwrap();
    let sbom_arg = sbom_path.to_str().unwrap();

    let out = bulwark(&data, &["db", "import", feed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("3 added, 0 changed, 0 unchanged, 0 stale, 1 invalid"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("broken.json") && text(&out.stderr).contains("\"modified\""),
        "{}",
        text(&out.stderr)
    );

    let out = bulwark(&data, &["db", "status", "--json", "--verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["db"]["records"], 3);
    assert_eq!(status["staleness"]["state"], "fresh");

    // JSON: three findings, vendor severity first, source package mapping.
    let out = bulwark(&data, &["scan", "--sbom", sbom_arg, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let by_pkg = |p: &str| {
        findings
            .iter()
            .find(|f| f["package"] == p)
            .unwrap_or_else(|| panic!("no finding for {p}: {findings:?}"))
    };
    assert_eq!(findings.len(), 3);
    assert_eq!(by_pkg("jinja2")["severity"], "critical");
    assert_eq!(by_pkg("jinja2")["fixed_version"], "2.10.1");
    assert_eq!(by_pkg("libssl3")["source_package"], "openssl");
    assert_eq!(by_pkg("libssl3")["severity"], "high");
    assert_eq!(
        by_pkg("libssl3")["layer"],
        "sha256:1111111111111111111111111111111111111111111111111111111111111111"
    );
    assert_eq!(by_pkg("left-pad")["severity"], "low");
    let jinja_id = by_pkg("jinja2")["id"].as_str().unwrap().to_string();

    // --fail-on, --ignore-unfixed.
    assert_eq!(
        bulwark(&data, &["scan", "--sbom", sbom_arg, "--fail-on", "high"])
            .status
            .code(),
        Some(1)
    );
    let out = bulwark(
        &data,
        &[
            "scan",
            "--sbom",
            sbom_arg,
            "--format",
            "json",
            "--ignore-unfixed",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 2);

    // OpenVEX suppression by alias and purl.
    let vex = json!({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1",
        "author": "test", "timestamp": "2024-02-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2019-10906"}, "products": [{"@id": "pkg:pypi/jinja2@2.10"}],
                        "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]});
    let vex_path = tmp.path().join("app.openvex.json");
    std::fs::write(&vex_path, serde_json::to_vec(&vex).unwrap()).unwrap();
    let out = bulwark(
        &data,
        &[
            "scan",
            "--sbom",
            sbom_arg,
            "--format",
            "json",
            "--vex",
            vex_path.to_str().unwrap(),
            "--fail-on",
            "critical",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the only critical finding is suppressed"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["suppressed"][0]["finding"]["package"], "jinja2");

    // SARIF 2.1.0 and CycloneDX 1.6 VDR against the official schemas.
    let out = bulwark(&data, &["scan", "--sbom", sbom_arg, "--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 3);
    assert_schema_valid(
        &workspace().join(".cache/schemas/sarif-2.1.0-rtm.5.json"),
        &sarif,
    );
    let out = bulwark(
        &data,
        &[
            "scan",
            "--sbom",
            sbom_arg,
            "--format",
            "cyclonedx",
            "--vex",
            vex_path.to_str().unwrap(),
        ],
    );
    let cdx: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cdx["vulnerabilities"].as_array().unwrap().len(), 3);
    assert_schema_valid(&cyclonedx_schema(), &cdx);

    // A table for people.
    let out = bulwark(&data, &["scan", "--sbom", sbom_arg]);
    assert!(
        text(&out.stdout).contains("PACKAGE") && text(&out.stdout).contains("libssl3"),
        "{}",
        text(&out.stdout)
    );

    // The advisory changes: jinja2 2.10 is now fixed. Re-import re-matches
    // the stored SBOM and resolves the finding.
    advisories(&feed, "2.10", "2024-06-01T00:00:00Z");
    let out = bulwark(&data, &["db", "import", feed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 changed, 2 unchanged"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("re-matched 1 of 1 stored SBOMs: 0 new, 1 resolved"),
        "{}",
        text(&out.stdout)
    );
    let out = bulwark(&data, &["findings", "--since", "1h"]);
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let resolved: Vec<&Value> = events.iter().filter(|e| e["event"] == "resolved").collect();
    assert_eq!(resolved.len(), 1, "{events:?}");
    assert_eq!(resolved[0]["finding"]["package"], "jinja2");
    assert!(resolved[0]["first_seen"].as_str().unwrap() <= resolved[0]["at"].as_str().unwrap());
    assert_eq!(events.iter().filter(|e| e["event"] == "new").count(), 3);
    // Re-importing the same feed changes nothing and re-matches nothing.
    let out = bulwark(&data, &["db", "import", feed.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("0 added, 0 changed, 3 unchanged"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("re-matched 0 of 1"),
        "{}",
        text(&out.stdout)
    );

    // explain: record, range and the comparator that fired.
    let out = bulwark(&data, &["explain", &jinja_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("pep440: introduced 0 <= 2.10 < fixed 2.10.1"),
        "{s}"
    );
    assert!(
        s.contains("resolved:") && s.contains("\"PYSEC-2019-1\""),
        "{s}"
    );
}

#[test]
fn truncated_db_is_a_one_line_error_with_exit_2() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let feed = tmp.path().join("feed");
    advisories(&feed, "2.10.1", "2024-01-01T00:00:00Z");
    assert!(
        bulwark(&data, &["db", "import", feed.to_str().unwrap()])
            .status
            .success()
    );
    let db = data.join("vulndb/vulndb.sqlite");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let sbom_path = tmp.path().join("sbom.json");
    std::fs::write(&sbom_path, serde_json::to_vec(&sbom()).unwrap()).unwrap();
    let out = bulwark(&data, &["scan", "--sbom", sbom_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("corrupt or truncated") && err.contains("vulndb.sqlite"),
        "{err}"
    );
}

#[test]
fn unreadable_input_and_unknown_format_are_clear_errors() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let out = bulwark(&data, &["db", "import", "/nonexistent/feed.zip"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/feed.zip"),
        "{}",
        text(&out.stderr)
    );
    let odd = tmp.path().join("feed.rar");
    std::fs::write(&odd, b"x").unwrap();
    let out = bulwark(&data, &["db", "import", odd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not an advisory input"),
        "{}",
        text(&out.stderr)
    );
    let out = bulwark(&data, &["scan", "--sbom", "/nonexistent/sbom.json"]);
    assert_eq!(out.status.code(), Some(2));
}
