//! The bypass corpus: ways to name a file or a program other than its
//! canonical path. Each must be reported as what was really opened or run.
//! Needs root, runc, busybox-static and gcc.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod support;

use std::collections::HashMap;

use bulwark_core::{Event, EventKind};
use bulwark_testkit::{Access, Container};
use support::{start, stop_and_collect, watched_only};

/// Runs `script` in a fresh container that has the `actions` helper at
/// /mnt/actions, and returns its events.
fn run(script: &str) -> Vec<Event> {
    let actions = support::actions();
    let (sensor, stream) = start(watched_only());
    let mut c = Container::builder("bypass")
        .bind(&actions, "/mnt/actions", Access::ReadOnly)
        .args(["sh", "-c", script])
        .create()
        .unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    c.wait(std::time::Duration::from_secs(30)).unwrap();
    support::settle();
    let got = stop_and_collect(sensor, stream);
    got.of_container(c.id()).into_iter().cloned().collect()
}

/// (argv of the process, canonical path, result) for every open, joined to
/// the process's exec by tgid.
fn opens_by_argv(events: &[Event]) -> Vec<(Vec<String>, String, i64)> {
    let mut argv_of: HashMap<u32, Vec<String>> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::Exec { argv, .. } => {
                argv_of.insert(e.process.tgid, argv.clone());
            }
            EventKind::Open { path, result, .. } => {
                let argv = argv_of.get(&e.process.tgid).cloned().unwrap_or_default();
                out.push((argv, path.clone(), *result));
            }
            _ => {}
        }
    }
    out
}

fn assert_opened(opens: &[(Vec<String>, String, i64)], argv: &[&str], path: &str, ok: bool) {
    let hit = opens
        .iter()
        .any(|(a, p, r)| a == argv && p == path && (*r >= 0) == ok);
    assert!(
        hit,
        "no open of {path} (ok={ok}) by {argv:?}; opens: {opens:#?}"
    );
}

#[test]
fn aliased_file_names_resolve_to_the_canonical_path() {
    let events = run("cat /proc/self/root/etc/passwd >/dev/null; \
         cat /etc/../etc/./passwd >/dev/null; \
         ln -s /etc/passwd /tmp/link && cat /tmp/link >/dev/null; \
         ln -s /etc /tmp/etcdir && cat /tmp/etcdir/passwd >/dev/null; \
         cd /etc && cat ./passwd >/dev/null; \
         /mnt/actions openat-dirfd /etc passwd; \
         /mnt/actions proc-fd /etc passwd");
    let opens = opens_by_argv(&events);
    for argv in [
        &["cat", "/proc/self/root/etc/passwd"][..],
        &["cat", "/etc/../etc/./passwd"],
        &["cat", "/tmp/link"],
        &["cat", "/tmp/etcdir/passwd"],
        &["cat", "./passwd"],
        &["/mnt/actions", "openat-dirfd", "/etc", "passwd"],
        &["/mnt/actions", "proc-fd", "/etc", "passwd"],
    ] {
        assert_opened(&opens, argv, "/etc/passwd", true);
    }
}

#[test]
fn failed_relative_opens_are_joined_to_their_directory() {
    let events = run("cd /etc && cat ../bulwark-missing 2>/dev/null; \
         /mnt/actions openat-dirfd /etc sub/../bulwark-nope");
    let opens = opens_by_argv(&events);
    assert_opened(
        &opens,
        &["cat", "../bulwark-missing"],
        "/bulwark-missing",
        false,
    );
    assert_opened(
        &opens,
        &[
            "/mnt/actions",
            "openat-dirfd",
            "/etc",
            "sub/../bulwark-nope",
        ],
        "/etc/bulwark-nope",
        false,
    );
}

#[test]
fn aliased_program_names_resolve_to_what_actually_ran() {
    let events = run(
        "ln -s /bin/busybox /tmp/renamed; /tmp/renamed 2>/dev/null; \
         /tmp/../bin/cat /etc/group >/dev/null; \
         /proc/self/root/bin/true; \
         busybox echo multi >/dev/null; \
         cd /tmp && /bin/true",
    );
    let execs: Vec<(String, String, Vec<String>, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Exec {
                exe,
                filename,
                argv,
                cwd,
                ..
            } => Some((exe.clone(), filename.clone(), argv.clone(), cwd.clone())),
            _ => None,
        })
        .collect();
    let find = |filename: &str| {
        execs
            .iter()
            .find(|(_, f, _, _)| f == filename)
            .unwrap_or_else(|| panic!("no exec of {filename}: {execs:#?}"))
            .clone()
    };
    // A symlink with an innocent name still runs busybox; argv[0] names the
    // applet busybox picks.
    let (exe, _, argv, _) = find("/tmp/renamed");
    assert_eq!(
        (exe.as_str(), argv[0].as_str()),
        ("/bin/busybox", "/tmp/renamed")
    );
    assert_eq!(find("/tmp/../bin/cat").0, "/bin/busybox");
    assert_eq!(find("/proc/self/root/bin/true").0, "/bin/busybox");
    let multi = execs
        .iter()
        .find(|(_, _, a, _)| a.first().map(String::as_str) == Some("busybox"));
    let (exe, _, argv, _) = multi.expect("busybox echo").clone();
    assert_eq!((exe.as_str(), argv[1].as_str()), ("/bin/busybox", "echo"));
    let in_tmp = execs
        .iter()
        .any(|(_, f, _, cwd)| f == "/bin/true" && cwd == "/tmp");
    assert!(in_tmp, "cwd of /bin/true run from /tmp: {execs:#?}");
}
