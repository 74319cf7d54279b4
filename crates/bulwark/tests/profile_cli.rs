//! `bulwark profile ...` on a data directory whose profile was learned by
//! the engine from generated events.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_core::ManualClock;
use bulwark_nanoseg::ProfileStore;
use bulwark_profile::testutil::{T0, at, connect, exec, listen, open, with_image};
use bulwark_profile::{Config, Engine, NoFacts};

fn bulwark(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env("BULWARK_DATA_DIR", data)
        .env("USER", "tester")
        .output()
        .unwrap_or_else(|e| panic!("run bulwark: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A data dir with the profile of `image:registry.test/web`, learned from
/// image versions 1 and 2.
fn learned() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 as u64),
    ));
    let mut engine = Engine::new(Config::default(), clock);
    let v2 = |e| with_image(at(e, 100), "registry.test/web:2");
    let events = vec![
        exec(10, 1, "/usr/sbin/httpd", "/usr/sbin/httpd", &["httpd"]),
        listen(10, "0.0.0.0:8080"),
        open(10, "/etc/httpd.conf", true, false),
        connect(10, "10.0.0.5:5432"),
        v2(exec(
            20,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd"],
        )),
        v2(exec(21, 20, "/usr/bin/gzip", "/usr/bin/gzip", &["gzip"])),
    ];
    for e in &events {
        let _ = engine.observe(e, &NoFacts);
    }
    let store = ProfileStore::open(&dir.path().join("profiles")).unwrap_or_else(|e| panic!("{e}"));
    for p in engine.profiles() {
        store.write(p).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

const WEB: &str = "image:registry.test/web";

fn audit_actions(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("audit/audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["action"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn list_and_show_the_learned_profile() {
    let d = learned();
    let o = bulwark(d.path(), &["profile", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(WEB) && out.contains("discover"), "{out}");
    let o = bulwark(d.path(), &["profile", "show", WEB]);
    let yaml = stdout(&o);
    assert!(
        yaml.contains("kind: WorkloadProfile") && yaml.contains("/usr/bin/gzip"),
        "{yaml}"
    );
    let o = bulwark(d.path(), &["profile", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    assert_eq!(v[0]["modes"]["network"], "discover");
}

#[test]
fn unknown_or_malformed_workload_is_a_one_line_error() {
    let d = learned();
    let o = bulwark(d.path(), &["profile", "show", "image:nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no profile for workload image:nope"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = bulwark(d.path(), &["profile", "show", "web\u{1b}[2J"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("forbidden character"), "{}", stderr(&o));
}

#[test]
fn promote_and_demote_change_modes_and_are_audited() {
    let d = learned();
    let o = bulwark(d.path(), &["profile", "promote", WEB]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4, "{}", stdout(&o));
    let o = bulwark(
        d.path(),
        &[
            "profile", "promote", WEB, "--class", "network", "--reason", "reviewed",
        ],
    );
    assert!(
        stdout(&o).contains("network monitor -> protect"),
        "{}",
        stdout(&o)
    );
    let o = bulwark(
        d.path(),
        &[
            "profile", "demote", WEB, "--to", "discover", "--class", "file",
        ],
    );
    assert!(
        stdout(&o).contains("file monitor -> discover"),
        "{}",
        stdout(&o)
    );
    // Already there: nothing changes, nothing is audited.
    let o = bulwark(
        d.path(),
        &[
            "profile", "demote", WEB, "--class", "network", "--to", "protect",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).is_empty() && stderr(&o).contains("nothing to demote"),
        "{}",
        stderr(&o)
    );
    let actions = audit_actions(d.path());
    assert_eq!(actions, vec!["profile.mode"; 6], "{actions:?}");
    let o = bulwark(d.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let records: Vec<serde_json::Value> = std::fs::read_to_string(d.path().join("audit/audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(records[4]["actor"], "cli:tester");
    assert_eq!(records[4]["detail"]["reason"], "reviewed");
}

#[test]
fn promoting_to_a_lower_mode_is_refused() {
    let d = learned();
    let _ = bulwark(d.path(), &["profile", "promote", WEB, "--to", "protect"]);
    let o = bulwark(d.path(), &["profile", "promote", WEB, "--to", "monitor"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot promote"), "{}", stderr(&o));
}

#[test]
fn version_diff_lists_what_a_new_image_added() {
    let d = learned();
    let o = bulwark(
        d.path(),
        &[
            "profile",
            "diff",
            WEB,
            "--images",
            "registry.test/web:1",
            "registry.test/web:2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("+ process /usr/bin/gzip"), "{out}");
    assert!(out.contains("- egress 10.0.0.5 port 5432/tcp"), "{out}");
    let o = bulwark(
        d.path(),
        &[
            "profile",
            "diff",
            WEB,
            "--images",
            "registry.test/web:1",
            "web:9",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no image version \"web:9\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn export_edit_diff_import_round_trip_is_audited() {
    let d = learned();
    let file = d.path().join("web.yaml");
    let o = bulwark(
        d.path(),
        &["profile", "export", WEB, "-o", &file.to_string_lossy()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let edited = text
        .replacen("network: discover", "network: protect", 1)
        .replace("/etc/httpd.conf", "/etc/httpd/");
    let _ = std::fs::write(&file, edited);
    let o = bulwark(
        d.path(),
        &["profile", "diff", WEB, "--file", &file.to_string_lossy()],
    );
    let out = stdout(&o);
    assert!(out.contains("~ mode network: discover -> protect"), "{out}");
    assert!(
        out.contains("+ file /etc/httpd/ r") && out.contains("- file /etc/httpd.conf r"),
        "{out}"
    );
    let o = bulwark(
        d.path(),
        &[
            "profile",
            "import",
            &file.to_string_lossy(),
            "--reason",
            "review #12",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = bulwark(d.path(), &["profile", "show", WEB, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    assert_eq!(v["spec"]["modes"]["network"], "protect");
    assert_eq!(audit_actions(d.path()), ["profile.import"]);
}

#[test]
fn a_bad_document_imports_nothing() {
    let d = learned();
    let before = stdout(&bulwark(d.path(), &["profile", "show", WEB]));
    let file = d.path().join("bad.yaml");
    let good = stdout(&bulwark(d.path(), &["profile", "export", WEB]));
    let evil = good
        .replace("network: discover", "network: protect")
        .replace("/etc/httpd.conf", "/etc/../shadow");
    let _ = std::fs::write(&file, format!("{good}{evil}"));
    let o = bulwark(d.path(), &["profile", "import", &file.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("document 2") && stderr(&o).contains("\"..\" segment"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&bulwark(d.path(), &["profile", "show", WEB])),
        before
    );
    assert!(audit_actions(d.path()).is_empty());
}

#[test]
fn import_merge_learns_across_environments() {
    let d = learned();
    let other = stdout(&bulwark(d.path(), &["profile", "export", WEB]))
        .replace("/etc/httpd.conf", "/etc/httpd-prod.conf")
        .replace("- default", "- prod");
    let file = d.path().join("prod.yaml");
    let _ = std::fs::write(&file, other);
    let o = bulwark(
        d.path(),
        &["profile", "import", "--merge", &file.to_string_lossy()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let yaml = stdout(&bulwark(d.path(), &["profile", "show", WEB]));
    assert!(
        yaml.contains("/etc/httpd.conf") && yaml.contains("/etc/httpd-prod.conf"),
        "{yaml}"
    );
    assert!(yaml.contains("- prod"), "{yaml}");
}

#[test]
fn replay_with_profiles_learns_and_detects_from_a_recording() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let events = [
        exec(10, 1, "/usr/sbin/httpd", "/usr/sbin/httpd", &["httpd"]),
        listen(10, "0.0.0.0:8080"),
        open(10, "/etc/../etc/shadow", true, false),
        connect(10, "169.254.169.254:80"),
    ];
    let recording: String = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            e.seq = i as u64 + 1;
            format!("{}\n", serde_json::to_string(&e).unwrap_or_default())
        })
        .collect();
    let file = d.path().join("rec.jsonl");
    let _ = std::fs::write(&file, recording);
    let alerts = d.path().join("alerts.jsonl");
    let sink = format!("file:{}", alerts.display());
    let o = bulwark(
        d.path(),
        &[
            "replay",
            &file.to_string_lossy(),
            "--profiles",
            "--alerts",
            &sink,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rules: Vec<String> = std::fs::read_to_string(&alerts)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a["reason"]["rule"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(rules, ["credential-read", "cloud-metadata"]);
    let o = bulwark(d.path(), &["profile", "show", WEB]);
    assert!(stdout(&o).contains("port: 8080"), "{}", stdout(&o));
}

#[test]
fn bad_profile_flags_are_one_line_errors_and_create_nothing() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = d.path().join("data");
    let rec = d.path().join("empty.jsonl");
    let _ = std::fs::write(&rec, "");
    let data_s = data.to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--alerts", "carrier-pigeon"],
            "--alerts \"carrier-pigeon\": expected stdout",
        ),
        (
            &["--alerts", "webhook:ftp://x/"],
            "expected an http:// or https:// URL",
        ),
        (
            &["--exceptions", "/nonexistent/exceptions.yaml"],
            "/nonexistent/exceptions.yaml",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec![
            "replay",
            rec.to_str().unwrap_or_default(),
            "--profiles",
            "--data-dir",
            &data_s,
        ];
        args.extend_from_slice(flags);
        let o = bulwark(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(stderr(&o).contains(message), "{flags:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(!data.exists(), "{flags:?} created {}", data.display());
    }
}
