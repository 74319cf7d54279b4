//! `bulwark scan IMAGE` end to end on a real image: the Debian 12 fixture
//! image (mmdebstrap bookworm plus pip, npm, cargo-auditable and Go
//! layers) built by bulwark-sbom's `tests/fixtures/build-images.sh` and
//! cached under `target/sbom-fixtures`, read as an OCI layout, a docker
//! archive, a root filesystem and from a real registry (Debian's
//! docker-registry, pushed with skopeo), matched against the real advisory
//! data in `shared/data/osv` (Go vulndb, PyPA, RustSec, Debian DSA/DLA
//! lists) imported with `bulwark db import`.
//!
//! What the data allows: the Go binary's toolchain (`stdlib` v1.19.8 from
//! Debian's golang) has real Go vulndb findings in the layer that added
//! it. The Debian DSA/DLA lists end in March 2023, before bookworm's
//! release, and carry no `[bookworm]` lines, so the image's Debian packages
//! are looked up as `Debian:12` source packages and correctly find nothing.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod sbom_fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use bulwark_image::testutil::{RegistryAuth, TestRegistry};
use sbom_fixture::{fixture, shared_data};
use serde_json::{Value, json};
use tempfile::TempDir;

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// The real feeds, plus one record written here: no real advisory in the
/// data covers a bookworm package or lacks a fix for the Go toolchain, so
/// a hand-made Debian:12 record for glibc without a fixed version (id
/// `DSA-9999-1`, summary saying it is a test record) exercises the dpkg
/// binary-to-source mapping and `--ignore-unfixed` on the real image.
fn import_data(data: &Path, tmp: &Path) {
    let local = tmp.join("local-feed");
    std::fs::create_dir_all(&local).unwrap();
    let record = json!({"schema_version": "1.6.0", "id": "DSA-9999-1",
        "modified": "2026-01-01T00:00:00Z",
        "summary": "test record written by scan_image_cli.rs",
        "database_specific": {"severity": "high"},
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]});
    std::fs::write(
        local.join("DSA-9999-1.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    let mut feeds: Vec<String> = ["go", "pypi", "rustsec", "debian-lists"]
        .iter()
        .map(|f| {
            shared_data(&format!("osv/{f}.tar.zst"))
                .display()
                .to_string()
        })
        .collect();
    feeds.push(local.display().to_string());
    let mut args = vec!["db", "import"];
    args.extend(feeds.iter().map(String::as_str));
    ok(&bulwark(data, &args));
}

fn vuln_ids(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["vuln_id"], f["package"]))
        .collect()
}

