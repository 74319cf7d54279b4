//! Sinks against real receivers: a file, a unix datagram socket standing in
//! for /dev/log, and Python's `http.server` (plain and TLS) as the webhook.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bulwark_alert::{JsonLinesSink, Sink, SinkError, SyslogSink, WebhookConfig, WebhookSink};
use bulwark_core::{Alert, AlertReason, Decision, Mode, RuleRef, Severity, WorkloadId};

fn alert(message: &str) -> Alert {
    Alert {
        id: "a1".into(),
        time: time::OffsetDateTime::UNIX_EPOCH,
        severity: Severity::Critical,
        workload: WorkloadId::new("image:registry.test/web").ok(),
        container_id: None,
        image_digest: None,
        profile_version: Some(3),
        mode: Mode::Monitor,
        reason: AlertReason::Rule {
            rule: RuleRef {
                id: "reverse-shell".into(),
                name: "Reverse shell".into(),
                mitre: vec!["T1059.004".into()],
            },
        },
        decision: Decision::Alert,
        message: message.into(),
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

#[test]
fn file_sink_appends_one_json_line_per_alert_even_with_newlines_in_fields() {
    let dir = tempdir();
    let path = dir.path().join("alerts.jsonl");
    let mut sink = JsonLinesSink::file(&path).unwrap_or_else(|e| panic!("{e}"));
    sink.send(&alert("line one\n{\"forged\":true}"))
        .unwrap_or_else(|e| panic!("{e}"));
    sink.send(&alert("second"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_default();
    assert_eq!(first["reason"]["rule"]["mitre"][0], "T1059.004");
}

#[test]
fn file_sink_in_a_missing_directory_is_a_clear_error() {
    let err = JsonLinesSink::file(Path::new("/nonexistent/dir/alerts.jsonl")).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("/nonexistent/dir/alerts.jsonl"), "{text}");
}

#[test]
fn syslog_sink_sends_rfc5424_datagrams() {
    let dir = tempdir();
    let path = dir.path().join("log.sock");
    let server = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("bind: {e}"));
    let _ = server.set_read_timeout(Some(Duration::from_secs(5)));
    let mut sink = SyslogSink::connect(&path).unwrap_or_else(|e| panic!("{e}"));
    sink.send(&alert("shell\r\nforged"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = vec![0u8; 65536];
    let n = server
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("recv: {e}"));
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // authpriv (10) * 8 + crit (2) = 82
    assert!(msg.starts_with("<82>1 1970-01-01T00:00:00Z "), "{msg}");
    assert!(
        msg.contains(" bulwark ") && msg.contains(" alert - {"),
        "{msg}"
    );
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
}

#[test]
fn syslog_sink_without_a_listener_fails_naming_the_socket() {
    let err = SyslogSink::connect(Path::new("/nonexistent/log.sock")).err();
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("/nonexistent/log.sock")
    );
}

/// Python's http.server answering `fail` requests with `status`, then 200;
/// every request body is appended to `bodies`. TLS if `tls` = (cert, key).
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(bodies: &Path, fail: u32, status: u16, tls: Option<(&Path, &Path)>) -> Receiver {
        let script = r#"
import http.server, ssl, sys
bodies, fail, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        seen[0] += 1
        with open(bodies, 'ab') as f:
            f.write(body + b'\n')
        code = status if seen[0] <= fail else 200
        self.send_response(code)
        self.send_header('content-length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
        let mut cmd = Command::new("python3");
        cmd.args(["-c", script])
            .arg(bodies)
            .arg(fail.to_string())
            .arg(status.to_string());
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 is needed for webhook tests: {e}"));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("receiver did not start: {line:?}"));
        Receiver { child, port }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fast(url: String) -> WebhookConfig {
    WebhookConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        ..WebhookConfig::new(url)
    }
}

fn received(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect()
}

#[test]
fn webhook_retries_server_errors_with_backoff_until_delivered() {
    let dir = tempdir();
    let bodies = dir.path().join("bodies");
    let rx = Receiver::start(&bodies, 2, 503, None);
    let mut sink = WebhookSink::start(fast(format!("http://127.0.0.1:{}/hook", rx.port)))
        .unwrap_or_else(|e| panic!("{e}"));
    sink.send(&alert("reverse shell"))
        .unwrap_or_else(|e| panic!("{e}"));
    let stats = sink.close(Duration::from_secs(10));
    assert_eq!(
        (stats.delivered, stats.retried, stats.failed),
        (1, 2, 0),
        "{stats:?}"
    );
    let got = received(&bodies);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["message"], "reverse shell");
}

#[test]
fn webhook_gives_up_on_a_client_error_without_retrying() {
    let dir = tempdir();
    let bodies = dir.path().join("bodies");
    let rx = Receiver::start(&bodies, 100, 400, None);
    let mut sink = WebhookSink::start(fast(format!("http://127.0.0.1:{}/", rx.port)))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = sink.send(&alert("x"));
    let stats = sink.close(Duration::from_secs(10));
    assert_eq!(
        (stats.delivered, stats.retried, stats.failed),
        (0, 0, 1),
        "{stats:?}"
    );
}

#[test]
fn webhook_counts_alerts_it_could_not_deliver_to_a_dead_endpoint() {
    // Bind then drop a listener: the port is closed (connection refused).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let config = WebhookConfig {
        max_attempts: 3,
        ..fast(format!("http://127.0.0.1:{port}/"))
    };
    let mut sink = WebhookSink::start(config).unwrap_or_else(|e| panic!("{e}"));
    let _ = sink.send(&alert("x"));
    let stats = sink.close(Duration::from_secs(10));
    assert_eq!(
        (stats.delivered, stats.retried, stats.failed),
        (0, 2, 1),
        "{stats:?}"
    );
}

#[test]
fn webhook_queue_overflow_is_counted_not_blocking() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let config = WebhookConfig {
        queue: 2,
        max_attempts: 1,
        ..fast(format!("http://127.0.0.1:{port}/"))
    };
    let mut sink = WebhookSink::start(config).unwrap_or_else(|e| panic!("{e}"));
    let results: Vec<bool> = (0..50).map(|_| sink.send(&alert("x")).is_ok()).collect();
    let stats = sink.close(Duration::from_secs(10));
    let refused = results.iter().filter(|ok| !**ok).count() as u64;
    assert!(refused > 0, "a queue of 2 cannot take 50 alerts at once");
    assert_eq!(stats.dropped, refused);
    assert_eq!(
        stats.dropped + stats.failed + stats.delivered,
        50,
        "{stats:?}"
    );
}

