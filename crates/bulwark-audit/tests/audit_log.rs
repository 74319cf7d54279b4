//! The audit log on real files: durability, concurrency, tamper detection.
//!
//! Tests that need a second process re-run this test binary with
//! `AUDIT_CHILD` set; the child then acts as a writer instead of a test.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_audit::{AuditError, AuditLog, Entry, Head, Outcome, Tamper, head_path, verify_file};
use bulwark_core::ManualClock;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn open(path: &Path) -> AuditLog {
    match AuditLog::open(path, clock()) {
        Ok(log) => log,
        Err(e) => panic!("open {}: {e}", path.display()),
    }
}

fn write_n(path: &Path, n: usize) -> Vec<Head> {
    let log = open(path);
    (0..n)
        .map(|i| {
            let entry = Entry::new("tester", "test.write")
                .target(format!("item-{i}"))
                .detail(serde_json::json!({ "i": i }));
            match log.append(&entry) {
                Ok(r) => r.head(),
                Err(e) => panic!("append: {e}"),
            }
        })
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    if let Err(e) = std::fs::write(path, lines.concat()) {
        panic!("rewrite: {e}");
    }
}

fn tamper_of(result: Result<bulwark_audit::Verified, AuditError>) -> Tamper {
    match result {
        Err(AuditError::Tampered { source, .. }) => source,
        other => panic!("expected tampering, got {other:?}"),
    }
}

fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("audit").join("audit.log");
    (dir, path)
}

#[test]
fn appended_records_verify_and_reopen_continues_the_chain() {
    let (_dir, path) = temp_log();
    write_n(&path, 3);
    let heads = write_n(&path, 2);
    let verified = verify_file(&path, Some(heads[0]));
    assert_eq!(verified.map(|v| v.records).ok(), Some(5));
    assert_eq!(heads[1].seq, 5);
}

#[test]
fn empty_log_verifies() {
    let (_dir, path) = temp_log();
    drop(open(&path));
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(0));
}

#[test]
fn edited_byte_is_detected() {
    let (_dir, path) = temp_log();
    write_n(&path, 4);
    let mut l = lines(&path);
    l[2] = l[2].replace("item-2", "item-X");
    rewrite(&path, &l);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::HashMismatch { line: 3, seq: 3 }
    ));
}

#[test]
fn deleted_record_is_detected() {
    let (_dir, path) = temp_log();
    write_n(&path, 4);
    let mut l = lines(&path);
    l.remove(1);
    rewrite(&path, &l);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::SequenceGap { line: 2, .. }
    ));
}

#[test]
fn reordered_records_are_detected() {
    let (_dir, path) = temp_log();
    write_n(&path, 4);
    let mut l = lines(&path);
    l.swap(2, 3);
    rewrite(&path, &l);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::SequenceGap { line: 3, .. }
    ));
}

#[test]
fn removed_last_records_are_detected_by_the_head_file() {
    let (_dir, path) = temp_log();
    write_n(&path, 5);
    let l = lines(&path);
    rewrite(&path, &l[..3]);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::Truncated {
            expected: 5,
            last: 3,
            ..
        }
    ));
    // And the writer refuses to append to it.
    assert!(matches!(
        AuditLog::open(&path, clock()),
        Err(AuditError::Damaged { .. })
    ));
}

#[test]
fn deleted_head_file_is_detected() {
    let (_dir, path) = temp_log();
    write_n(&path, 2);
    let _ = std::fs::remove_file(head_path(&path));
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::BadHead { .. }
    ));
    assert!(matches!(
        AuditLog::open(&path, clock()),
        Err(AuditError::Damaged { .. })
    ));
}

#[test]
fn log_and_head_rewritten_together_are_caught_by_an_external_anchor() {
    let (_dir, path) = temp_log();
    let heads = write_n(&path, 3);
    let anchor = heads[1];
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(head_path(&path));
    let forger = open(&path);
    for i in 0..3 {
        let _ = forger.append(&Entry::new("mallory", "test.write").target(format!("forged-{i}")));
    }
    assert!(verify_file(&path, None).is_ok());
    assert!(matches!(
        tamper_of(verify_file(&path, Some(anchor))),
        Tamper::HeadMismatch {
            by: "anchor",
            seq: 2
        }
    ));
}

#[test]
fn crlf_and_escape_codes_in_every_field_cannot_forge_a_record() {
    let (_dir, path) = temp_log();
    let log = open(&path);
    let evil = "ok\"}\n{\"seq\":2,\"actor\":\"admin\"}\r\n\u{1b}[1A\u{0}\u{2028}";
    let entry = Entry::new(evil, evil)
        .target(evil)
        .outcome(Outcome::Denied)
        .detail(serde_json::json!({ evil: evil }));
    assert!(log.append(&entry).is_ok());
    assert!(log.append(&Entry::new("tester", "after")).is_ok());
    let l = lines(&path);
    assert_eq!(l.len(), 2, "one line per record: {l:?}");
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(2));
    let first: serde_json::Value = serde_json::from_str(&l[0]).unwrap_or_default();
    assert_eq!(first["actor"].as_str(), Some(evil));
}

