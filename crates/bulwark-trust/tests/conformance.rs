//! sigstore-conformance `bundle-verify` cases, run through our verifier.
//!
//! Origin: `sigstore+sigstore-conformance/test/assets/bundle-verify/` in
//! `../shared/data/sigstore.tar.zst`. Contract (its README): a case whose
//! directory ends in `_fail` must fail, every other case must pass; the
//! artifact is `artifact` or `../a.txt`; `key.pub` means key-based
//! verification; `identity`/`issuer` default to the conformance beacon
//! workflow; without `trusted_root.json` the public-good root applies
//! (sigstore-rust's embedded snapshot in the same archive). Every case runs
//! twice, with the artifact's bytes and with only its digest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use bulwark_trust::Digest;
use bulwark_trust::signature::{
    Authority, BlobSubject, IdentityMatch, PublicKey, TrustRoot, verify_blob_bundle,
};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn read_opt(dir: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(name)).ok()
}

fn run_case(dir: &Path, by_digest: bool) -> Result<(), String> {
    let base = common::sigstore();
    let root_bytes = read_opt(dir, "trusted_root.json").unwrap_or_else(|| {
        std::fs::read(
            base.join("sigstore+sigstore-rust/crates/sigstore-trust-root/src/trusted_root.json"),
        )
        .expect("public-good trusted root in the archive")
    });
    let root = TrustRoot::from_json(&root_bytes).map_err(|e| e.to_string())?;
    let artifact = read_opt(dir, "artifact")
        .unwrap_or_else(|| std::fs::read(dir.join("../a.txt")).expect("a.txt"));
    let authority = match read_opt(dir, "key.pub") {
        Some(pem) => Authority::Key {
            name: "key.pub".into(),
            key: PublicKey::from_pem(&String::from_utf8_lossy(&pem)).map_err(|e| e.to_string())?,
            ignore_tlog: false,
        },
        None => Authority::Keyless {
            name: "identity".into(),
            identity: IdentityMatch::Exact(text(dir, "identity", DEFAULT_IDENTITY)),
            issuer: text(dir, "issuer", DEFAULT_ISSUER),
        },
    };
    let bundle = std::fs::read(dir.join("bundle.sigstore.json")).expect("bundle.sigstore.json");
    let subject = if by_digest {
        BlobSubject::Digest(Digest::of(&artifact))
    } else {
        BlobSubject::Bytes(&artifact)
    };
    verify_blob_bundle(&bundle, subject, &authority, Some(&root))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn text(dir: &Path, name: &str, default: &str) -> String {
    read_opt(dir, name)
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_else(|| default.to_string())
}

#[test]
fn every_bundle_verify_case_passes_or_fails_as_its_name_says() {
    let cases_dir =
        common::sigstore().join("sigstore+sigstore-conformance/test/assets/bundle-verify");
    let mut cases: Vec<_> = std::fs::read_dir(&cases_dir)
        .expect("bundle-verify dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 70,
        "expected 70 cases, found {}",
        cases.len()
    );
    let (mut passed, mut wrong) = (0usize, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expect_fail = name.ends_with("_fail");
        for by_digest in [false, true] {
            let result = run_case(case, by_digest);
            let mode = if by_digest { "digest" } else { "file" };
            match (expect_fail, &result) {
                (false, Ok(())) | (true, Err(_)) => passed += 1,
                (false, Err(e)) => wrong.push(format!("{name} [{mode}]: should pass, failed: {e}")),
                (true, Ok(())) => wrong.push(format!("{name} [{mode}]: should fail, passed")),
            }
        }
    }
    println!(
        "sigstore-conformance bundle-verify: {} cases x 2 modes: {passed} as expected, {} not",
        cases.len(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
