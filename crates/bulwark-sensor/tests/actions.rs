//! Network, privilege, ptrace and mount actions inside real containers, and
//! the hooks this kernel lacks. Needs root, runc, busybox-static and gcc.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod support;

use bulwark_core::{Event, EventKind, PrivilegeChangeKind, SocketProtocol};
use bulwark_testkit::{Access, Container};
use support::{start, stop_and_collect, watched_only};

fn run(name: &str, caps: &[&str], script: &str) -> Vec<Event> {
    let actions = support::actions();
    let (sensor, stream) = start(watched_only());
    let mut builder = Container::builder(name)
        .bind(&actions, "/mnt/actions", Access::ReadOnly)
        .args(["sh", "-c", script]);
    for cap in caps {
        builder = builder.capability(cap);
    }
    let mut c = builder.create().unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    let status = c.wait(std::time::Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}: {}", c.stderr());
    support::settle();
    let got = stop_and_collect(sensor, stream);
    got.of_container(c.id()).into_iter().cloned().collect()
}

#[test]
fn listen_accept_connect_and_refused_connect_carry_addresses_and_results() {
    let events = run(
        "net",
        &[],
        // busybox nc listens on a dual-stack IPv6 socket: the accepted peer
        // is v4-mapped in the kernel and must come out as plain IPv4.
        "nc -l -p 7000 >/dev/null & sleep 0.3; echo hi | nc 127.0.0.1 7000; wait; \
         /mnt/actions connect 1",
    );
    let by = |f: &dyn Fn(&EventKind) -> bool| events.iter().any(|e| f(&e.kind));
    assert!(
        by(
            &|k| matches!(k, EventKind::Bind { socket, result: 0 } if socket.local.map(|a| a.port()) == Some(7000))
        ),
        "bind :7000"
    );
    assert!(
        by(
            &|k| matches!(k, EventKind::Listen { socket, result: 0 } if socket.local.map(|a| a.port()) == Some(7000))
        ),
        "listen :7000"
    );
    assert!(
        by(&|k| matches!(k, EventKind::Accept { socket, result }
            if *result >= 0 && socket.local.map(|a| a.port()) == Some(7000)
               && socket.remote.is_some_and(|r| r.ip() == std::net::Ipv4Addr::LOCALHOST && r.port() != 0)
               && socket.protocol == SocketProtocol::Tcp)),
        "accept with both ends"
    );
    assert!(
        by(
            &|k| matches!(k, EventKind::Connect { socket, result: 0 } if socket.remote.map(|a| a.port()) == Some(7000))
        ),
        "connect to :7000"
    );
    assert!(
        by(
            &|k| matches!(k, EventKind::Connect { socket, result: -111 } if socket.remote.map(|a| a.port()) == Some(1))
        ),
        "refused connect to :1 with -ECONNREFUSED"
    );
}

#[test]
fn privilege_change_ptrace_and_mount_are_reported() {
    let events = run(
        "admin",
        &["CAP_SETUID", "CAP_SYS_ADMIN"],
        "/mnt/actions ptrace-traceme; mkdir /tmp/m && mount -t tmpfs bulwark-src /tmp/m; \
         /mnt/actions setuid 65534",
    );
    let priv_change = events.iter().find_map(|e| match &e.kind {
        EventKind::PrivilegeChange {
            change: PrivilegeChangeKind::Setuid,
            old,
            new,
            result,
        } => Some((*old, *new, *result)),
        _ => None,
    });
    assert_eq!(priv_change, Some((0, 65534, 0)));
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::Ptrace {
            request: 0,
            result: 0,
            ..
        }
    )));
    let mount = events.iter().find_map(|e| match &e.kind {
        EventKind::Mount {
            source,
            target,
            fs_type,
            result,
            ..
        } => Some((source.clone(), target.clone(), fs_type.clone(), *result)),
        _ => None,
    });
    assert_eq!(
        mount,
        Some(("bulwark-src".into(), "/tmp/m".into(), "tmpfs".into(), 0))
    );
}

#[test]
fn hooks_this_kernel_lacks_are_reported_as_health() {
    let (sensor, stream) = start(watched_only());
    let missing: Vec<&'static str> = sensor
        .hooks()
        .iter()
        .filter(|h| h.error.is_some())
        .map(|h| h.hook.program)
        .collect();
    assert!(
        sensor
            .hooks()
            .iter()
            .all(|h| h.error.is_none() || !h.hook.required)
    );
    let got = stop_and_collect(sensor, stream);
    let alert = got.health.iter().find(|a| a.id == "sensor-hooks-missing");
    if missing.is_empty() {
        assert!(alert.is_none());
    } else {
        let alert = alert.expect("a health alert naming the missing hooks");
        for program in missing {
            assert!(
                alert.message.contains(program),
                "{} not in {}",
                program,
                alert.message
            );
        }
    }
}
