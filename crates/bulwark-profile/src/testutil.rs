//! Event builders for unit tests: a container `web` of image
//! `registry.test/web:1`, times in seconds from a fixed epoch. Only built
//! for tests (`--features testing` for other crates' tests).

#![allow(clippy::panic, reason = "test helpers: a bad constant fails the test")]

use bulwark_core::{
    ContainerId, ContainerRef, Event, EventKind, ExecVia, FileAccess, Namespaces, Process,
    SocketInfo, SocketProtocol,
};
use time::OffsetDateTime;

pub const T0: i64 = 1_800_000_000;

pub fn container(image: &str) -> ContainerRef {
    ContainerRef {
        id: ContainerId::new("web-1").unwrap_or_else(|e| panic!("{e}")),
        runtime: "runc".into(),
        image: Some(image.into()),
        image_digest: Some(format!("sha256:{}", image.len())),
        workload: None,
        pod_namespace: None,
        pod_name: None,
    }
}

pub fn event(pid: u32, ppid: u32, kind: EventKind) -> Event {
    Event {
        seq: 0,
        ts_boot_ns: 0,
        time: OffsetDateTime::from_unix_timestamp(T0).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        process: Process {
            pid,
            tgid: pid,
            ppid,
            comm: "test".into(),
            ..Process::default()
        },
        cgroup_id: 7,
        namespaces: Namespaces::default(),
        container: Some(container("registry.test/web:1")),
        kind,
    }
}

/// `event` at `secs` seconds after `T0`.
pub fn at(mut e: Event, secs: i64) -> Event {
    e.time = OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    e
}

pub fn with_image(mut e: Event, image: &str) -> Event {
    e.container = Some(container(image));
    e
}

pub fn exec(pid: u32, ppid: u32, exe: &str, filename: &str, argv: &[&str]) -> Event {
    let mut e = event(
        pid,
        ppid,
        EventKind::Exec {
            exe: exe.into(),
            filename: filename.into(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            cwd: "/".into(),
            exe_inode: 1,
            exe_dev: 1,
            via: ExecVia::Execve,
            stdio: None,
        },
    );
    e.process.exe = Some(exe.into());
    e
}

pub fn fork(parent: u32, child: u32) -> Event {
    event(
        parent,
        1,
        EventKind::Fork {
            child_pid: child,
            child_tgid: child,
        },
    )
}

pub fn exit(pid: u32) -> Event {
    event(
        pid,
        1,
        EventKind::Exit {
            code: 0,
            signal: None,
        },
    )
}

pub fn open(pid: u32, path: &str, read: bool, write: bool) -> Event {
    event(
        pid,
        1,
        EventKind::Open {
            path: path.into(),
            flags: 0,
            access: FileAccess {
                read,
                write,
                create: false,
                truncate: false,
            },
            result: 3,
        },
    )
}

pub fn connect(pid: u32, remote: &str) -> Event {
    event(
        pid,
        1,
        EventKind::Connect {
            socket: SocketInfo {
                protocol: SocketProtocol::Tcp,
                local: None,
                remote: remote.parse().ok(),
                path: None,
            },
            result: 0,
        },
    )
}

pub fn listen(pid: u32, local: &str) -> Event {
    event(
        pid,
        1,
        EventKind::Listen {
            socket: SocketInfo {
                protocol: SocketProtocol::Tcp,
                local: local.parse().ok(),
                remote: None,
                path: None,
            },
            result: 0,
        },
    )
}

pub fn accept(pid: u32, local: &str, remote: &str) -> Event {
    event(
        pid,
        1,
        EventKind::Accept {
            socket: SocketInfo {
                protocol: SocketProtocol::Tcp,
                local: local.parse().ok(),
                remote: remote.parse().ok(),
                path: None,
            },
            result: 4,
        },
    )
}

/// `e` in a container of `image` with its own id (another workload).
pub fn in_container(mut e: Event, id: &str, image: &str) -> Event {
    let mut c = container(image);
    c.id = ContainerId::new(id).unwrap_or_else(|e| panic!("{e}"));
    e.container = Some(c);
    e
}

/// A small web server and a client of it, with pids starting at `base`.
pub fn web_round(base: u32) -> Vec<Event> {
    let (srv, sh, cli) = (base, base + 1, base + 2);
    vec![
        exec(
            srv,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd", "-f", "-p", "8080"],
        ),
        open(srv, "/etc/httpd.conf", true, false),
        open(srv, &format!("/proc/{srv}/stat"), true, false),
        listen(srv, "0.0.0.0:8080"),
        fork(srv, sh),
        exec(sh, srv, "/bin/busybox", "/bin/sh", &["sh", "-c", "date"]),
        open(sh, "/var/www/index.html", true, false),
        exec(
            cli,
            1,
            "/bin/busybox",
            "/usr/bin/wget",
            &["wget", "-q", "http://10.0.0.5:8080/"],
        ),
        connect(cli, "10.0.0.5:8080"),
    ]
}
