//! `bulwark scan IMAGE --server URL --token-file F` and `bulwark db import
//! --server ...` against a real `bulwark server` process (SQLite): the
//! image (digest, name, layers) and its findings reach the images API with
//! a `scanner` token, a re-push of the same digest replaces instead of
//! duplicating, a later import pushes new and resolved findings, and a
//! role that may not create images is refused with a one-line error.
//! `bulwark scan-queue` (the part of `bulwark up` that scans what the OCI
//! hook queued) pushes queued images with their CIS section 4 checks and
//! keeps what failed queued across a restart.
//!
//! Fixtures are written here: a two-layer OCI layout (bulwark-image's test
//! builder) whose second layer installs Python's Jinja2 2.10, and small
//! hand-made OSV records in the shape of PyPA ones.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use bulwark_image::Compression;
use bulwark_image::testutil::{LayoutBuilder, TarBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

struct Server {
    child: Child,
    url: String,
    admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    let token_file = dir.join("admin.token");
    let mut child = Command::new(BIN)
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .arg("--bootstrap-token-file")
        .arg(&token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://")?.strip_suffix("/api/v1/"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"));
    std::thread::spawn(move || for _ in lines {});
    let admin = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    Server {
        child,
        url: format!("http://{url}"),
        admin,
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

impl Server {
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {token}");
        let mut resp = match body {
            Some(b) => http()
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string())
                .unwrap(),
            None => {
                assert_eq!(method, "GET");
                http()
                    .get(&url)
                    .header("authorization", &auth)
                    .call()
                    .unwrap()
            }
        };
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, &self.admin, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A service user bound to `role`, and a file holding its API token.
    fn token_file(&self, dir: &Path, role: &str) -> PathBuf {
        let name = format!("svc-{role}");
        let post = |path: &str, body: Value| {
            let (status, answer) = self.call("POST", path, &self.admin, Some(body));
            assert!(status < 300, "POST {path}: {status} {answer}");
            answer
        };
        post("/api/v1/users", json!({"name": name, "kind": "service"}));
        post(
            "/api/v1/role-bindings",
            json!({"subject": {"kind": "user", "name": name}, "role": role, "scope": "cluster"}),
        );
        let token = post("/api/v1/tokens", json!({"name": "ci", "owner": name}));
        let path = dir.join(format!("{role}.token"));
        std::fs::write(&path, token["token"].as_str().unwrap()).unwrap();
        path
    }
}

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PyPA-shaped record for `jinja2`.
fn write_record(dir: &Path, id: &str, modified: &str, fixed: &str, severity: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let record = json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": modified,
        "summary": format!("{id}: jinja2 test advisory"),
        "affected": [{"package": {"ecosystem": "PyPI", "name": "jinja2"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "database_specific": {"severity": severity},
    });
    std::fs::write(dir.join(format!("{id}.json")), record.to_string()).unwrap();
}

/// Two layers: a base, and one that installs Jinja2 2.10. Returns the
/// layout's path, its manifest digest and the layers' diff ids.
fn image(dir: &Path) -> (String, String, Vec<String>) {
    let base = TarBuilder::new()
        .file("etc/os-release", b"ID=scratch-test\n")
        .finish();
    let app = TarBuilder::new()
        .file(
            "usr/lib/python3/site-packages/Jinja2-2.10.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n",
        )
        .finish();
    let diff_ids = [&base, &app]
        .iter()
        .map(|t| bulwark_image::Digest::sha256(t).to_string())
        .collect();
    let layout = dir.join("oci");
    let desc = LayoutBuilder::new(&layout)
        .layer(base, Compression::Gzip)
        .layer(app, Compression::Gzip)
        .name("shop/web:1.0")
        .write();
    (
        layout.to_str().unwrap().to_owned(),
        desc.digest.to_string(),
        diff_ids,
    )
}

fn findings(server: &Server, digest: &str) -> Vec<(String, String, Option<String>)> {
    let all = server.get(&format!("/api/v1/images/{digest}/findings"));
    let mut out: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["vulnerability"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["layer"].as_str().map(str::to_owned),
            )
        })
        .collect();
    out.sort();
    out
}

/// A running server, a token of a user bound to `role`, the image, and
/// a node data directory whose store knows one critical Jinja2 advisory.
struct Setup {
    tmp: TempDir,
    data: PathBuf,
    server: Server,
    token: PathBuf,
    layout: String,
    digest: String,
    diff_ids: Vec<String>,
}

fn setup(role: &str) -> Setup {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("node");
    let server = start_server(&tmp.path().join("server"));
    let token = server.token_file(tmp.path(), role);
    let (layout, digest, diff_ids) = image(tmp.path());
    let adv = tmp.path().join("adv1");
    write_record(
        &adv,
        "PYSEC-0000-1",
        "2024-01-01T00:00:00Z",
        "2.10.1",
        "critical",
    );
    ok(&bulwark(&data, &["db", "import", adv.to_str().unwrap()]));
    Setup {
        tmp,
        data,
        server,
        token,
        layout,
        digest,
        diff_ids,
    }
}

#[test]
fn scans_reach_the_server_replace_on_repush_and_imports_push_new_and_resolved_findings() {
    let Setup {
        tmp,
        data,
        server,
        token: scanner,
        layout,
        digest,
        diff_ids,
    } = setup("scanner");

    let push = [
        "--server",
        &server.url,
        "--token-file",
        scanner.to_str().unwrap(),
    ];
    let scan: Vec<&str> = ["scan", layout.as_str()].into_iter().chain(push).collect();
    ok(&bulwark(&data, &scan));

    let images = server.get("/api/v1/images");
    assert_eq!(images.as_array().map(Vec::len), Some(1), "{images}");
    let img = &images[0];
    assert_eq!(img["digest"], digest.as_str());
    assert!(img["reference"].as_str().unwrap().contains("oci"), "{img}");
    assert_eq!(img["findings"], json!({"critical": 1}));
    assert_eq!(
        img["checks"][0]["id"], "4.1",
        "CIS checks go with the scan: {img}"
    );
    let layers: Vec<&str> = img["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap())
        .collect();
    assert_eq!(layers, diff_ids);
    let first = findings(&server, &digest);
    assert_eq!(
        first,
        [(
            "PYSEC-0000-1".to_owned(),
            "critical".to_owned(),
            Some(diff_ids[1].clone())
        )],
        "the finding names the layer that installed Jinja2"
    );

    // Same digest again: replaced, not duplicated.
    ok(&bulwark(&data, &scan));
    assert_eq!(
        server.get("/api/v1/images").as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(findings(&server, &digest), first);

    // The scanner role pushes and reads nothing.
    let token = std::fs::read_to_string(&scanner).unwrap();
    let (status, _) = server.call("GET", "/api/v1/images", &token, None);
    assert_eq!(status, 403);

    // Continuous scanning: a new advisory and a corrected one (2.10 no
    // longer affected) reach the server with the import.
    let adv2 = tmp.path().join("adv2");
    write_record(&adv2, "PYSEC-0000-2", "2024-02-01T00:00:00Z", "3.0", "high");
    write_record(
        &adv2,
        "PYSEC-0000-1",
        "2024-02-01T00:00:00Z",
        "2.9",
        "critical",
    );
    let import: Vec<&str> = ["db", "import", adv2.to_str().unwrap()]
        .into_iter()
        .chain(push)
        .collect();
    let out = ok(&bulwark(&data, &import));
    assert!(out.contains("1 new, 1 resolved"), "{out}");
    assert!(out.contains("pushed the findings of 1 image(s)"), "{out}");
    assert_eq!(
        findings(&server, &digest),
        [(
            "PYSEC-0000-2".to_owned(),
            "high".to_owned(),
            Some(diff_ids[1].clone())
        )]
    );
    let images = server.get("/api/v1/images");
    assert_eq!(
        images[0]["layers"].as_array().map(Vec::len),
        Some(2),
        "a re-match keeps the layers of the last scan: {images}"
    );
}

#[test]
fn a_role_that_may_not_create_images_is_refused_in_one_line() {
    let Setup {
        tmp: _tmp,
        data,
        server,
        token: viewer,
        layout,
        ..
    } = setup("viewer");
    let out = bulwark(
        &data,
        &[
            "scan",
            &layout,
            "--server",
            &server.url,
            "--token-file",
            viewer.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(server.get("/api/v1/images"), json!([]));

    // A missing token file fails before anything is scanned or sent.
    let out = bulwark(
        &data,
        &[
            "scan",
            &layout,
            "--server",
            &server.url,
            "--token-file",
            "/nonexistent/t",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token-file /nonexistent/t"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no report before the flags are checked"
    );
}

#[test]
fn changes_found_while_the_server_is_down_are_pushed_by_the_next_import() {
    let Setup {
        tmp,
        data,
        server,
        token,
        layout,
        digest,
        ..
    } = setup("scanner");
    let token = token.to_str().unwrap();
    ok(&bulwark(
        &data,
        &[
            "scan",
            &layout,
            "--server",
            &server.url,
            "--token-file",
            token,
        ],
    ));
    // Nothing listens here: the import's push fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let adv2 = tmp.path().join("adv2");
    write_record(&adv2, "PYSEC-0000-2", "2024-02-01T00:00:00Z", "3.0", "high");
    let out = bulwark(
        &data,
        &[
            "db",
            "import",
            adv2.to_str().unwrap(),
            "--server",
            &down,
            "--token-file",
            token,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 image(s) not pushed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        findings(&server, &digest).len(),
        1,
        "the server has not seen it"
    );

    // The next import changes nothing, and still sends what was missed.
    let out = ok(&bulwark(
        &data,
        &[
            "db",
            "import",
            adv2.to_str().unwrap(),
            "--server",
            &server.url,
            "--token-file",
            token,
        ],
    ));
    assert!(out.contains("pushed the findings of 1 image(s)"), "{out}");
    let ids: Vec<String> = findings(&server, &digest)
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(ids, ["PYSEC-0000-1", "PYSEC-0000-2"]);
    let pending = data.join("vulndb").join("server-push-pending");
    assert!(!pending.exists(), "nothing is left pending");
}

/// A queue entry as the OCI hook writes it (`D/scan-queue/HEX.json`).
fn queue_entry(data: &Path, digest: &str, reference: &str, layout: &Path) -> PathBuf {
    let dir = data.join("scan-queue");
    std::fs::create_dir_all(&dir).unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = dir.join(format!("{hex}.json"));
    let entry = json!({"reference": reference, "digest": digest, "layout": layout});
    std::fs::write(&path, entry.to_string()).unwrap();
    path
}

#[test]
fn scan_queue_pushes_queued_images_with_cis_checks_and_keeps_what_failed() {
    let Setup {
        tmp,
        data,
        server,
        token,
        layout,
        digest,
        ..
    } = setup("scanner");
    let good = queue_entry(&data, &digest, "shop/web:1.0", Path::new(&layout));
    let missing = format!("sha256:{}", "ab".repeat(32));
    let bad = queue_entry(
        &data,
        &missing,
        "shop/gone:1",
        &tmp.path().join("no-layout"),
    );
    let once = |data: &Path| {
        bulwark(
            data,
            &[
                "scan-queue",
                "--once",
                "--no-discover",
                "--server",
                &server.url,
                "--token-file",
                token.to_str().unwrap(),
            ],
        )
    };

    let out = once(&data);
    assert_eq!(out.status.code(), Some(1), "one image stays queued");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("pushed shop/web:1.0 ({digest}, 1 findings)")),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hex = missing.trim_start_matches("sha256:");
    let failed: Vec<&str> = stderr.lines().filter(|l| l.contains(hex)).collect();
    assert_eq!(failed.len(), 1, "one line per failed image: {stderr}");
    assert!(
        failed[0].contains("stays queued, next try in 5 s"),
        "{stderr}"
    );
    assert!(!good.exists() && bad.exists());

    // The image, its finding and its CIS section 4 checks reached the server.
    let images = server.get("/api/v1/images");
    let img = &images[0];
    assert_eq!(img["digest"], digest.as_str(), "{images}");
    assert_eq!(img["findings"], json!({"critical": 1}));
    let checks: Vec<(&str, &str)> = img["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("4.1", "fail"),
            ("4.6", "fail"),
            ("4.7", "pass"),
            ("4.8", "pass"),
            ("4.9", "pass"),
            ("4.10", "pass")
        ],
        "the test image runs as root without a HEALTHCHECK: {img}"
    );
    let report = server.get("/api/v1/compliance");
    assert_eq!(report["images"][0]["digest"], digest.as_str(), "{report}");
    assert_eq!(report["images"][0]["checks"], img["checks"]);

    // A new scanner process (a restart) retries what stayed queued at once;
    // the image pushed with this DB build is not scanned again when its
    // container starts again.
    queue_entry(&data, &digest, "shop/web:1.0", Path::new(&layout));
    let out = once(&data);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.contains(hex)).count(),
        1,
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "already pushed: {:?}", out.stdout);
    assert!(!good.exists() && bad.exists());
}
