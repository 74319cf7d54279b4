//! Real runc containers do known things; every action must arrive as an
//! event attributed to the right container id and image. Needs root, runc,
//! busybox-static and gcc (see scripts/apt-packages.txt).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod support;

use std::net::TcpListener;

use bulwark_core::{EventKind, ExecVia, SocketProtocol};
use bulwark_testkit::{Container, Network};
use support::{start, stop_and_collect, watched_only};

const IMAGE: &str = "registry.test/sensor/app:1.0";
const DIGEST: &str = "sha256:5e9b0f6c8a1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d";

fn execs<'a>(events: &[&'a bulwark_core::Event]) -> Vec<(&'a str, Vec<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Exec { exe, argv, .. } => Some((exe.as_str(), argv.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn container_actions_arrive_attributed_to_container_and_image() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "cat /etc/passwd >/dev/null; echo x > /tmp/written; /bin/true; \
         echo hi | nc 127.0.0.1 {port}; exit 3"
    );
    let (sensor, stream) = start(watched_only());
    let mut c = Container::builder("attributed")
        .network(Network::Host)
        .image(IMAGE, Some(DIGEST))
        .args(["sh", "-c", &script])
        .create()
        .unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    let (conn, _) = listener.accept().unwrap();
    drop(conn);
    let status = c.wait(std::time::Duration::from_secs(20)).unwrap();
    assert_eq!(status.code(), Some(3));
    support::settle();
    let got = stop_and_collect(sensor, stream);
    let mine = got.of_container(c.id());
    assert!(!mine.is_empty(), "no events attributed to {}", c.id());

    for e in &mine {
        let r = e.container.as_ref().unwrap();
        assert_eq!(r.runtime, "runc");
        assert_eq!(r.image.as_deref(), Some(IMAGE));
        assert_eq!(r.image_digest.as_deref(), Some(DIGEST));
        assert_eq!(e.cgroup_id, c.cgroup_v2_id().unwrap());
    }

    let execs = execs(&mine);
    assert!(
        execs
            .iter()
            .any(|(exe, argv)| *exe == "/bin/busybox" && argv[0] == "sh"),
        "{execs:?}"
    );
    assert!(
        execs
            .iter()
            .any(|(exe, argv)| *exe == "/bin/busybox" && argv == &["cat", "/etc/passwd"]),
        "{execs:?}"
    );
    assert!(
        execs.iter().any(|(_, argv)| argv == &["/bin/true"]),
        "{execs:?}"
    );

    let opened = |path: &str, write: bool| {
        mine.iter().any(|e| {
            matches!(&e.kind, EventKind::Open { path: p, access, result, .. }
                if p == path && access.write == write && *result >= 0)
        })
    };
    assert!(opened("/etc/passwd", false), "read of /etc/passwd missing");
    assert!(
        opened("/tmp/written", true),
        "write of /tmp/written missing"
    );

    let connect = mine.iter().find_map(|e| match &e.kind {
        EventKind::Connect { socket, result } if socket.remote.map(|r| r.port()) == Some(port) => {
            Some((socket.clone(), *result))
        }
        _ => None,
    });
    let (socket, result) = connect.expect("connect to the host listener missing");
    assert_eq!(result, 0);
    assert_eq!(socket.protocol, SocketProtocol::Tcp);
    assert_eq!(
        socket.remote.map(|r| r.ip().to_string()).as_deref(),
        Some("127.0.0.1")
    );
    assert!(socket.local.is_some_and(|l| l.port() != 0), "{socket:?}");

    let init_exit = mine.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Exit {
                code: 3,
                signal: None
            }
        ) && e.process.tgid == c.pid()
    });
    assert!(init_exit, "exit 3 of the container's init missing");
    // Every event after the first exec knows the acting executable.
    assert!(
        mine.iter()
            .filter(|e| e.process.comm == "cat")
            .all(|e| e.process.exe.as_deref() == Some("/bin/busybox"))
    );
    assert_eq!(got.stats.unaccounted(), 0, "{:?}", got.stats);
}

