//! `bulwark admission` served over HTTPS and called by a real TLS client
//! (curl, verifying the server certificate against its CA): reviews in,
//! responses with JSON patches out, health probe, deadline, bad bodies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod trust_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use trust_support::*;

struct Server {
    child: Child,
    addr: String,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn start(mode: &str, extra: &[&str]) -> (Server, World) {
    start_with(mode, extra, "")
}

/// `start` with more ImagePolicy documents after the world's policy.
fn start_with(mode: &str, extra: &[&str], more_policies: &str) -> (Server, World) {
    let dir = tempfile::tempdir().unwrap();
    let w = world();
    write_layout(&w.store, &dir.path().join("layout"));
    std::fs::write(
        dir.path().join("policy.yaml"),
        policy(&w.key, mode) + more_policies,
    )
    .unwrap();
    let (cert, key) = tls_files(dir.path());
    let addr_file = dir.path().join("addr");
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let mut args = vec![
        "admission".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--policy".into(),
        p(&dir.path().join("policy.yaml")),
        "--layout".into(),
        p(&dir.path().join("layout")),
        "--tls-cert".into(),
        p(&cert),
        "--tls-key".into(),
        p(&key),
        "--addr-file".into(),
        p(&addr_file),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        addr: String::new(),
        ca: cert,
        dir,
    };
    for _ in 0..200 {
        if let Ok(a) = std::fs::read_to_string(&addr_file)
            && !a.is_empty()
        {
            server.addr = a;
            return (server, w);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("bulwark admission exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("bulwark admission did not start listening within 10 s");
}

/// POST `body` with curl; returns (HTTP status, body).
fn curl(server: &Server, path: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
    let port = server.addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}{path}");
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        server.ca.to_str().unwrap(),
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    if body.is_some() {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ]);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("curl is required (Debian package curl)");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        if let Some(b) = body {
            stdin.write_all(b).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&text[split + 1..]).parse().unwrap();
    text.truncate(split);
    (code, text)
}

fn pod_review(uid: &str, image: &str) -> Vec<u8> {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "prod", "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": image}]}}}})
    .to_string()
    .into_bytes()
}

#[test]
fn mutate_pins_the_tag_and_validate_denies_unsigned_over_https() {
    let (server, w) = start("enforce", &[]);
    assert_eq!(curl(&server, "/healthz", None), (200, b"ok\n".to_vec()));

    let (code, body) = curl(&server, "/mutate", Some(&pod_review("m1", SIGNED)));
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["uid"], "m1");
    assert_eq!(v["response"]["allowed"], true);
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/spec/containers/0/image", "value": format!("{SIGNED}@{}", w.signed_digest)}])
    );

    let (code, body) = curl(&server, "/validate", Some(&pod_review("v1", UNSIGNED)));
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            v["response"]["uid"].as_str(),
            v["response"]["allowed"].as_bool()
        ),
        (Some("v1"), Some(false))
    );
    assert_eq!(v["response"]["status"]["code"], 403);
    assert!(v["response"].get("patch").is_none());

    let (code, body) = curl(&server, "/validate", Some(b"{not json"));
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(curl(&server, "/nope", None).0, 404);
}

/// A store that hangs (a registry that never answers) is simulated by
/// replacing the image config blobs with FIFOs nobody writes to: reading
/// one blocks forever. The review must still be answered, denied, when the
/// deadline passes.
#[test]
fn reviews_past_the_deadline_are_denied() {
    let (server, _w) = start("enforce", &["--deadline-ms", "500"]);
    let blobs = server.dir.path().join("layout/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read(&path)
            .unwrap()
            .starts_with(b"{\"architecture\"")
        {
            std::fs::remove_file(&path).unwrap();
            let status = Command::new("mkfifo")
                .arg(&path)
                .status()
                .expect("mkfifo (coreutils)");
            assert!(status.success());
        }
    }
    let (code, body) = curl(&server, "/validate", Some(&pod_review("d1", SIGNED)));
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["uid"], "d1");
    assert_eq!(v["response"]["allowed"], false);
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{v}"
    );
}

#[test]
fn findings_limits_without_a_vulnerability_db_deny_the_review_saying_why() {
    let findings = "---\napiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: scanned\nspec:\n  images: ['registry.example/team/app*']\n  findings:\n    - {severity: critical, max: 0}\n";
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("no-data");
    let (server, _w) = start_with(
        "enforce",
        &["--data-dir", missing.to_str().unwrap()],
        findings,
    );
    let (code, body) = curl(&server, "/validate", Some(&pod_review("f1", SIGNED)));
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "scanned: findings/critical: vulnerability scan failed: no vulnerability DB at"
        ),
        "{message}"
    );
}
