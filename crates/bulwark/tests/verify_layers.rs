//! `bulwark verify` rules that read the image's layers, on a real image:
//! `findings` limits from a scan against the vulnerability DB, and CIS 4.8
//! (no set-uid/set-gid files added above the trusted base).
//!
//! Origin of the fixtures:
//! - the image is bulwark-sbom's real Debian bookworm fixture (built by
//!   `crates/bulwark-sbom/tests/fixtures/build-images.sh`, cached under
//!   `target/sbom-fixtures`): a minbase layer, then dpkg, pip, npm, a Rust
//!   and a Go binary, and removals; its squashed `rootfs/` (umoci unpack)
//!   is the oracle for set-uid files;
//! - the advisories are the real Go vulnerability DB in
//!   `../shared/data/osv/go.tar.zst`, imported by `bulwark db import` into a
//!   store cached under `target/tmp` (the Go binary was built with Debian's
//!   Go 1.19, which those advisories affect);
//! - this test adds, in an OCI layout of its own (layer blobs hard-linked
//!   from the fixture): the fixture's first layer as a base image signed by
//!   a key made here, and a derived image whose extra layer adds set-uid
//!   files; the OpenVEX document is written here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sbom_fixture;
mod trust_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bulwark_image::testutil::{RegistryAuth, TarBuilder, TestRegistry};
use bulwark_trust::evidence::MemoryStore;
use bulwark_trust::signature::{KeyKind, SigningKey, media_types};
use bulwark_trust::{Digest, ImageRef};
use sbom_fixture::{fixture, shared_data};
use serde_json::{Value, json};
use trust_support::write_layout;

const BASE: &str = "registry.example/base/debian:12";
const APP: &str = "registry.example/team/debian:1";
const ESCALATING: &str = "registry.example/team/escalating:1";

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .env("BULWARK_DB_ON_STALE", "ignore")
        .output()
        .unwrap()
}

/// A data directory whose vulnerability DB holds the real Go advisories,
/// built once (under a lock, so parallel test processes share it).
fn go_vulndb() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trust-vulndb-go");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    let archive = shared_data("osv/go.tar.zst");
    assert!(archive.exists(), "{} missing", archive.display());
    let data = dir.join("data");
    if !dir.join(".done").exists() {
        let _ = std::fs::remove_dir_all(&data);
        let out = bulwark(&data, &["db", "import", archive.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::write(dir.join(".done"), b"").unwrap();
    }
    data
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

struct Env {
    dir: tempfile::TempDir,
    key: SigningKey,
}

/// The fixture's manifest and config.
fn fixture_image() -> (Vec<u8>, Value, Value) {
    let oci = fixture().join("oci");
    let index = read_json(&oci.join("index.json"));
    let digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let manifest_bytes = std::fs::read(oci.join("blobs/sha256").join(digest.hex())).unwrap();
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let config_digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let config = read_json(&oci.join("blobs/sha256").join(config_digest.hex()));
    (manifest_bytes, manifest, config)
}

fn put(store: &MemoryStore, image: &str, mut manifest: Value, config: &Value) -> Digest {
    let r: ImageRef = image.parse().unwrap();
    let config_bytes = config.to_string().into_bytes();
    manifest["config"]["size"] = json!(config_bytes.len());
    manifest["config"]["digest"] = json!(store.put_blob(&r, config_bytes).to_string());
    let tag = r.tag().unwrap().to_string();
    store.put_manifest(
        &r,
        Some(&tag),
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().into_bytes(),
    )
}

/// A layer adding set-id files: one set-uid, one set-gid, a hard link to
/// the set-uid one whose own header says 0644 (same inode: still set-uid),
/// a set-gid directory (not a file), and `usr/bin/chsh` rewritten without
/// its set-uid bit.
fn escalating_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("usr/local/bin/")
        .file_mode("usr/local/bin/escalate", b"#!/bin/sh\nexec sh\n", 0o4755)
        .file_mode("usr/local/bin/wall-g", b"#!/bin/sh\n", 0o2755)
        .hardlink("usr/local/bin/escalate-link", "usr/local/bin/escalate")
        .file_mode("usr/bin/chsh", b"#!/bin/sh\n", 0o755)
        .finish()
}

fn setup() -> Env {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let layout = dir.path().join("layout");
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let store = MemoryStore::new();
    let (manifest_bytes, manifest, config) = fixture_image();

    // The fixture itself, unchanged (same manifest digest).
    let app: ImageRef = APP.parse().unwrap();
    store.put_manifest(
        &app,
        Some("1"),
        "application/vnd.oci.image.manifest.v1+json",
        manifest_bytes,
    );

    // Its first layer as a signed base image.
    let mut base_manifest = manifest.clone();
    base_manifest["layers"] = json!([manifest["layers"][0]]);
    let mut base_config = config.clone();
    base_config["rootfs"]["diff_ids"] = json!([config["rootfs"]["diff_ids"][0]]);
    base_config["history"] = json!([config["history"][0]]);
    let base_digest = put(&store, BASE, base_manifest, &base_config);
    let base: ImageRef = BASE.parse().unwrap();
    let (payload, ann) = key.simple_signing_layer(&base, &base_digest).unwrap();
    store.put_cosign_tag(
        &base,
        &base_digest,
        "sig",
        vec![(media_types::SIMPLE_SIGNING, payload, ann)],
    );

    // The fixture plus a layer that adds set-id files.
    let escalating: ImageRef = ESCALATING.parse().unwrap();
    let tar = escalating_layer();
    let layer_digest = store.put_blob(&escalating, tar.clone());
    let mut esc_manifest = manifest.clone();
    esc_manifest["layers"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": layer_digest.to_string(), "size": tar.len()}));
    let mut esc_config = config.clone();
    esc_config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(layer_digest.to_string()));
    esc_config["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created_by": "COPY escalate /usr/local/bin/"}));
    put(&store, ESCALATING, esc_manifest, &esc_config);

    write_layout(&store, &layout);
    let theirs = fixture().join("oci/blobs/sha256");
    for entry in std::fs::read_dir(&theirs).unwrap() {
        let entry = entry.unwrap();
        let ours = layout.join("blobs/sha256").join(entry.file_name());
        if !ours.exists() {
            std::fs::hard_link(entry.path(), &ours)
                .or_else(|_| std::fs::copy(entry.path(), &ours).map(drop))
                .unwrap();
        }
    }
    Env { dir, key }
}