#[test]
fn real_image_scans_with_findings_per_layer_from_every_input_kind() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    import_data(&data, tmp.path());
    let oci = fixture().join("oci");
    let oci = oci.to_str().unwrap();

    let report = json_of(&bulwark(&data, &["scan", oci, "--format", "json"]));
    let target = &report["target"];
    let digest = target["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{target}");
    assert_eq!(target["stored_as"], digest, "stored under the image digest");
    let layers = target["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6, "{target}");
    let go_layer = layers
        .iter()
        .find(|l| l["created_by"] == "cargo auditable build; go build")
        .unwrap_or_else(|| panic!("no layer made by the Go build step: {target}"));

    // Real Go vulndb findings for the Go toolchain's stdlib, in its layer.
    let findings = report["findings"].as_array().unwrap();
    let stdlib: Vec<&Value> = findings
        .iter()
        .filter(|f| f["package"] == "stdlib")
        .collect();
    assert!(
        stdlib.len() >= 10,
        "Go 1.19.8 has many stdlib advisories, got {}",
        stdlib.len()
    );
    for f in &stdlib {
        assert!(f["vuln_id"].as_str().unwrap().starts_with("GO-"), "{f}");
        assert_eq!(f["installed_version"], "v1.19.8");
        assert_eq!(f["layer"], go_layer["diff_id"], "{f}");
    }
    // The dpkg binary package matched through its source package, in the
    // base layer that installed it.
    let libc = findings
        .iter()
        .find(|f| f["vuln_id"] == "DSA-9999-1" && f["package"] == "libc6")
        .expect("the glibc record matches libc6");
    assert_eq!(libc["source_package"], "glibc");
    assert_eq!(libc["severity"], "high");
    assert!(libc["fixed_version"].is_null());
    assert_eq!(libc["layer"], layers[0]["diff_id"]);
    // Every finding names a layer of this image.
    let diff_ids: BTreeSet<&str> = layers
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap())
        .collect();
    for f in findings {
        assert!(diff_ids.contains(f["layer"].as_str().unwrap()), "{f}");
    }
    // The real Debian lists have no bookworm lines: no other Debian:12
    // finding.
    assert!(
        findings
            .iter()
            .all(|f| f["ecosystem"] != "Debian:12" || f["vuln_id"] == "DSA-9999-1"),
        "{findings:?}"
    );

    // The image's CIS section 4 checks are in the JSON report too.
    let checks = report["image_checks"].as_array().expect("image_checks");
    let healthcheck = checks
        .iter()
        .find(|c| c["id"] == "4.6")
        .unwrap_or_else(|| panic!("no 4.6 check: {checks:?}"));
    assert_eq!(healthcheck["status"], "fail", "{healthcheck}");

    // The table shows the layer column and which build step brought them.
    let table = ok(&bulwark(&data, &["scan", oci]));
    assert!(table.contains("LAYER"), "{table}");
    assert!(table.contains("cargo auditable build; go build"), "{table}");
    assert!(
        table.contains("CIS Docker Benchmark, section 4 (image):")
            && table.contains("  FAIL  4.6   Ensure that HEALTHCHECK"),
        "the image's CIS checks follow the findings: {table}"
    );

    // --fail-on: the glibc record is high, the Go vulndb records carry no
    // severity (unknown); without the unfixed glibc finding nothing is high.
    let code = |args: &[&str]| {
        let mut all = vec!["scan", oci];
        all.extend_from_slice(args);
        bulwark(&data, &all).status.code()
    };
    assert_eq!(code(&["--fail-on", "high"]), Some(1));
    assert_eq!(code(&["--fail-on", "critical"]), Some(0));
    assert_eq!(code(&["--fail-on", "high", "--ignore-unfixed"]), Some(0));
    assert_eq!(code(&["--fail-on", "unknown", "--ignore-unfixed"]), Some(1));

    // --ignore-unfixed leaves out exactly the findings without a fix.
    let fixed = findings
        .iter()
        .filter(|f| f["fixed_version"].is_string())
        .count();
    let glibc = findings
        .iter()
        .filter(|f| f["vuln_id"] == "DSA-9999-1")
        .count();
    assert_eq!(
        fixed,
        findings.len() - glibc,
        "all but the glibc record name a fix"
    );
    let only_fixed = json_of(&bulwark(
        &data,
        &["scan", oci, "--format", "json", "--ignore-unfixed"],
    ));
    assert_eq!(only_fixed["findings"].as_array().unwrap().len(), fixed);

    // OpenVEX: a not_affected statement for one stdlib advisory and the
    // package's purl suppresses exactly that finding.
    let victim = stdlib[0];
    let vex = json!({"@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.invalid/vex/stdlib", "author": "test",
        "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": victim["vuln_id"]},
                        "products": [{"@id": victim["purl"]}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path"}]});
    let vex_path = tmp.path().join("stdlib.openvex.json");
    std::fs::write(&vex_path, serde_json::to_vec(&vex).unwrap()).unwrap();
    let suppressed = json_of(&bulwark(
        &data,
        &[
            "scan",
            oci,
            "--format",
            "json",
            "--vex",
            vex_path.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        suppressed["findings"].as_array().unwrap().len(),
        findings.len() - 1
    );
    assert_eq!(suppressed["suppressed"][0]["finding"]["id"], victim["id"]);

    // The same image as a docker archive (stored under its image ID, as a
    // docker archive has no manifest digest) and as a root filesystem.
    let want = vuln_ids(&report);
    let archive = fixture().join("debian.tar");
    let from_archive = json_of(&bulwark(
        &data,
        &["scan", archive.to_str().unwrap(), "--format", "json"],
    ));
    assert_eq!(vuln_ids(&from_archive), want);
    assert!(
        from_archive["target"]["stored_as"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let rootfs = fixture().join("rootfs");
    let from_rootfs = json_of(&bulwark(
        &data,
        &["scan", rootfs.to_str().unwrap(), "--format", "json"],
    ));
    assert_eq!(vuln_ids(&from_rootfs), want);

    // From a real registry, picking the platform.
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    registry.push_oci_layout(&fixture().join("oci"), Some("bookworm"), "fixture:bookworm");
    let reference = format!("{}/fixture:bookworm", registry.host());
    let from_registry = json_of(&bulwark(
        &data,
        &[
            "scan",
            &reference,
            "--insecure",
            "--platform",
            "linux/amd64",
            "--format",
            "json",
        ],
    ));
    assert_eq!(vuln_ids(&from_registry), want);

    // Every scanned image is stored for the continuous re-match, and its
    // findings were recorded as `new` events.
    let status = json_of(&bulwark(&data, &["db", "status", "--json"]));
    assert!(
        status["db"]["stored_sboms"].as_u64().unwrap() >= 3,
        "{status}"
    );
    let events = ok(&bulwark(&data, &["findings", "--since", "1h"]));
    assert!(
        events.lines().any(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["event"] == "new" && e["image_digest"] == digest
        }),
        "{events}"
    );
}

#[test]
fn unreadable_image_is_a_one_line_error_and_nothing_is_stored() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let feed = tmp.path().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    std::fs::write(
        feed.join("GO-2024-0001.json"),
        serde_json::to_vec(&json!({"id": "GO-2024-0001", "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.20.0"}]}]}]}))
        .unwrap(),
    )
    .unwrap();
    ok(&bulwark(&data, &["db", "import", feed.to_str().unwrap()]));
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar archive at all").unwrap();
    let out = bulwark(&data, &["scan", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("junk.tar"), "{err}");
    let out = bulwark(&data, &["scan"]);
    assert_eq!(out.status.code(), Some(2), "IMAGE or --sbom is required");
    let status = json_of(&bulwark(&data, &["db", "status", "--json"]));
    assert_eq!(status["db"]["stored_sboms"], 0);
}