#[test]
fn torn_write_is_cut_on_reopen_and_the_cut_is_recorded() {
    let (_dir, path) = temp_log();
    write_n(&path, 2);
    let mut file = match std::fs::OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(e) => panic!("open: {e}"),
    };
    let _ = file.write_all(b"{\"seq\":3,\"time\":\"20");
    drop(file);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::TornTail { line: 3, .. }
    ));
    let log = open(&path);
    let _ = log.append(&Entry::new("tester", "after"));
    let l = lines(&path);
    assert!(l[2].contains("audit.torn_record_discarded"), "{}", l[2]);
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(4));
}

#[test]
fn oversized_entry_is_refused_and_nothing_is_written() {
    let (_dir, path) = temp_log();
    let log = open(&path);
    let big = Entry::new("a".repeat(bulwark_audit::MAX_FIELD_LEN + 1), "x");
    assert!(matches!(log.append(&big), Err(AuditError::Record { .. })));
    assert!(log.append(&Entry::new("a", "b")).is_ok());
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(1));
}

#[test]
fn huge_line_is_reported_without_reading_it_into_memory() {
    let (_dir, path) = temp_log();
    write_n(&path, 1);
    let mut l = lines(&path);
    l.push(format!(
        "{}\n",
        "x".repeat(4 * bulwark_audit::MAX_DETAIL_LEN + 10)
    ));
    rewrite(&path, &l);
    assert!(matches!(
        tamper_of(verify_file(&path, None)),
        Tamper::LineTooLong { line: 2 }
    ));
}

#[test]
fn threads_appending_at_once_keep_one_chain() {
    let (_dir, path) = temp_log();
    let log = Arc::new(open(&path));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let _ = log.append(&Entry::new(format!("thread-{t}"), format!("step.{i}")));
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(100));
}

/// Child mode: append `AUDIT_CHILD_COUNT` records (0 = forever), printing
/// `ack SEQ` after each acknowledged one.
fn child_writer() -> bool {
    let Ok(path) = std::env::var("AUDIT_CHILD") else {
        return false;
    };
    let count: u64 = std::env::var("AUDIT_CHILD_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let log = match AuditLog::open(Path::new(&path), Arc::new(bulwark_core::SystemClock)) {
        Ok(l) => l,
        Err(e) => panic!("child open: {e}"),
    };
    let mut out = std::io::stdout();
    let mut i = 0u64;
    while count == 0 || i < count {
        let entry = Entry::new(format!("pid-{}", std::process::id()), "child.append")
            .detail(serde_json::json!({ "i": i }));
        match log.append(&entry) {
            Ok(r) => {
                let _ = writeln!(out, "ack {}", r.seq());
                let _ = out.flush();
            }
            Err(e) => panic!("child append: {e}: {:?}", std::error::Error::source(&e)),
        }
        i += 1;
    }
    true
}

fn spawn_child(test: &str, path: &Path, count: u64) -> std::process::Child {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => panic!("current_exe: {e}"),
    };
    match Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("AUDIT_CHILD", path)
        .env("AUDIT_CHILD_COUNT", count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("spawn: {e}"),
    }
}

#[test]
fn kill_9_loses_no_acknowledged_record() {
    if child_writer() {
        return;
    }
    let (_dir, path) = temp_log();
    let mut child = spawn_child("kill_9_loses_no_acknowledged_record", &path, 0);
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout")
    };
    let mut last_ack = 0u64;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(seq) = line.strip_prefix("ack ").and_then(|s| s.parse().ok()) {
            last_ack = seq;
            if last_ack >= 40 {
                break;
            }
        }
    }
    // SIGKILL while the child is in the middle of further appends.
    let _ = child.kill();
    let _ = child.wait();
    assert!(last_ack >= 40, "child acknowledged only {last_ack} records");
    // Whatever was in flight is either complete or a torn tail; the writer
    // cuts a torn tail on reopen. Every acknowledged record must be there.
    drop(open(&path));
    let verified = verify_file(&path, None);
    let records = verified.map(|v| v.records).unwrap_or(0);
    assert!(
        records >= last_ack,
        "{records} records, {last_ack} acknowledged"
    );
}

#[test]
fn two_processes_appending_at_once_keep_one_chain() {
    if child_writer() {
        return;
    }
    let (_dir, path) = temp_log();
    drop(open(&path));
    let test = "two_processes_appending_at_once_keep_one_chain";
    let mut a = spawn_child(test, &path, 60);
    let mut b = spawn_child(test, &path, 60);
    let ok_a = a.wait().map(|s| s.success()).unwrap_or(false);
    let ok_b = b.wait().map(|s| s.success()).unwrap_or(false);
    assert!(ok_a && ok_b, "children failed");
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(120));
}

#[test]
fn a_batch_with_one_invalid_entry_records_the_others() {
    let (_dir, path) = temp_log();
    let log = open(&path);
    let batch = vec![
        Entry::new("a", "one"),
        Entry::new("", "invalid: empty actor"),
        Entry::new("a", "three"),
    ];
    let results: Vec<bool> = batch
        .iter()
        .map(|e| log.append_all(std::slice::from_ref(e)).is_ok())
        .collect();
    assert_eq!(results, [true, false, true]);
    assert!(log.append_all(&batch).is_err());
    // The valid entries of the failed batch are still recorded, in order.
    assert_eq!(verify_file(&path, None).map(|v| v.records).ok(), Some(4));
}