impl Env {
    fn policy(&self, body: &str) -> PathBuf {
        let pem: String = self
            .key
            .public_key_pem()
            .unwrap()
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect();
        let text = format!(
            "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: layers\nspec:\n  images: ['registry.example/team/**']\n  authorities:\n    - name: base\n      key:\n        ignoreTlog: true\n        pem: |\n{pem}{body}"
        );
        let path = self.dir.path().join("policy.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `bulwark verify IMAGE` from this test's layout.
    fn verify(&self, data: &Path, image: &str, policy: &Path, extra: &[&str]) -> (i32, Value) {
        let layout = self.dir.path().join("layout");
        let mut args = vec!["--layout", layout.to_str().unwrap()];
        args.extend_from_slice(extra);
        verify(data, image, policy, &args)
    }
}

/// `bulwark verify IMAGE --format json` with `extra` flags: exit code and
/// the verdict.
fn verify(data: &Path, image: &str, policy: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "verify",
        image,
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = bulwark(data, &args);
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr));
    });
    (out.status.code().unwrap(), verdict)
}

fn rule<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name}: {verdict:#}"))
}

/// Set-id regular files in the fixture's squashed rootfs (the oracle).
fn rootfs_setid_files() -> Vec<String> {
    let out = Command::new("find")
        .arg(fixture().join("rootfs"))
        .args(["-type", "f", "-perm", "/6000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let root = fixture().join("rootfs");
    let mut files: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches(root.to_str().unwrap()).to_string())
        .collect();
    files.sort();
    files
}

fn count_in(reason: &str, before: &str) -> usize {
    let head = reason
        .split(before)
        .next()
        .unwrap_or_else(|| panic!("{before:?} not in {reason:?}"));
    head.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn findings_limits_count_the_real_images_vulnerabilities_from_the_db() {
    let env = setup();
    let data = go_vulndb();
    let policy = env.policy(
        "  findings:\n    - {severity: unknown, fixable: true, max: 0}\n    - {severity: high, max: 0}\n",
    );
    let (code, verdict) = env.verify(&data, APP, &policy, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    assert_eq!(verdict["outcome"], "deny");
    let any = rule(&verdict, "findings/unknown-fixable");
    assert_eq!(any["passed"], false);
    let reason = any["reason"].as_str().unwrap();
    assert!(reason.contains("GO-"), "{reason}");
    assert!(reason.contains("in stdlib@v1.19.8"), "{reason}");
    // The Go DB rates nothing: no finding is high or worse.
    let high = rule(&verdict, "findings/high");
    assert_eq!(high["passed"], true, "{high:#}");

    // The same count as `bulwark scan` over the image's SBOM.
    let sbom = env.dir.path().join("sbom.json");
    let oci = fixture().join("oci");
    let out = bulwark(
        &data,
        &[
            "sbom",
            oci.to_str().unwrap(),
            "--format",
            "json",
            "-o",
            sbom.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let scan_data = env.dir.path().join("scan-data");
    std::fs::create_dir_all(scan_data.join("vulndb")).unwrap();
    std::fs::copy(
        data.join("vulndb/vulndb.sqlite"),
        scan_data.join("vulndb/vulndb.sqlite"),
    )
    .unwrap();
    let out = bulwark(
        &scan_data,
        &["scan", "--sbom", sbom.to_str().unwrap(), "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fixed: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixed_version"].is_string())
        .collect();
    assert!(!fixed.is_empty());
    assert_eq!(
        count_in(reason, "findings"),
        fixed.len(),
        "verify and scan disagree: {reason}"
    );

    // OpenVEX statements for every one of them: the limit passes.
    let statements: Vec<Value> = fixed
        .iter()
        .map(|f| {
            json!({"vulnerability": {"name": f["vuln_id"]},
            "products": [{"@id": APP}], "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"})
        })
        .collect();
    let vex = env.dir.path().join("app.openvex.json");
    std::fs::write(
        &vex,
        json!({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1",
            "author": "verify_layers test", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
            "statements": statements})
        .to_string(),
    )
    .unwrap();
    let (code, verdict) = env.verify(&data, APP, &policy, &["--vex", vex.to_str().unwrap()]);
    assert_eq!(code, 0, "{verdict:#}");
    assert_eq!(rule(&verdict, "findings/unknown-fixable")["passed"], true);
}

#[test]
fn findings_limits_fail_closed_without_a_usable_vulnerability_db() {
    let env = setup();
    let policy = env.policy("  findings:\n    - {severity: critical, max: 0}\n");
    let empty = env.dir.path().join("no-data");
    let (code, verdict) = env.verify(&empty, APP, &policy, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    let reason = rule(&verdict, "findings/critical")["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.starts_with("vulnerability scan failed: no vulnerability DB at"),
        "{reason}"
    );
    assert!(!empty.exists(), "verify must not create a data directory");
}

#[test]
fn setuid_files_above_the_trusted_base_are_refused_and_the_base_ones_counted() {
    let env = setup();
    let data = env.dir.path().join("unused-data");
    let policy = env.policy(&format!(
        "  trustedBases:\n    - {{image: '{BASE}', authorities: [base]}}\n  config:\n    noSetuidAdded: true\n"
    ));
    let oracle = rootfs_setid_files();
    assert!(oracle.contains(&"/usr/bin/su".to_string()), "{oracle:?}");

    let (code, verdict) = env.verify(&data, APP, &policy, &[]);
    assert_eq!(code, 0, "{verdict:#}");
    assert_eq!(rule(&verdict, "base")["passed"], true);
    let r = rule(&verdict, "config/no-setuid-added");
    assert_eq!(r["cis"], "4.8");
    let reason = r["reason"].as_str().unwrap();
    assert_eq!(
        count_in(reason, "in the base"),
        oracle.len(),
        "{reason} vs {oracle:?}"
    );

    let (code, verdict) = env.verify(&data, ESCALATING, &policy, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    let reason = rule(&verdict, "config/no-setuid-added")["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.starts_with("3 set-uid/set-gid file(s) above the trusted base's 1 layer(s):"),
        "{reason}"
    );
    for want in [
        "/usr/local/bin/escalate (4755, layer 6)",
        "/usr/local/bin/escalate-link (4755, layer 6)",
        "/usr/local/bin/wall-g (2755, layer 6)",
    ] {
        assert!(reason.contains(want), "{want} missing: {reason}");
    }
}

#[test]
fn without_a_trusted_base_every_setuid_file_counts_unless_allowed() {
    let env = setup();
    let data = env.dir.path().join("unused-data");
    let oracle = rootfs_setid_files();
    let policy = env.policy("  config:\n    noSetuidAdded: true\n");
    let (code, verdict) = env.verify(&data, APP, &policy, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    let reason = rule(&verdict, "config/no-setuid-added")["reason"]
        .as_str()
        .unwrap();
    assert_eq!(
        count_in(reason, "set-uid/set-gid"),
        oracle.len(),
        "{reason}"
    );

    // The escalating image rewrote chsh without its bit: one fewer from
    // the base, three more of its own; allow exactly the image's list.
    let allowed: String = oracle
        .iter()
        .filter(|p| *p != "/usr/bin/chsh")
        .map(|p| format!("      - {p}\n"))
        .collect();
    let policy = env.policy(&format!(
        "  config:\n    noSetuidAdded: true\n    allowSetuid:\n{allowed}      - /usr/local/bin/escalate\n      - /usr/local/bin/escalate-link\n      - /usr/local/bin/wall-g\n"
    ));
    let (code, verdict) = env.verify(&data, ESCALATING, &policy, &[]);
    assert_eq!(code, 0, "{verdict:#}");
    let reason = rule(&verdict, "config/no-setuid-added")["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains(&format!("{} allowed", oracle.len() - 1 + 3)),
        "{reason}"
    );
}

#[test]
fn layers_come_from_the_registry_at_the_verified_digest_each_blob_fetched_once() {
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    registry.push_oci_layout(&fixture().join("oci"), Some("bookworm"), "team/debian:1");
    let env = setup();
    let data = go_vulndb();
    let text = format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: registry\nspec:\n  images: ['{}/**']\n  findings:\n    - {{severity: unknown, fixable: true, max: 0}}\n  config:\n    noSetuidAdded: true\n",
        registry.host()
    );
    let policy = env.dir.path().join("registry-policy.yaml");
    std::fs::write(&policy, text).unwrap();
    let image = format!("{}/team/debian:1", registry.host());
    let (code, from_registry) = verify(&data, &image, &policy, &["--plain-http"]);
    assert_eq!(code, 1, "{from_registry:#}");
    // Findings and set-id files come from one walk: every layer blob was
    // downloaded once.
    let (_, manifest, _) = fixture_image();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        assert_eq!(
            registry.blob_fetches(digest),
            1,
            "{digest}: {:?}",
            registry.requests()
        );
    }
    let setid = rule(&from_registry, "config/no-setuid-added")["reason"]
        .as_str()
        .unwrap();
    assert_eq!(
        count_in(setid, "set-uid/set-gid"),
        rootfs_setid_files().len(),
        "{setid}"
    );
    // The same findings as from the layout.
    let layout_policy =
        env.policy("  findings:\n    - {severity: unknown, fixable: true, max: 0}\n");
    let (_, from_layout) = env.verify(&data, APP, &layout_policy, &[]);
    assert_eq!(
        rule(&from_registry, "findings/unknown-fixable")["reason"],
        rule(&from_layout, "findings/unknown-fixable")["reason"]
    );
}

#[test]
fn ambiguous_layout_names_fail_closed_instead_of_reading_another_images_layers() {
    let env = setup();
    let layout = env.dir.path().join("layout");
    // A second index entry under the app's name, pointing at the
    // escalating image: which layers belong to the app is now ambiguous.
    let index_path = layout.join("index.json");
    let mut index = read_json(&index_path);
    let manifests = index["manifests"].as_array_mut().unwrap();
    let named =
        |m: &Value, name: &str| m["annotations"]["org.opencontainers.image.ref.name"] == name;
    let app = manifests.iter().find(|m| named(m, APP)).unwrap().clone();
    let mut other = manifests
        .iter()
        .find(|m| named(m, ESCALATING))
        .unwrap()
        .clone();
    other["annotations"]["org.opencontainers.image.ref.name"] = json!(APP);
    manifests.retain(|m| !named(m, APP));
    manifests.push(app.clone());
    manifests.push(other);
    std::fs::write(&index_path, index.to_string()).unwrap();

    let policy =
        env.policy("  config:\n    noSetuidAdded: true\n    allowSetuid: ['/usr/bin/su']\n");
    let pinned = format!("{APP}@{}", app["digest"].as_str().unwrap());
    let (code, verdict) = env.verify(&env.dir.path().join("no-data"), &pinned, &policy, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    let reason = rule(&verdict, "config/no-setuid-added")["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.starts_with("layers could not be inspected:"),
        "{reason}"
    );
}
