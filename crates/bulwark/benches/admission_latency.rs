//! Admission latency of `bulwark admission`, end to end over HTTPS on
//! loopback, as the API server sees it: one keep-alive TLS connection,
//! sequential reviews, p50/p99 per scenario, as ratios to a baseline
//! measured in the same run (`GET /healthz` over the same connection).
//!
//! Scenarios:
//! - warm: the verdict for the pinned image is cached (the promise: p99 < 5 ms);
//! - verify: caching off (`--verdict-ttl 0 --tag-ttl 0`), every review
//!   resolves the tag, reads manifest, config, `.sig` tag, referrers and
//!   signature blobs from a real registry on loopback (Debian's
//!   docker-registry) and verifies the signature;
//! - scan: caching off, an image whose policy has `findings` limits and
//!   `noSetuidAdded`: every review also pulls and walks the layers of the
//!   real Debian fixture image (bulwark-sbom's `build-images.sh`, 6 layers,
//!   65 MB compressed), catalogs it and matches it against the real Go
//!   advisories (`../shared/data/osv/go.tar.zst`) — the cost a cache miss
//!   pays once per image and policy generation;
//! - findings: the same image under a policy with `findings` limits only,
//!   the in-run baseline for what `noSetuidAdded` adds on top (one walk
//!   serves both since the set-id visitor rides along with the catalogers).
//!
//! Run: `cargo bench -p bulwark --bench admission_latency` (needs the
//! Debian packages docker-registry and skopeo, and the fixture script's
//! tools; results go to BENCHMARKS.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/sbom_fixture/mod.rs"]
mod sbom_fixture;
#[path = "../tests/trust_support/mod.rs"]
mod trust_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_image::registry::Client;
use bulwark_image::testutil::{RegistryAuth, TestRegistry};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use sbom_fixture::{fixture, shared_data};
use trust_support::*;

const N: usize = 2000;
const N_VERIFY: usize = 300;
const N_SCAN: usize = 10;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A data directory in `dir` with the real Go advisories imported.
fn go_vulndb(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["db", "import"])
        .arg(shared_data("osv/go.tar.zst"))
        .env("BULWARK_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

fn start_server(dir: &Path, extra: &[&str]) -> (Server, u16) {
    let addr_file = dir.join(format!("addr-{}", extra.len()));
    let p = |x: &str| dir.join(x).to_str().unwrap().to_string();
    let mut args: Vec<String> = vec![
        "admission".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--plain-http".into(),
        "--policy".into(),
        p("policy.yaml"),
        "--tls-cert".into(),
        p("tls.crt"),
        "--tls-key".into(),
        p("tls.key"),
        "--addr-file".into(),
        addr_file.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(&args)
        .env("BULWARK_DATA_DIR", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..400 {
        if let Ok(a) = std::fs::read_to_string(&addr_file)
            && let Some(port) = a.rsplit(':').next().and_then(|p| p.parse().ok())
        {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("bulwark admission did not start");
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16, ca: &Path) -> Sender {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(sender: &mut Sender, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

fn review(image: &str) -> Vec<u8> {
    serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "namespace": "prod", "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": image}]}}}})
    .to_string()
    .into_bytes()
}

/// Latencies of `n` sequential calls, sorted, after 50 warm-up calls.
async fn measure(
    sender: &mut Sender,
    n: usize,
    method: &str,
    path: &str,
    body: &[u8],
    expect_allowed: bool,
) -> Vec<Duration> {
    for _ in 0..50.min(n) {
        call(sender, method, path, body).await;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let (status, bytes) = call(sender, method, path, body).await;
        out.push(start.elapsed());
        assert_eq!(status, 200);
        if method == "POST" {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["response"]["allowed"], expect_allowed, "{v}");
        }
    }
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, sorted: &[Duration], base: &[Duration]) {
    let (p50, p99) = (pct(sorted, 0.50), pct(sorted, 0.99));
    println!(
        "{name:<34} n={:<5} p50 {:>8.3} ms  p99 {:>8.3} ms  (p50 {:>6.1}x, p99 {:>6.1}x baseline)",
        sorted.len(),
        ms(p50),
        ms(p99),
        ms(p50) / ms(pct(base, 0.50)),
        ms(p99) / ms(pct(base, 0.99))
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    let world = world_at(&registry.host());
    push(&world.store, &Client::new(&registry.options()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    registry.push_oci_layout(&fixture().join("oci"), Some("bookworm"), "scan/debian:12");
    registry.push_oci_layout(
        &fixture().join("oci"),
        Some("bookworm"),
        "findings/debian:12",
    );
    go_vulndb(dir.path());
    let scanned = format!(
        "---\napiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: scanned\nspec:\n  images: ['{host}/scan/**']\n  findings:\n    - {{severity: unknown, fixable: true, max: 0}}\n  config:\n    noSetuidAdded: true\n---\napiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: findings-only\nspec:\n  images: ['{host}/findings/**']\n  findings:\n    - {{severity: unknown, fixable: true, max: 0}}\n",
        host = registry.host()
    );
    std::fs::write(
        dir.path().join("policy.yaml"),
        policy_for(&world.key, "enforce", &registry.host()) + &scanned,
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(
        dir.path().join("tls.crt"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    let ca = dir.path().join("tls.crt");

    let pinned = format!("{}@{}", at(&registry.host(), SIGNED), world.signed_digest);
    let tagged = at(&registry.host(), SIGNED);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_warm_server, port) = start_server(dir.path(), &[]);
        let mut s = connect(port, &ca).await;
        let base = measure(&mut s, N, "GET", "/healthz", b"", true).await;
        let warm = measure(&mut s, N, "POST", "/validate", &review(&pinned), true).await;
        let warm_tag = measure(&mut s, N, "POST", "/mutate", &review(&tagged), true).await;

        let (_cold_server, port) =
            start_server(dir.path(), &["--verdict-ttl", "0", "--tag-ttl", "0"]);
        let mut c = connect(port, &ca).await;
        let cold_base = measure(&mut c, N, "GET", "/healthz", b"", true).await;
        let cold = measure(&mut c, N_VERIFY, "POST", "/mutate", &review(&tagged), true).await;
        let findings_only = format!("{}/findings/debian:12", registry.host());
        let findings = measure(
            &mut c,
            N_SCAN,
            "POST",
            "/mutate",
            &review(&findings_only),
            false,
        )
        .await;
        let debian = format!("{}/scan/debian:12", registry.host());
        let scan = measure(&mut c, N_SCAN, "POST", "/mutate", &review(&debian), false).await;
        let (_, last) = call(&mut c, "POST", "/mutate", &review(&debian)).await;
        let last: serde_json::Value = serde_json::from_slice(&last).unwrap();
        let message = last["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("findings/unknown-fixable: ") && message.contains("no-setuid-added"),
            "the scan must finish within the deadline: {message}"
        );

        println!("baseline: GET /healthz over the same keep-alive TLS connection");
        report("baseline GET /healthz", &base, &base);
        report("warm cache, pinned digest", &warm, &base);
        report("warm cache, tag (mutate + patch)", &warm_tag, &base);
        report("no cache, registry + verify", &cold, &cold_base);
        report("no cache, + findings (65 MB)", &findings, &cold_base);
        report("no cache, + findings + set-id", &scan, &cold_base);
        report("findings + set-id vs findings", &scan, &findings);
    });
}
