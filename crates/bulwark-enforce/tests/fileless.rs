//! Fileless execution (memfd) in Protect mode against real runc containers:
//! every attempt the kernel refuses (`vm.memfd_noexec = 2`) is one denial
//! (one alert, one audit record) attributed to its container; where the
//! sysctl cannot be set (a container sharing the host's pid namespace) a
//! memfd exec is killed before its first instruction and reported. Needs
//! root, runc, busybox-static, cc (for the probe), tracefs and bpffs.
//!
//! Fixtures: the busybox-static root filesystem of bulwark-testkit and the
//! probe (`tests/probe/probe.c`, compiled here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/collect.rs"]
mod collect;
#[path = "support/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "support/probe.rs"]
mod probe;

use bulwark_core::Decision;
use bulwark_enforce::denial::{Class, Denial};
use bulwark_testkit::{Container, ContainerBuilder, Output};
use harness::Harness;

const EXEC: &str = "  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
";

fn image(name: &str) -> ContainerBuilder {
    Container::builder(name)
        .file("/usr/local/bin/probe", probe::probe(), 0o755)
        .file("/usr/local/bin/not-exec", "#!/bin/sh\n", 0o644)
        .args(["sleep", "3600"])
}

fn probe(c: &Container, args: &[&str]) -> Output {
    let mut v = vec!["/usr/local/bin/probe"];
    v.extend_from_slice(args);
    c.exec(v).unwrap()
}

fn fileless(h: &Harness) -> Vec<Denial> {
    h.sink
        .denials()
        .into_iter()
        .filter(|d| d.action.contains("memfd:"))
        .collect()
}

#[test]
fn memfd_exec_refused_by_the_kernel_is_one_denial_per_refused_call() {
    let h = Harness::new(EXEC);
    let (c, p) = h.protect(image("memfd-deny"));
    assert!(p.memfd_exec.contains("attempts reported"), "{p:?}");

    // MFD_EXEC refused, then a sealed memfd whose execveat is refused.
    let out = probe(&c, &["memfd", "/bin/busybox"]);
    assert_eq!(out.stdout.trim(), "errno 13");
    // Each by-path spelling of "this fd".
    for form in ["self", "thread", "pid", "dev"] {
        let out = probe(&c, &["memfd-path", form, "/bin/busybox"]);
        assert_eq!(out.stdout.trim(), "errno 13", "{form}: {out:?}");
    }
    // An ordinary failed exec (no x bit) is nothing of ours.
    assert!(
        !c.exec(["/usr/local/bin/not-exec"])
            .unwrap()
            .status
            .success()
    );

    let wanted = [
        "memfd_create(MFD_EXEC) memfd:probe",
        "exec memfd:probe",
        "exec memfd:probe-self",
        "exec memfd:probe-thread",
        "exec memfd:probe-pid",
        "exec memfd:probe-dev",
    ];
    for action in wanted {
        let d = h.sink.wait_matching(action, 1);
        let exact: Vec<_> = d.iter().filter(|d| d.action == action).collect();
        assert_eq!(exact.len(), 1, "{action}: {d:#?}");
        let d = exact[0];
        assert_eq!(d.decision, Decision::Deny);
        assert_eq!(d.class, Class::Process);
        assert_eq!(d.container.as_str(), c.id());
        assert_eq!(d.enforcer, "vm.memfd_noexec");
        assert!(d.reason.contains("kernel refused"), "{}", d.reason);
        assert!(
            d.ancestry.first().is_some_and(|a| a.comm == "probe"),
            "{:?}",
            d.ancestry
        );
    }
    assert_eq!(fileless(&h).len(), wanted.len(), "{:#?}", fileless(&h));
    let alerts: std::collections::BTreeSet<String> =
        fileless(&h).iter().map(|d| d.to_alert().id).collect();
    assert_eq!(alerts.len(), wanted.len(), "one alert per distinct attempt");
}

#[test]
fn memfd_exec_allowed_by_the_policy_runs_and_is_not_reported() {
    let h = Harness::new(&format!("{EXEC}  hardening:\n    memfd_exec: allow\n"));
    let (c, p) = h.protect(image("memfd-allow"));
    assert_eq!(p.memfd_exec, "allowed");
    let out = probe(&c, &["memfd", "/bin/busybox"]);
    assert!(!out.stdout.starts_with("errno"), "{out:?}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(fileless(&h).is_empty(), "{:#?}", fileless(&h));
}

#[test]
fn memfd_exec_in_a_container_sharing_the_host_pid_namespace_is_killed_before_it_runs() {
    // vm.memfd_noexec is per pid namespace: setting it here would change
    // the whole host, so the service falls back to killing the exec.
    let host = std::fs::read_to_string("/proc/sys/vm/memfd_noexec").unwrap();
    assert!(
        host.trim() != "2",
        "this test needs a host with vm.memfd_noexec < 2 (it is {host})"
    );
    let h = Harness::new(EXEC);
    let (c, p) = h.protect(image("memfd-hostpid").host_pid_namespace());
    assert!(p.memfd_exec.starts_with("denied (SIGKILL"), "{p:?}");
    assert!(p.memfd_exec.contains("host's PID namespace"), "{p:?}");

    let out = probe(&c, &["memfd", "/bin/busybox"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    // busybox run as "probe-child" would say "applet not found": it never ran.
    assert!(!text.contains("applet"), "{text}");
    // runc exec reports a process killed by SIGKILL as 128 + 9.
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let d = h.sink.wait_matching("exec memfd:probe", 1);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].decision, Decision::Deny);
    assert_eq!(d[0].enforcer, "sched_process_exec+SIGKILL");
    assert_eq!(d[0].container.as_str(), c.id());
    // Other programs of the container still run.
    assert!(c.exec(["true"]).unwrap().status.success());
}
