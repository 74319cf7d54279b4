//! Interop with the `spiffe` package from PyPI (py-spiffe) as a separate
//! process: the identity it gets depends only on what the kernel says about
//! it (uid, cgroup, container), and a caller no entry matches is refused.
//!
//! Needs root (to set the child's uid and cgroup), python3 with the `spiffe`
//! package (scripts/python-requirements.txt, installed into .cache/venv by
//! scripts/install-deps.sh), runc and busybox-static for the container case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bulwark_testkit::{Container, TestCgroup};
use common::{Server, entry};
use serde_json::Value;

/// The Python that has py-spiffe: the repo's venv first, then `python3`.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        root.join(".cache/venv/bin/python3"),
        PathBuf::from("python3"),
    ];
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import spiffe"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!(
        "no python3 with the `spiffe` package: run scripts/install-deps.sh (scripts/python-requirements.txt)"
    );
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/py_spiffe_client.py")
}

/// Runs the py-spiffe client, placed by `place` (e.g. into a cgroup) before
/// it connects as `uid`, and returns its JSON report.
fn run_client(socket: &Path, uid: u32, place: impl FnOnce(u32)) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(client_script())
        .arg(socket)
        .arg(uid.to_string())
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    place(child.id());
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.wait().unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("client printed {line:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn py_spiffe_caller_gets_the_identity_of_its_uid_and_cgroup() {
    let blue = TestCgroup::create("identity-py-blue").unwrap();
    let green = TestCgroup::create("identity-py-green").unwrap();
    let server = Server::start(&[
        entry(
            "blue",
            "spiffe://example.org/blue",
            &format!("{{uid: 65534, cgroup: {}}}", blue.path()),
            "",
        ),
        entry(
            "green",
            "spiffe://example.org/green",
            &format!("{{uid: 0, cgroup: {}}}", green.path()),
            "",
        ),
    ])
    .await;
    let socket = server.socket.clone();

    let out = tokio::task::spawn_blocking({
        let socket = socket.clone();
        move || run_client(&socket, 65534, |pid| blue.add(pid).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(out["x509"], "spiffe://example.org/blue", "{out}");
    assert_eq!(out["chain_len"], 2, "{out}");
    assert_eq!(out["x509_authorities"], 1, "{out}");
    assert_eq!(out["jwt"], "spiffe://example.org/blue", "{out}");
    assert_eq!(
        out["jwt_local"], "spiffe://example.org/blue",
        "PyJWT verified our ES256 token: {out}"
    );
    assert_eq!(out["jwt_server"], "spiffe://example.org/blue", "{out}");

    let out = tokio::task::spawn_blocking({
        let socket = socket.clone();
        move || run_client(&socket, 0, |pid| green.add(pid).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(out["x509"], "spiffe://example.org/green", "{out}");

    // Same uid as blue, but not in blue's cgroup: nothing.
    let out = tokio::task::spawn_blocking(move || run_client(&socket, 65534, |_| {}))
        .await
        .unwrap();
    let err = out["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("PERMISSION_DENIED") && err.contains("no identity issued"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn py_spiffe_caller_in_a_runc_container_gets_the_identity_of_its_image() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let container = Container::builder("identity-wl")
        .args(["sleep", "60"])
        .image("registry.test/payments:1", Some(&digest))
        .annotation("io.kubernetes.cri-o.Labels", r#"{"app":"payments"}"#)
        .start()
        .unwrap();
    let by_image =
        format!("{{container: {{imageDigest: \"{digest}\", labels: {{app: payments}}}}}}");
    let server = Server::start(&[
        entry("payments", "spiffe://example.org/payments", &by_image, ""),
        entry(
            "other-image",
            "spiffe://example.org/other",
            "{container: {imageDigest: \"sha256:00\"}}",
            "",
        ),
    ])
    .await;
    let socket = server.socket.clone();
    let procs = container.cgroup_v2_dir().unwrap().join("cgroup.procs");
    let out = tokio::task::spawn_blocking(move || {
        // A process of the container: placed in the container's cgroup, where
        // the kernel (not the process) says it belongs.
        run_client(&socket, 0, |pid| {
            std::fs::write(&procs, pid.to_string()).unwrap()
        })
    })
    .await
    .unwrap();
    assert_eq!(out["x509"], "spiffe://example.org/payments", "{out}");

    // The same client on the host matches neither entry.
    let socket = server.socket.clone();
    let out = tokio::task::spawn_blocking(move || run_client(&socket, 0, |_| {}))
        .await
        .unwrap();
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no identity issued"),
        "{out}"
    );
    drop(container);
}
