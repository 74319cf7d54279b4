//! `bulwark agent` and `bulwark replay` end to end: the agent sees a real
//! runc container (root, runc, busybox-static), serves metrics, and its
//! output replays unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::Container;

fn bulwark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .output()
        .unwrap()
}

fn spawn_agent(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads stderr lines until the metrics address is announced.
fn metrics_addr(agent: &mut Child) -> (String, BufReader<std::process::ChildStderr>) {
    let mut err = BufReader::new(agent.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("bulwark: metrics on http://") {
            return (rest.trim_end_matches("/metrics").to_owned(), err);
        }
    }
    panic!("the agent never announced its metrics endpoint (last line: {line})");
}

fn get_metrics(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn agent_prints_attributed_events_serves_metrics_and_its_output_replays() {
    // Stopped by SIGTERM once the container has run, not by a duration: on
    // a loaded machine the container may take longer than any fixed time.
    let mut agent = spawn_agent(&["agent", "--events", "--metrics", "127.0.0.1:0"]);
    let (addr, stderr) = metrics_addr(&mut agent);
    let c = Container::builder("cli")
        .image("registry.test/cli:1", None)
        .args(["sh", "-c", "cat /etc/passwd >/dev/null"])
        .run()
        .unwrap();
    assert!(c.status.success());
    let metrics = get_metrics(&addr);
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(
        metrics.contains("bulwark_sensor_events_total{type=\"exec\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bulwark_agent_resident_memory_bytes"),
        "{metrics}"
    );

    let pid = nix::unistd::Pid::from_raw(agent.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = agent.wait_with_output().unwrap();
    let mut rest = String::new();
    let mut stderr = stderr;
    stderr.read_to_string(&mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    assert!(rest.contains("bulwark: sensor stopped:"), "{rest}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let execs_in_container = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "exec" && v["container"]["image"] == "registry.test/cli:1")
        .filter(|v| v["argv"][0] == "cat")
        .count();
    assert_eq!(
        execs_in_container, 1,
        "the cat in the container, attributed"
    );

    let recording = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(recording.path(), &stdout).unwrap();
    let replayed = bulwark(&["replay", recording.path().to_str().unwrap()]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(
        String::from_utf8(replayed.stdout).unwrap(),
        stdout,
        "replay prints what was recorded"
    );
}

#[test]
fn replay_of_a_bad_line_fails_with_one_line_naming_file_and_line() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "\n{\"seq\": 1}\n").unwrap();
    let out = bulwark(&["replay", f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "bulwark: {}: line 2: not a valid event: missing field",
            f.path().display()
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn replay_of_a_missing_file_names_it() {
    let out = bulwark(&["replay", "/nonexistent/bulwark-recording.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "bulwark: /nonexistent/bulwark-recording.jsonl: No such file or directory (os error 2)\n"
    );
}

#[test]
fn agent_refuses_an_invalid_ring_size_before_loading_anything() {
    let out = bulwark(&["agent", "--ring-bytes", "1000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("ring buffer size 1000 must be a power of two"),
        "{err}"
    );
}

#[test]
fn agent_stops_cleanly_on_sigterm() {
    let mut agent = spawn_agent(&["agent", "--metrics", "127.0.0.1:0"]);
    let (_addr, stderr) = metrics_addr(&mut agent);
    let pid = nix::unistd::Pid::from_raw(agent.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = agent.wait().unwrap();
    let mut rest = String::new();
    let mut stderr = stderr;
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("bulwark: sensor stopped:"), "{rest}");
}
