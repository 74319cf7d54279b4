//! Audit log cost, as ratios to the plain-file work it cannot avoid:
//! - append (hash, write line, fdatasync, rewrite head) against writing the
//!   same line and one fdatasync, from one thread and from eight (group
//!   commit shares one fdatasync between waiting threads);
//! - verify (parse, re-hash, chain check) against reading and parsing the
//!   same lines as JSON.
//!
//! `cargo bench -p bulwark-audit`; files go to a temp dir on the disk of
//! the build directory.

#![allow(clippy::panic, reason = "a benchmark aborts on setup errors")]

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bulwark_audit::{AuditLog, Entry, verify_file};

fn entry(i: usize) -> Entry {
    Entry::new("cli:bench", "profile.mode")
        .target("image:registry.test/web")
        .detail(
            serde_json::json!({"class": "network", "from": "discover", "to": "monitor", "i": i}),
        )
}

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(base).unwrap_or_else(|e| panic!("{e}"));
    let n = 300;

    let plain = dir.path().join("plain.log");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plain)
        .unwrap_or_else(|e| panic!("{e}"));
    let line = serde_json::to_string(&entry(0).detail).unwrap_or_default();
    let line = format!(
        "{{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"actor\":\"cli:bench\",\"action\":\"profile.mode\",\"detail\":{line},\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
        "0".repeat(64),
        "0".repeat(64)
    );
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        f.sync_data().unwrap_or_else(|e| panic!("{e}"));
    }
    let baseline = t.elapsed().as_secs_f64() / n as f64;

    let path = dir.path().join("audit.log");
    let log = AuditLog::open(&path, Arc::new(bulwark_core::SystemClock))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    for i in 0..n {
        log.append(&entry(i)).unwrap_or_else(|e| panic!("{e}"));
    }
    let append = t.elapsed().as_secs_f64() / n as f64;

    // Eight threads appending at once share writes (group commit).
    let shared = Arc::new(
        AuditLog::open(
            &dir.path().join("group.log"),
            Arc::new(bulwark_core::SystemClock),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let t = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&shared);
            std::thread::spawn(move || {
                for i in 0..n / 8 {
                    log.append(&entry(i)).unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
    let grouped = t.elapsed().as_secs_f64() / (n / 8 * 8) as f64;

    // Verification over a bigger log (no fsync needed to build it: copy lines).
    let big = dir.path().join("big.log");
    {
        let big_log = AuditLog::open(&big, Arc::new(bulwark_core::SystemClock))
            .unwrap_or_else(|e| panic!("{e}"));
        let batch: Vec<Entry> = (0..2000).map(entry).collect();
        big_log.append_all(&batch).unwrap_or_else(|e| panic!("{e}"));
    }
    let records = 2000.0;
    let t = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&big).unwrap_or_else(|e| panic!("{e}")));
    for l in file.lines() {
        let v: serde_json::Value = serde_json::from_str(&l.unwrap_or_default()).unwrap_or_default();
        std::hint::black_box(v);
    }
    let parse = t.elapsed().as_secs_f64() / records;
    let t = Instant::now();
    let ok = verify_file(&big, None).unwrap_or_else(|e| panic!("{e}"));
    let verify = t.elapsed().as_secs_f64() / records;
    assert_eq!(ok.records, 2000);

    println!(
        "baseline  write line + fdatasync   {:>8.1} us/record  1.00x",
        baseline * 1e6
    );
    println!(
        "audit     append, 1 thread         {:>8.1} us/record  {:.2}x",
        append * 1e6,
        append / baseline
    );
    println!(
        "audit     append, 8 threads        {:>8.1} us/record  {:.2}x",
        grouped * 1e6,
        grouped / baseline
    );
    println!(
        "baseline  read + parse JSON line   {:>8.1} us/record  1.00x",
        parse * 1e6
    );
    println!(
        "audit     verify chain             {:>8.1} us/record  {:.2}x",
        verify * 1e6,
        verify / parse
    );
}
