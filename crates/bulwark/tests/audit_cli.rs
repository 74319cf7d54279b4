//! `bulwark audit verify` against logs written by the library.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use bulwark_audit::{AuditLog, Entry};

fn bulwark(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("run bulwark: {e}"),
    }
}

fn write_log(path: &Path, n: usize) -> String {
    let log = match AuditLog::open(path, Arc::new(bulwark_core::SystemClock)) {
        Ok(l) => l,
        Err(e) => panic!("open: {e}"),
    };
    let mut head = String::new();
    for i in 0..n {
        if let Ok(r) = log.append(&Entry::new("tester", "test.step").target(format!("t{i}"))) {
            head = r.head().to_string();
        }
    }
    head
}

#[test]
fn intact_log_verifies_with_exit_0_and_prints_the_head() {
    let dir = tempfile::tempdir().ok();
    let dir = dir
        .as_ref()
        .map(|d| d.path())
        .unwrap_or(Path::new("/nonexistent"));
    let data = dir.to_string_lossy().into_owned();
    let head = write_log(&dir.join("audit").join("audit.log"), 3);
    let out = bulwark(&["audit", "verify", "--data-dir", &data, "--expect", &head]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("intact, 3 records") && stdout.contains(&head),
        "{stdout}"
    );
}

#[test]
fn tampered_log_fails_with_exit_1_naming_the_line() {
    let dir = tempfile::tempdir().ok();
    let dir = dir
        .as_ref()
        .map(|d| d.path())
        .unwrap_or(Path::new("/nonexistent"));
    let log = dir.join("a.log");
    write_log(&log, 3);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::write(&log, text.replace("\"t1\"", "\"t7\""));
    let out = bulwark(&["audit", "verify", &log.to_string_lossy(), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("line 2: record 2 was edited"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(json["intact"], serde_json::json!(false));
}

#[test]
fn missing_log_is_a_one_line_error_with_exit_2() {
    let out = bulwark(&["audit", "verify", "/nonexistent/audit.log"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/audit.log"), "{stderr}");
}

#[test]
fn malformed_expect_is_rejected_naming_the_value() {
    let out = bulwark(&["audit", "verify", "/x", "--expect", "12:zz"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("\"12:zz\" is not SEQ:HASH"), "{stderr}");
}
