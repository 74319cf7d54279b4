//! Protect mode against real runc containers (bulwark-testkit): allowed
//! actions keep working; denied exec, file access and socket calls fail with
//! EPERM and are reported exactly once each; the bypass corpus; restart.
//! Needs root, runc, busybox-static, cc (for the probe) and bpffs.
//!
//! Fixtures: the busybox-static root filesystem of bulwark-testkit, plus
//! scripts and the probe (`tests/probe/probe.c`, compiled here) placed into
//! the container's image with `ContainerBuilder::file`.

// Test code: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/collect.rs"]
mod collect;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/probe.rs"]
mod probe;

use std::net::{TcpListener, UdpSocket};

use bulwark_core::Decision;
use bulwark_enforce::denial::Class;
use bulwark_testkit::{Container, ContainerBuilder, Network};
use harness::Harness;

const EVIL: &str = "#!/bin/sh\necho evil-ran >> /tmp/ran\n";

/// Programs of the busybox image, the probe, nothing else.
const EXEC: &str = "  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
";

fn image(name: &str) -> ContainerBuilder {
    Container::builder(name)
        .file("/usr/local/bin/evil", EVIL, 0o755)
        .file("/usr/local/bin/probe", probe::probe(), 0o755)
        .args(["sleep", "3600"])
}

fn sh(c: &Container, script: &str) -> (bool, String) {
    let out = c.exec(["sh", "-c", script]).unwrap();
    (
        out.status.success(),
        format!("{}{}", out.stdout, out.stderr),
    )
}

#[test]
fn allowed_programs_run_and_a_denied_one_is_refused_once() {
    let h = Harness::new(EXEC);
    let (c, p) = h.protect(image("exec"));
    assert!(p.protected);
    assert_eq!(p.exec_backend, "fanotify");
    // Registered after `runc create`: the init has pivoted, mounts are named
    // as the container sees them. Every mount that can hold a program is
    // marked (the writable tmpfs /dev and /tmp included); proc refuses.
    for m in ["/", "/dev", "/dev/shm", "/tmp"] {
        assert!(
            p.marked_mounts.iter().any(|x| x == m),
            "{m} not marked: {p:?}"
        );
    }
    assert!(p.skipped_mounts.iter().any(|x| x == "/proc"), "{p:?}");

    let (ok, out) = sh(&c, "echo hello");
    assert!(ok && out.contains("hello"), "{out}");
    let (ok, out) = sh(&c, "/usr/local/bin/evil");
    assert!(!ok && out.contains("Operation not permitted"), "{out}");
    assert!(!sh(&c, "cat /tmp/ran").0, "the denied program ran");

    let d = h.sink.matching("exec /usr/local/bin/evil");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].decision, Decision::Deny);
    assert_eq!(d[0].class, Class::Process);
    assert_eq!(d[0].workload.as_str(), "image:test");
    assert!(
        d[0].ancestry.iter().any(|a| a.comm == "sh"),
        "{:?}",
        d[0].ancestry
    );
}

#[test]
fn denied_binary_retried_1000_times_in_a_tight_loop_runs_0_times() {
    let h = Harness::new(EXEC);
    let (c, _) = h.protect(image("race"));
    let out = c
        .exec([
            "/usr/local/bin/probe",
            "loop-exec",
            "1000",
            "/usr/local/bin/evil",
        ])
        .unwrap();
    assert_eq!(out.stdout.trim(), "ran 0 refused 1000", "{}", out.stderr);
    assert!(!sh(&c, "cat /tmp/ran").0, "the denied program ran");
    assert_eq!(h.sink.matching("exec /usr/local/bin/evil").len(), 1000);
    let alerts: std::collections::BTreeSet<String> = h
        .sink
        .matching("evil")
        .iter()
        .map(|d| d.to_alert().id)
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "repeats of one refusal fold into one alert"
    );
}

#[test]
fn bypass_corpus_is_denied() {
    let h = Harness::new(EXEC);
    let (c, _) = h.protect(image("bypass").file(
        "/usr/local/bin/evil.sh",
        "echo script-ran >> /tmp/ran\n",
        0o644,
    ));
    let attempts = [
        ("symlink", "ln -s /usr/local/bin/evil /tmp/s && /tmp/s"),
        (
            "hardlink",
            "ln /usr/local/bin/evil /usr/local/bin/h && /usr/local/bin/h",
        ),
        ("proc root", "/proc/self/root/usr/local/bin/evil"),
        (
            "copy",
            "cp /usr/local/bin/evil /tmp/c && chmod +x /tmp/c && /tmp/c",
        ),
        (
            "rename over",
            "cp /usr/local/bin/evil /tmp/b && mv /tmp/b /tmp/busybox && /tmp/busybox",
        ),
    ];
    for (what, script) in attempts {
        let (ok, out) = sh(&c, script);
        assert!(!ok && out.contains("not permitted"), "{what}: {out}");
    }
    let probe = |args: &[&str]| {
        let mut v = vec!["/usr/local/bin/probe"];
        v.extend_from_slice(args);
        c.exec(v).unwrap().stdout
    };
    assert_eq!(
        probe(&["execveat", "/usr/local/bin/evil"]).trim(),
        "errno 1"
    );
    // Fileless: vm.memfd_noexec=2 in the container's pid namespace.
    let memfd = probe(&["memfd", "/bin/busybox"]);
    assert!(memfd.starts_with("errno"), "memfd exec ran: {memfd}");
    assert!(!sh(&c, "cat /tmp/ran").0, "something ran");
    // The kernel refused memfd_create(MFD_EXEC) and the exec of the sealed
    // memfd: two denials, reported after the fact (tests/fileless.rs).
    assert_eq!(h.sink.wait_matching("memfd:probe", 2).len(), 2);
    assert_eq!(
        h.sink
            .denials()
            .iter()
            .filter(|d| d.class == Class::Process)
            .count(),
        8
    );
}