#[test]
fn webhook_rejects_urls_that_are_not_http() {
    for url in ["ftp://example.test/", "not a url", "/relative/path"] {
        let err = WebhookSink::start(WebhookConfig::new(url)).err();
        assert!(
            matches!(err, Some(SinkError::Webhook { .. })),
            "{url}: {err:?}"
        );
    }
}

#[test]
fn webhook_over_tls_trusts_the_configured_ca_only() {
    let dir = tempdir();
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let _ = std::fs::write(&cert_path, cert.pem());
    let _ = std::fs::write(&key_path, key.serialize_pem());
    let bodies = dir.path().join("bodies");
    let rx = Receiver::start(&bodies, 0, 200, Some((&cert_path, &key_path)));
    let url = format!("https://localhost:{}/", rx.port);
    let trusted = WebhookConfig {
        ca_pem: Some(cert.pem().into_bytes()),
        ..fast(url.clone())
    };
    let mut sink = WebhookSink::start(trusted).unwrap_or_else(|e| panic!("{e}"));
    let _ = sink.send(&alert("over tls"));
    assert_eq!(sink.close(Duration::from_secs(10)).delivered, 1);
    // Without the CA the self-signed server is refused.
    let untrusted = WebhookConfig {
        max_attempts: 1,
        ..fast(url)
    };
    let mut sink = WebhookSink::start(untrusted).unwrap_or_else(|e| panic!("{e}"));
    let _ = sink.send(&alert("over tls"));
    let stats = sink.close(Duration::from_secs(10));
    assert_eq!((stats.delivered, stats.failed), (0, 1));
    assert_eq!(received(&bodies).len(), 1);
}