#[test]
fn processes_living_under_100ms_are_all_seen() {
    const N: usize = 40;
    let (sensor, stream) = start(watched_only());
    let script = format!("i=0; while [ $i -lt {N} ]; do /bin/true; i=$((i+1)); done");
    let mut c = Container::builder("shortlived")
        .args(["sh", "-c", &script])
        .create()
        .unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    assert!(
        c.wait(std::time::Duration::from_secs(30))
            .unwrap()
            .success()
    );
    support::settle();
    let got = stop_and_collect(sensor, stream);
    let mine = got.of_container(c.id());
    let trues: Vec<_> = mine
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Exec { argv, .. } if argv == &["/bin/true"]))
        .collect();
    assert_eq!(trues.len(), N, "exec events of /bin/true");
    let true_pids: std::collections::HashSet<u32> = trues.iter().map(|e| e.process.tgid).collect();
    let exits = mine
        .iter()
        .filter(|e| {
            matches!(e.kind, EventKind::Exit { code: 0, .. }) && true_pids.contains(&e.process.tgid)
        })
        .count();
    assert_eq!(exits, N, "exit events of the /bin/true processes");
    let forks = mine
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Fork { child_tgid, .. } if true_pids.contains(child_tgid)))
        .count();
    assert_eq!(forks, N, "fork events creating them");
    // runc's init sits in open("exec.fifo") when the cgroup is watched; that
    // open's enter was never seen, so its exit is the one counted loss.
    let open = usize::from(bulwark_sensor::wire::ev::OPEN);
    assert!(got.stats.kernel_state[open] <= 1, "{:?}", got.stats);
    let other_losses = got.stats.dropped_total() - got.stats.kernel_state[open];
    assert_eq!(other_losses, 0, "{:?}", got.stats);
    assert_eq!(got.stats.unaccounted(), 0);
}

#[test]
fn container_running_before_the_sensor_is_attributed_in_containers_mode() {
    let c = Container::builder("preexisting")
        .image(IMAGE, None)
        .start()
        .unwrap();
    let (sensor, stream) = start(bulwark_sensor::SensorConfig::default());
    let out = c.exec(["cat", "/etc/passwd"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    support::settle();
    let got = stop_and_collect(sensor, stream);
    let mine = got.of_container(c.id());
    assert!(
        mine.iter().any(
            |e| matches!(&e.kind, EventKind::Exec { argv, .. } if argv == &["cat", "/etc/passwd"])
        ),
        "runc exec of cat not attributed; got {} events for the container",
        mine.len()
    );
    assert!(
        mine.iter()
            .all(|e| e.container.as_ref().unwrap().image.as_deref() == Some(IMAGE))
    );
}

#[test]
fn fileless_and_execveat_executions_are_recognised() {
    let actions = support::actions();
    let (sensor, stream) = start(watched_only());
    let script =
        "/mnt/actions memfd-exec /bin/busybox true; /mnt/actions execveat-fd /bin/busybox true";
    let mut c = Container::builder("fileless")
        .bind(&actions, "/mnt/actions", bulwark_testkit::Access::ReadOnly)
        .args(["sh", "-c", script])
        .create()
        .unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    let status = c.wait(std::time::Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", c.stderr());
    support::settle();
    let got = stop_and_collect(sensor, stream);
    let mine = got.of_container(c.id());
    let via: Vec<(ExecVia, String)> = mine
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Exec { via, exe, argv, .. }
                if argv.first().map(String::as_str) == Some("/bin/busybox") =>
            {
                Some((*via, exe.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(
        via.iter()
            .any(|(v, exe)| *v == ExecVia::Memfd && exe.starts_with("/memfd:payload")),
        "{via:?}"
    );
    assert!(
        via.iter()
            .any(|(v, exe)| *v == ExecVia::Execveat && exe == "/bin/busybox"),
        "{via:?}"
    );
}