#[test]
fn memfd_exec_runs_when_the_policy_allows_it() {
    let h = Harness::new(&format!("{EXEC}  hardening:\n    memfd_exec: allow\n"));
    let (c, p) = h.protect(image("memfd-ok"));
    assert_eq!(p.memfd_exec, "allowed");
    let out = c
        .exec(["/usr/local/bin/probe", "memfd", "/bin/busybox"])
        .unwrap();
    assert!(!out.stdout.starts_with("errno"), "{out:?}");
}

#[test]
fn interpreter_reading_a_script_follows_the_file_rules() {
    let body = format!("{EXEC}  files:\n    rules:\n      - path: /tmp/\n        read: deny\n");
    let h = Harness::new(&body);
    let (c, _) = h.protect(image("interp"));
    assert!(sh(&c, "echo 'echo x >> /tmp/ran' > /tmp/e.sh").0);
    let (ok, out) = sh(&c, "sh /tmp/e.sh");
    assert!(!ok && out.contains("not permitted"), "{out}");
    assert_eq!(h.sink.matching("open /tmp/e.sh").len(), 1);
}

const FILES: &str = "  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
  files:
    rules:
      - path: /etc/secret
        read: deny
        write: deny
      - path: /usr/
        write: deny
";

#[test]
fn secrets_cannot_be_read_and_image_code_cannot_be_written() {
    let h = Harness::new(FILES);
    let (c, p) = h.protect(image("files").file("/etc/secret", "s3cret\n", 0o600));
    assert!(p.protected_inodes >= 2);
    let probe = |op: &str, path: &str| c.exec(["/usr/local/bin/probe", op, path]).unwrap().stdout;
    assert_eq!(probe("read", "/etc/hosts").trim(), "ok");
    assert_eq!(probe("read", "/etc/secret").trim(), "errno 1");
    assert_eq!(probe("write", "/etc/secret").trim(), "errno 1");
    assert_eq!(probe("write", "/usr/local/bin/evil").trim(), "errno 1");
    assert_eq!(probe("write", "/usr/new-file").trim(), "errno 1");
    assert_eq!(probe("read", "/usr/local/bin/evil").trim(), "ok");
    assert_eq!(probe("write", "/tmp/fine").trim(), "ok");
    let d = h.sink.denials();
    assert_eq!(d.len(), 4, "{d:#?}");
    assert_eq!(h.sink.matching("open /etc/secret for read").len(), 1);
    assert!(
        d.iter()
            .all(|d| d.class == Class::File && d.decision == Decision::Deny)
    );
}

