//! Running `bulwark identity` and `bulwark proxy` as real processes for the
//! identity/mesh tests: the CLI, processes started inside a test cgroup
//! (so the Workload API attests them by it), their stderr collected line by
//! line, an echo upstream, an app connection, and a TLS probe that reports
//! which certificate chain a listener presents.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_identity::x509::CertInfo;
use bulwark_mesh::testutil::AcceptAnyServer;
use bulwark_testkit::TestCgroup;
use rustls::pki_types::{CertificateDer, ServerName};

pub const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

/// Longest wait for anything the processes do (generous: CI shares 2 cores).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// `bulwark identity --data-dir DATA ARGS`, which must succeed.
pub fn identity(data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("identity")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A WorkloadIdentity document selecting by cgroup, with `extra` spec lines.
pub fn entry(name: &str, id: &str, cgroup: &str, extra: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: {name}\nspec:\n  spiffeId: {id}\n  selectors:\n    cgroup: {cgroup}\n{extra}"
    )
}

/// An AccessPolicy letting `from` call `to`.
pub fn allow(from: &str, to: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: allow}}\nspec:\n  to: {to}\n  from: [{from}]\n"
    )
}

/// Polls `cond` until it holds; panics with `what` after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process, killed on drop, whose stderr lines are collected.
pub struct Proc {
    child: Child,
    pub name: &'static str,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `bulwark ARGS`, already inside `cgroup` if one is given (it
    /// moves itself there before exec, so it never runs outside it).
    pub fn start(name: &'static str, cgroup: Option<&TestCgroup>, args: &[String]) -> Proc {
        let mut cmd = match cgroup {
            Some(cg) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "echo $$ > {} && exec \"$0\" \"$@\"",
                        cgroup_procs(cg).display()
                    ))
                    .arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(strip_ansi(&line));
            }
        });
        Proc { child, name, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a stderr line for which `pred` holds, and returns it.
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}): {:#?}", self.name, self.lines());
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{}: timed out waiting for {what}: {:#?}",
                self.name,
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address of `bulwark: listening on ADDR`.
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = self.wait_line("its listener", |l| l.starts_with("bulwark: listening on "));
        line.trim_start_matches("bulwark: listening on ")
            .parse()
            .unwrap()
    }

    /// Every `proxy identity updated` log line so far.
    pub fn identity_updates(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains("proxy identity updated"))
            .collect()
    }
}

fn cgroup_procs(cgroup: &TestCgroup) -> PathBuf {
    let rel = cgroup.path().trim_start_matches('/');
    let unified = Path::new("/sys/fs/cgroup/unified")
        .join(rel)
        .join("cgroup.procs");
    if unified.exists() {
        unified
    } else {
        Path::new("/sys/fs/cgroup").join(rel).join("cgroup.procs")
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `field=` in a tracing line (quoted or bare).
pub fn field(line: &str, name: &str) -> Option<String> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next().map(str::to_owned);
    }
    rest.split_whitespace().next().map(str::to_owned)
}

/// `bulwark identity serve` on `socket`, ready once the socket exists.
pub fn serve(data: &Path, socket: &Path) -> Proc {
    let args = [
        "--log".into(),
        "info".into(),
        "identity".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "serve".into(),
        "--socket".into(),
        socket.display().to_string(),
    ];
    let p = Proc::start("identity serve", None, &args);
    wait_until("the Workload API socket", || socket.exists());
    p
}

/// An upstream that echoes every connection.
pub fn echo_upstream() -> SocketAddr {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in upstream.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A plaintext app connection through an outbound listener.
pub struct App(TcpStream);

impl App {
    pub fn connect(addr: SocketAddr) -> App {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        App(s)
    }

    /// Sends `msg` and reads its echo back.
    pub fn roundtrip(&mut self, msg: &[u8]) -> std::io::Result<()> {
        self.0.write_all(msg)?;
        let mut buf = vec![0u8; msg.len()];
        self.0.read_exact(&mut buf)?;
        assert_eq!(buf, msg);
        Ok(())
    }
}

/// One message over a new connection through `addr`.
pub fn echo_once(addr: SocketAddr, msg: &[u8]) -> std::io::Result<()> {
    App::connect(addr).roundtrip(msg)
}

/// The certificate chain the TLS listener at `addr` presents (the probe
/// sends no client certificate, so the handshake itself then fails).
pub fn presented_chain(addr: SocketAddr) -> Vec<CertInfo> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = AcceptAnyServer::new(Arc::clone(&provider));
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as _)
        .with_no_client_auth();
    let name = ServerName::try_from("probe.invalid").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = conn.complete_io(&mut tcp);
    let chain = verifier.presented();
    assert!(!chain.is_empty(), "{addr} presented no certificate");
    chain
        .iter()
        .map(|c: &CertificateDer<'static>| CertInfo::parse(c).unwrap())
        .collect()
}

/// The decision log records in `path`.
pub fn decisions(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Traffic through an outbound listener on a thread of its own, until
/// dropped: every round sends over one long-lived connection (opened at the
/// start) and over a new connection (a fresh handshake). Every failure is
/// kept with the round it happened in.
pub struct Traffic {
    rounds: Arc<Mutex<u64>>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    pub fn start(addr: SocketAddr) -> Traffic {
        let rounds = Arc::new(Mutex::new(0u64));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, f, s) = (
            Arc::clone(&rounds),
            Arc::clone(&failures),
            Arc::clone(&stop),
        );
        let mut long_lived = App::connect(addr);
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let round = *r.lock().unwrap();
                let msg = format!("round {round}");
                if let Err(e) = long_lived.roundtrip(msg.as_bytes()) {
                    f.lock().unwrap().push(format!("{msg}: long-lived: {e}"));
                }
                if let Err(e) = echo_once(addr, msg.as_bytes()) {
                    f.lock()
                        .unwrap()
                        .push(format!("{msg}: new connection: {e}"));
                }
                *r.lock().unwrap() += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Traffic {
            rounds,
            failures,
            stop,
            thread: Some(thread),
        }
    }

    pub fn rounds(&self) -> u64 {
        *self.rounds.lock().unwrap()
    }

    /// Waits until at least `n` more rounds have run.
    pub fn wait_rounds(&self, n: u64) {
        let target = self.rounds() + n;
        wait_until("traffic rounds", || self.rounds() >= target);
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    /// Stops the thread and returns every failure.
    pub fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (self.rounds(), self.failures())
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
