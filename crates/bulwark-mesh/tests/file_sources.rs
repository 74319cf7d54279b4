//! The files a running proxy re-reads: SVID PEM files (FileSource) and
//! AccessPolicy files (PolicyFiles). A good change is swapped in; a broken
//! one is refused and the current material stays in force.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bulwark_identity::store::pem;
use bulwark_identity::x509::{CertInfo, X509Svid};
use bulwark_mesh::{FileSource, IdentityHandle, PolicyFiles, PolicySet};
use common::*;

const EVERY: Duration = Duration::from_millis(20);

fn write_svid(dir: &Path, pki: &Pki, svid: &X509Svid) -> FileSource {
    let chain: String = svid.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
    std::fs::write(dir.join("svid.pem"), chain).unwrap();
    let mut key = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dir.join("svid.key"))
        .unwrap();
    key.write_all(pem("PRIVATE KEY", &svid.key_pkcs8).as_bytes())
        .unwrap();
    let roots: String = pki
        .ca
        .bundle()
        .x509_authorities()
        .iter()
        .map(|c| pem("CERTIFICATE", c))
        .collect();
    std::fs::write(dir.join("bundle.pem"), roots).unwrap();
    FileSource {
        cert: dir.join("svid.pem"),
        key: dir.join("svid.key"),
        bundle: dir.join("bundle.pem"),
    }
}

fn serial(handle: &IdentityHandle) -> String {
    CertInfo::parse(&handle.current().key.cert[0])
        .unwrap()
        .serial_hex
}

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(EVERY).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_svid_files_are_swapped_in_and_broken_ones_refused() {
    let pki = Pki::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let source = write_svid(dir.path(), &pki, &pki.issue(WEB));
    let handle = IdentityHandle::new(source.load().unwrap());
    let first = serial(&handle);
    source.clone().watch(Arc::clone(&handle), EVERY);

    let renewed = pki.issue(WEB);
    let want = CertInfo::parse(&renewed.chain[0]).unwrap().serial_hex;
    write_svid(dir.path(), &pki, &renewed);
    eventually("the renewed SVID", || serial(&handle) == want).await;
    assert_ne!(want, first);

    std::fs::write(&source.cert, "not a certificate").unwrap();
    // Several polls later the renewed SVID is still the one in use.
    tokio::time::sleep(EVERY * 10).await;
    assert_eq!(serial(&handle), want);
}

/// A renewal rewrites the files one by one: a poll may see the new
/// certificate next to the old key. That pair is refused (a handshake with
/// it would fail); the complete renewal is swapped in at the next change.
#[test]
fn a_renewal_caught_half_written_is_refused_then_taken_whole_in_thread() {
    let pki = Pki::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let source = write_svid(dir.path(), &pki, &pki.issue(WEB));
    let handle = IdentityHandle::new(source.load().unwrap());
    let first = serial(&handle);
    // No Tokio runtime here: the agent's uplink watches from its own thread.
    source
        .clone()
        .watch_in_thread(Arc::clone(&handle), EVERY)
        .unwrap();

    let old_key = std::fs::read(&source.key).unwrap();
    let renewed = pki.issue(WEB);
    let want = CertInfo::parse(&renewed.chain[0]).unwrap().serial_hex;
    write_svid(dir.path(), &pki, &renewed);
    std::fs::write(&source.key, &old_key).unwrap();
    let err = source.load().unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
    std::thread::sleep(EVERY * 10);
    assert_eq!(serial(&handle), first, "a mismatched pair is never used");

    write_svid(dir.path(), &pki, &renewed);
    for _ in 0..500 {
        if serial(&handle) == want {
            return;
        }
        std::thread::sleep(EVERY);
    }
    panic!("the completed renewal was not swapped in");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_edits_are_swapped_in_and_broken_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, allow_web_to_api()).unwrap();
    let files = PolicyFiles::new(vec![path.clone()]);
    let set = Arc::new(ArcSwap::from_pointee(files.load().unwrap()));
    files.watch(Arc::clone(&set), EVERY);
    let names =
        |s: &PolicySet| -> Vec<String> { s.policies().iter().map(|p| p.name.clone()).collect() };
    assert_eq!(names(&set.load()), ["web-to-api"]);

    std::fs::write(&path, allow(EVIL, API, "")).unwrap();
    eventually("the edited policy", || {
        names(&set.load()) == ["evil-to-api"]
    })
    .await;

    std::fs::write(&path, "kind: [").unwrap();
    tokio::time::sleep(EVERY * 10).await;
    assert_eq!(names(&set.load()), ["evil-to-api"]);

    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(EVERY * 10).await;
    assert_eq!(
        names(&set.load()),
        ["evil-to-api"],
        "a missing file keeps the set"
    );
}