fn net_policy(allowed_tcp: u16, allowed_udp: u16, listen: u16, mode: &str) -> String {
    format!(
        "  mode: {mode}
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
  network:
    egress:
      - cidr: 127.0.0.1/32
        ports: [{allowed_tcp}]
        protocol: tcp
      - cidr: 127.0.0.1/32
        ports: [{allowed_udp}]
        protocol: udp
    listen:
      - port: {listen}
        protocol: tcp
"
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn connects_sends_and_binds_outside_the_policy_get_eperm_once_each() {
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let denied = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp_ok = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_no = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a, d) = (
        allowed.local_addr().unwrap().port(),
        denied.local_addr().unwrap().port(),
    );
    let (ua, ud) = (
        udp_ok.local_addr().unwrap().port(),
        udp_no.local_addr().unwrap().port(),
    );
    let listen = free_port();
    let h = Harness::new(&net_policy(a, ua, listen, "protect"));
    let (c, p) = h.protect(image("net").network(Network::Host));
    assert!(p.network_backend.starts_with("cgroup-bpf"), "{p:?}");
    let probe = |args: &[&str]| {
        let mut v = vec!["/usr/local/bin/probe"];
        v.extend_from_slice(args);
        c.exec(v).unwrap().stdout.trim().to_owned()
    };
    assert_eq!(probe(&["connect", "127.0.0.1", &a.to_string()]), "ok");
    assert_eq!(probe(&["connect", "127.0.0.1", &d.to_string()]), "errno 1");
    assert_eq!(probe(&["sendto", "127.0.0.1", &ua.to_string()]), "ok");
    assert_eq!(probe(&["sendto", "127.0.0.1", &ud.to_string()]), "errno 1");
    assert_eq!(probe(&["bind", &listen.to_string()]), "ok");
    assert_eq!(probe(&["bind", &free_port().to_string()]), "errno 1");
    // busybox nc sees the same refusal.
    let (ok, out) = sh(&c, &format!("echo x | nc 127.0.0.1 {d}"));
    assert!(!ok && out.contains("not permitted"), "{out}");

    let connects = h
        .sink
        .wait_matching(&format!("connect tcp 127.0.0.1:{d}"), 2);
    assert_eq!(connects.len(), 2, "probe + nc: {connects:#?}");
    assert_eq!(
        h.sink
            .wait_matching(&format!("sendmsg udp to 127.0.0.1:{ud}"), 1)
            .len(),
        1
    );
    assert_eq!(h.sink.wait_matching("bind tcp", 1).len(), 1);
    assert_eq!(h.sink.denials().len(), 4);
    assert!(
        h.sink
            .denials()
            .iter()
            .all(|d| d.decision == Decision::Deny && d.enforcer == "cgroup-bpf")
    );
    let counters = h.enforcer.net_counters(&c.id().parse().unwrap()).unwrap();
    assert_eq!((counters.denied, counters.lost), (4, 0));
    // The host (outside the container's cgroup) is not affected.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d)).is_ok());
}

#[test]
fn monitor_mode_network_alerts_but_connects() {
    let denied = TcpListener::bind("127.0.0.1:0").unwrap();
    let d = denied.local_addr().unwrap().port();
    let h = Harness::new(&net_policy(1, 1, 1, "monitor"));
    let (c, _) = h.protect(image("net-mon").network(Network::Host));
    let out = c
        .exec([
            "/usr/local/bin/probe",
            "connect",
            "127.0.0.1",
            &d.to_string(),
        ])
        .unwrap();
    assert_eq!(out.stdout.trim(), "ok");
    let seen = h.sink.wait_matching(&format!("127.0.0.1:{d}"), 1);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].decision, Decision::Alert);
}

#[test]
fn network_enforcement_survives_a_service_crash_and_exec_enforcement_comes_back() {
    let denied = TcpListener::bind("127.0.0.1:0").unwrap();
    let d = denied.local_addr().unwrap().port();
    let h = Harness::new(&net_policy(1, 1, 1, "protect"));
    let (c, _) = h.protect(image("restart").network(Network::Host));
    let h = {
        let state = h.config.state_dir.clone();
        let instance = h.config.instance.clone();
        let h2 = h.restart();
        assert!(state.join(format!("{}.json", c.id())).exists());
        assert_eq!(h2.config.instance, instance);
        h2
    };
    // Between the crash and recovery, the pinned programs still refuse.
    let out = c
        .exec([
            "/usr/local/bin/probe",
            "connect",
            "127.0.0.1",
            &d.to_string(),
        ])
        .unwrap();
    assert_eq!(out.stdout.trim(), "errno 1");
    let recovered = h.enforcer.recover();
    assert_eq!(recovered.len(), 1);
    assert!(
        recovered[0].1.as_ref().is_ok_and(|p| p.protected),
        "{recovered:?}"
    );
    let (ok, out) = sh(&c, "/usr/local/bin/evil");
    assert!(!ok && out.contains("not permitted"), "{out}");
    assert_eq!(h.sink.matching("exec /usr/local/bin/evil").len(), 1);
}

#[test]
fn exited_container_is_cleaned_up() {
    let h = Harness::new(&net_policy(1, 1, 1, "protect"));
    let (mut c, _) = h.protect(image("exit").args(["true"]).network(Network::Host));
    c.wait(std::time::Duration::from_secs(10)).unwrap();
    h.enforcer.tick();
    assert!(h.enforcer.containers().is_empty());
    assert!(!h.config.state_dir.join(format!("{}.json", c.id())).exists());
}

#[test]
fn canary_proves_enforcement_is_live_and_alerts_when_a_program_is_detached() {
    let h = Harness::new(EXEC);
    let r = h.enforcer.canary();
    assert!(
        r.live() && r.exec_refused && r.connect_refused && r.reported,
        "{r:?}"
    );
    assert!(
        h.sink.denials().is_empty(),
        "canary refusals became workload alerts"
    );
    assert!(h.sink.health_alerts().is_empty());
    // Tamper as a root attacker would: detach the canary's connect program.
    let pin = std::path::Path::new("/sys/fs/bpf/bulwark")
        .join(&h.config.instance)
        .join("links/bulwark-canary/bulwark_connect4");
    let out = std::process::Command::new("bpftool")
        .args(["link", "detach", "pinned"])
        .arg(&pin)
        .output()
        .expect("bpftool (Debian package bpftool)");
    assert!(out.status.success(), "{out:?}");
    let r = h.enforcer.canary();
    assert!(!r.live() && !r.connect_refused && r.exec_refused, "{r:?}");
    let health = h.sink.health_alerts();
    assert_eq!(health.len(), 1, "{health:?}");
    assert!(
        health[0]
            .message
            .contains("network enforcement is not live"),
        "{}",
        health[0].message
    );
}
