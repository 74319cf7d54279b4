//! `bulwark up` as a test fixture: started on a fresh data directory with
//! loopback ports, its parts found among its children, killed on drop; and
//! plain HTTP/1.1 calls to its API with the admin token.

#![allow(dead_code, reason = "each test file uses part of the fixture")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

/// `bulwark up`; it and the parts seen are killed on drop, so a failing
/// test leaves nothing behind.
pub struct Up {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub parts: Vec<u32>,
    pub data: PathBuf,
    /// `enforce serve`'s state directory (its `--enforce-name` under
    /// /run/bulwark/enforce), removed on drop.
    enforce_state: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        for pid in std::iter::once(self.child.id()).chain(self.parts.iter().copied()) {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.child.wait();
        // A killed `enforce serve` leaves its canary tmpfs mounted and its
        // state directory behind (a restart would reuse them).
        let canary = self.enforce_state.join("canary");
        let _ = nix::mount::umount2(&canary, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.enforce_state);
    }
}

impl Up {
    /// Starts `bulwark up` in `dir` with trust domain `td` and `extra`
    /// arguments.
    pub fn start(dir: &Path, td: &str, extra: &[&str]) -> Result<Up> {
        let tag = format!("up-test-{}-{}", std::process::id(), extra.len());
        let data = dir.join("data");
        let mut child = Command::new(BIN)
            .arg("up")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--mtls-listen", "127.0.0.1:0"])
            .args(["--agent-metrics", "127.0.0.1:0"])
            .args(["--trust-domain", td, "--report-secs", "1"])
            .arg("--workload-socket")
            .arg(dir.join("workload.sock"))
            .arg("--enforce-socket")
            .arg(dir.join("enforce.sock"))
            .args(["--enforce-name", &tag])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting bulwark up")?;
        let stdout = child.stdout.take().context("up's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{line}");
                let _ = tx.send(line);
            }
        });
        Ok(Up {
            child,
            lines,
            parts: Vec::new(),
            data,
            enforce_state: Path::new("/run/bulwark/enforce").join(&tag),
        })
    }

    /// The dashboard address and the admin token file, from what `up` prints.
    pub fn login(&self) -> Result<(String, PathBuf)> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let (mut addr, mut token) = (None, None);
        while addr.is_none() || token.is_none() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(wait)
                .context("bulwark up did not print where to log in")?;
            if let Some(rest) = line.strip_prefix("bulwark up: dashboard: http://") {
                addr = rest.split('/').next().map(str::to_owned);
            } else if let Some((_, rest)) = line.split_once("$(cat ") {
                token = rest.split(')').next().map(PathBuf::from);
            }
        }
        Ok((addr.context("address")?, token.context("token")?))
    }

    /// SIGTERM, then waits (up to 120 s) for `up` to exit with success.
    pub fn stop(&mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            ensure!(
                Instant::now() < deadline,
                "bulwark up did not stop within 120 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        ensure!(status.success(), "bulwark up: {status}");
        Ok(())
    }

    /// Records up's children as its parts (killed on drop); returns them
    /// with their command lines.
    pub fn find_parts(&mut self) -> Result<Vec<(u32, String)>> {
        let parts = children(self.child.id())?;
        self.parts = parts.iter().map(|(pid, _)| *pid).collect();
        Ok(parts)
    }
}

/// A call with a bearer token (HTTP/1.1, connection closed by the server);
/// the status and the JSON body (`Null` when empty).
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let mut tcp = TcpStream::connect(addr)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).with_context(|| format!("{method} {path}: {body}"))?
    };
    Ok((status, json))
}

/// A GET that must answer 200.
pub fn get(addr: &str, path: &str, token: &str) -> Result<Value> {
    let (status, body) = call(addr, "GET", path, token, None)?;
    ensure!(status == 200, "GET {path}: {status} {body}");
    Ok(body)
}

fn dechunk(mut rest: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").context("bad chunk")?;
        let n = usize::from_str_radix(size.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        out.push_str(after.get(..n).context("short chunk")?);
        rest = after.get(n + 2..).context("short chunk")?;
    }
}

/// Pids of `pid`'s children, with their command lines (NULs as spaces).
pub fn children(pid: u32) -> Result<Vec<(u32, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(child) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            let cmd = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            out.push((child, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    Ok(out)
}

/// A workload id as one URL path segment or query value.
pub fn encode(id: &str) -> String {
    id.replace('%', "%25")
        .replace('/', "%2F")
        .replace(':', "%3A")
}
