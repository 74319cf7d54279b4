//! `bulwark server` as a process: first start prints where to log in,
//! bad flags are one-line errors, and kill -9 in the middle of concurrent
//! writes loses no acknowledged call (audit record and data).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// An acknowledged call: its request id, and the silence it created.
type Acked = (String, Option<String>);

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path, token_file: &std::path::Path) -> Result<Server> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--bootstrap-token-file")
        .arg(token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().context("server printed nothing")??;
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .and_then(|w| w.strip_suffix("/api/v1/"))
        .with_context(|| format!("no URL in {first:?}"))?
        .to_owned();
    // Keep draining stdout so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, url })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

#[test]
fn bad_flags_are_one_line_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--sink",
            "nonsense",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NAME=webhook:URL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !dir.path().join("server").exists(),
        "nothing written on bad flags"
    );
    Ok(())
}

#[test]
fn kill_9_during_writes_loses_no_acknowledged_call() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("admin.token");
    let server = start(dir.path(), &token_file)?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_owned();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (url, token, acked, stop) = (
            server.url.clone(),
            token.clone(),
            Arc::clone(&acked),
            Arc::clone(&stop),
        );
        workers.push(std::thread::spawn(move || {
            let http = agent();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let body = serde_json::json!({
                    "matcher": {"namespace": format!("ns{w}")},
                    "reason": format!("w{w} #{i}"),
                    "expires_at": 4_102_444_800_000_i64,
                });
                let resp = if i % 3 == 0 {
                    http.get(format!("{url}/api/v1/silences"))
                        .header("authorization", format!("Bearer {token}"))
                        .call()
                } else {
                    http.post(format!("{url}/api/v1/silences"))
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .send(body.to_string())
                };
                let Ok(mut resp) = resp else { break };
                if !resp.status().is_success() {
                    continue;
                }
                let id = resp
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let silence = if i % 3 == 0 {
                    None
                } else {
                    resp.body_mut()
                        .read_to_string()
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                        .and_then(|v| v["id"].as_str().map(str::to_owned))
                };
                if let Ok(mut a) = acked.lock() {
                    a.push((id, silence));
                }
            }
        }));
    }
    // Let writes run, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && acked.lock().map(|a| a.len()).unwrap_or(0) < 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    drop(server);
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    if acked.len() < 10 {
        bail!("only {} calls acknowledged before the kill", acked.len());
    }

    // Every acknowledged call has its record; the chain verifies.
    let log = dir.path().join("server").join("audit.log");
    let verify = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["audit", "verify"])
        .arg(&log)
        .output()?;
    assert!(
        verify.status.success(),
        "audit verify: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text = std::fs::read_to_string(&log)?;
    let recorded: std::collections::HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| r["detail"]["request_id"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<_> = acked
        .iter()
        .filter(|(id, _)| !recorded.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged calls have no audit record",
        missing.len(),
        acked.len()
    );

    // Every acknowledged silence survived: restart and list them.
    let server = start(dir.path(), &dir.path().join("unused.token"))?;
    let mut resp = agent()
        .get(format!("{}/api/v1/silences", server.url))
        .header("authorization", format!("Bearer {token}"))
        .call()?;
    let stored: Vec<serde_json::Value> = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    let ids: std::collections::HashSet<&str> =
        stored.iter().filter_map(|s| s["id"].as_str()).collect();
    let lost: Vec<_> = acked
        .iter()
        .filter_map(|(_, s)| s.as_deref())
        .filter(|s| !ids.contains(s))
        .collect();
    assert!(lost.is_empty(), "acknowledged silences lost: {lost:?}");
    Ok(())
}
