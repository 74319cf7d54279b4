//! From decoded kernel records to `bulwark_core::Event` (pure).
//!
//! Attribution (`Event::container`) and the acting process's executable
//! (`Process::exe`) are filled in later by the pipeline, which holds the
//! state those need.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bulwark_core::{
    Event, EventKind, ExecVia, FdKind, FileAccess, Namespaces, PrivilegeChangeKind, Process,
    SocketInfo, SocketProtocol,
};

use crate::wire::{Body, Header, Record, Sock, SockOp};

/// What a record turns into.
#[derive(Clone, Debug, PartialEq)]
pub enum Converted {
    Event(Box<Event>),
    /// The kernel created cgroup `id` at `path` (v2, relative to the root).
    CgroupCreated {
        id: u64,
        path: String,
    },
}

/// Maps `CLOCK_BOOTTIME` to wall-clock time: `wall = boot + offset`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootClock {
    pub offset_ns: i128,
}

impl BootClock {
    pub fn wall(&self, ts_boot_ns: u64) -> time::OffsetDateTime {
        let ns = i128::from(ts_boot_ns) + self.offset_ns;
        time::OffsetDateTime::from_unix_timestamp_nanos(ns)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

/// Converts one record; `seq` is the agent's sequence number for it.
pub fn convert(rec: Record, seq: u64, clock: BootClock) -> Converted {
    let Record { header, body } = rec;
    let kind = match body {
        Body::CgroupMkdir { id, path, .. } => {
            return Converted::CgroupCreated {
                id,
                path: text(&path),
            };
        }
        Body::Exec {
            exe_ino,
            exe_dev,
            via,
            stdio,
            exe,
            filename,
            argv,
            cwd,
        } => EventKind::Exec {
            exe: text(&exe),
            filename: text(&filename),
            argv: split_argv(&argv),
            cwd: text(&cwd),
            exe_inode: exe_ino,
            exe_dev: user_dev(exe_dev),
            via: match via {
                1 => ExecVia::Execveat,
                2 => ExecVia::Memfd,
                _ => ExecVia::Execve,
            },
            stdio: Some(stdio.map(fd_kind)),
        },
        Body::Fork {
            child_pid,
            child_tgid,
        } => EventKind::Fork {
            child_pid,
            child_tgid,
        },
        Body::Exit { status } => exit(status),
        Body::Sock(s) => sock(s),
        Body::Open {
            result,
            flags,
            resolved,
            path,
            base,
        } => EventKind::Open {
            path: if resolved {
                text(&path)
            } else {
                join(&text(&base), &text(&path))
            },
            flags,
            access: access(flags),
            result,
        },
        Body::Priv {
            result,
            old,
            new,
            kind,
        } => EventKind::PrivilegeChange {
            change: match kind {
                0 => PrivilegeChangeKind::Setuid,
                1 => PrivilegeChangeKind::Setgid,
                _ => PrivilegeChangeKind::Capset,
            },
            old,
            new,
            result,
        },
        Body::Ptrace {
            result,
            request,
            target,
        } => EventKind::Ptrace {
            target_pid: target,
            request,
            result,
        },
        Body::Mount {
            result,
            flags,
            source,
            target,
            fs_type,
        } => EventKind::Mount {
            source: text(&source),
            target: text(&target),
            fs_type: text(&fs_type),
            flags,
            result,
        },
        Body::Module { result, name } => EventKind::ModuleLoad {
            name: text(&name),
            result,
        },
    };
    Converted::Event(Box::new(event(&header, seq, clock, kind)))
}

fn event(h: &Header, seq: u64, clock: BootClock, kind: EventKind) -> Event {
    Event {
        seq,
        ts_boot_ns: h.ts_boot_ns,
        time: clock.wall(h.ts_boot_ns),
        process: Process {
            pid: h.pid,
            tgid: h.tgid,
            ppid: h.ppid,
            uid: h.uid,
            gid: h.gid,
            comm: text(&h.comm),
            exe: None,
        },
        cgroup_id: h.cgroup_id,
        namespaces: Namespaces {
            mnt: u64::from(h.mnt_ns),
            pid: u64::from(h.pid_ns),
            net: u64::from(h.net_ns),
        },
        container: None,
        kind,
    }
}

fn exit(status: u32) -> EventKind {
    let signal = status & 0x7f;
    EventKind::Exit {
        code: ((status >> 8) & 0xff) as i32,
        signal: (signal != 0).then_some(signal as i32),
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn sock(s: Sock) -> EventKind {
    let protocol = match (s.family, s.protocol, s.sock_type) {
        (AF_UNIX, _, _) => SocketProtocol::Unix,
        (_, 6, _) | (_, 0, 1) => SocketProtocol::Tcp,
        (_, 17, _) | (_, 0, 2) => SocketProtocol::Udp,
        _ => SocketProtocol::Other,
    };
    let local = addr(s.family, &s.laddr, s.lport);
    let remote = addr(s.family, &s.raddr, s.rport);
    let path = (s.family == AF_UNIX && !s.path.is_empty()).then(|| unix_path(&s.path));
    let info = |local, remote| SocketInfo {
        protocol,
        local,
        remote,
        path: path.clone(),
    };
    let result = s.result;
    match s.op {
        SockOp::Connect => EventKind::Connect {
            socket: info(local.filter(nonzero), remote),
            result,
        },
        SockOp::Accept => EventKind::Accept {
            socket: info(local, remote.filter(nonzero)),
            result,
        },
        SockOp::Bind => EventKind::Bind {
            socket: info(local, None),
            result,
        },
        SockOp::Listen => EventKind::Listen {
            socket: info(local, None),
            result,
        },
    }
}

fn nonzero(a: &SocketAddr) -> bool {
    a.port() != 0 || !a.ip().is_unspecified()
}

fn addr(family: u16, raw: &[u8; 16], port: u16) -> Option<SocketAddr> {
    let ip = match family {
        AF_INET => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        // v4-mapped addresses (dual-stack sockets) are the IPv4 peer they map
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(*raw)).to_canonical(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Abstract unix socket names (leading NUL) are shown as `@name`.
fn unix_path(raw: &[u8]) -> String {
    let trimmed = match raw.iter().rposition(|b| *b != 0) {
        Some(end) => &raw[..=end],
        None => return "@".to_owned(),
    };
    match trimmed.split_first() {
        Some((0, rest)) => format!("@{}", text(rest)),
        _ => text(trimmed),
    }
}

fn access(flags: u32) -> FileAccess {
    const O_ACCMODE: u32 = 3;
    const O_CREAT: u32 = 0o100;
    const O_TRUNC: u32 = 0o1000;
    let mode = flags & O_ACCMODE;
    FileAccess {
        read: mode == 0 || mode == 2,
        write: mode == 1 || mode == 2,
        create: flags & O_CREAT != 0,
        truncate: flags & O_TRUNC != 0,
    }
}

fn fd_kind(k: u8) -> FdKind {
    match k {
        0 => FdKind::Closed,
        1 => FdKind::File,
        2 => FdKind::Pipe,
        3 => FdKind::Socket,
        4 => FdKind::CharDevice,
        _ => FdKind::Other,
    }
}

/// The kernel's `dev_t` (major << 20 | minor) as user space's `st_dev`.
pub fn user_dev(kdev: u32) -> u64 {
    let major = u64::from(kdev >> 20);
    let minor = u64::from(kdev & 0xf_ffff);
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

fn split_argv(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(text).collect()
}

/// Bytes as text: valid UTF-8 as is, every other byte as `\xNN`, so that
/// no two different kernel strings become the same `String` silently.
pub fn text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `name` resolved lexically against `base` (for failed opens, where the
/// kernel resolved nothing): `.` and `..` folded, never above `/`.
pub fn join(base: &str, name: &str) -> String {
    let start = if name.starts_with('/') || base.is_empty() {
        ""
    } else {
        base
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in start.split('/').chain(name.split('/')) {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if !name.starts_with('/') && base.is_empty() {
        return name.to_owned();
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{build, decode, ev};

    fn kind_of(raw: &[u8]) -> EventKind {
        match convert(decode(raw).unwrap(), 1, BootClock::default()) {
            Converted::Event(e) => e.kind,
            Converted::CgroupCreated { .. } => panic!("not an event"),
        }
    }

    #[test]
    fn exec_becomes_an_exec_event_with_argv_and_stdio() {
        let kind = kind_of(&build::exec(5, 1, "/bin/busybox", &["sh", "-c", "echo hi"]));
        let EventKind::Exec {
            exe,
            argv,
            stdio,
            exe_dev,
            ..
        } = kind
        else {
            panic!()
        };
        assert_eq!(exe, "/bin/busybox");
        assert_eq!(argv, ["sh", "-c", "echo hi"]);
        assert_eq!(stdio, Some([FdKind::CharDevice; 3]));
        assert_eq!(exe_dev, 0x801); // 8:1 as st_dev
    }

    #[test]
    fn exit_status_splits_code_and_signal() {
        assert_eq!(
            exit(3 << 8),
            EventKind::Exit {
                code: 3,
                signal: None
            }
        );
        assert_eq!(
            exit(9),
            EventKind::Exit {
                code: 0,
                signal: Some(9)
            }
        );
    }

    fn sock_fixed(
        family: u16,
        proto: u16,
        lport: u16,
        rport: u16,
        laddr: [u8; 4],
        raddr: [u8; 4],
        path_len: u16,
    ) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0i64.to_le_bytes());
        for v in [family, 1, proto, lport, rport, path_len] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&3u32.to_le_bytes());
        let mut l = [0u8; 16];
        l[..4].copy_from_slice(&laddr);
        let mut r = [0u8; 16];
        r[..4].copy_from_slice(&raddr);
        f.extend_from_slice(&l);
        f.extend_from_slice(&r);
        f
    }

    #[test]
    fn tcp_connect_has_both_ends() {
        let fixed = sock_fixed(2, 6, 40000, 8080, [10, 0, 0, 2], [10, 0, 0, 1], 0);
        let kind = kind_of(&build::record(ev::CONNECT, 1, 1, &fixed, &[]));
        let EventKind::Connect { socket, result } = kind else {
            panic!()
        };
        assert_eq!(result, 0);
        assert_eq!(socket.protocol, SocketProtocol::Tcp);
        assert_eq!(socket.remote, "10.0.0.1:8080".parse().ok());
        assert_eq!(socket.local, "10.0.0.2:40000".parse().ok());
    }

    #[test]
    fn v4_mapped_peer_of_a_dual_stack_socket_is_plain_ipv4() {
        let mut raw = [0u8; 16];
        raw[10] = 0xff;
        raw[11] = 0xff;
        raw[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(addr(AF_INET6, &raw, 80), "10.1.2.3:80".parse().ok());
        let v6: [u8; 16] = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(addr(AF_INET6, &v6, 443), "[2001:db8::1]:443".parse().ok());
    }

    #[test]
    fn abstract_unix_socket_is_shown_with_at() {
        let fixed = sock_fixed(1, 0, 0, 0, [0; 4], [0; 4], 6);
        let kind = kind_of(&build::record(ev::CONNECT, 1, 1, &fixed, &[b"\0x11\0\0"]));
        let EventKind::Connect { socket, .. } = kind else {
            panic!()
        };
        assert_eq!(socket.protocol, SocketProtocol::Unix);
        assert_eq!(socket.path.as_deref(), Some("@x11"));
        assert_eq!(socket.remote, None);
    }

    #[test]
    fn open_flags_decode_to_access_classes() {
        assert_eq!(
            access(0),
            FileAccess {
                read: true,
                ..FileAccess::default()
            }
        );
        assert_eq!(
            access(1 | 0o100 | 0o1000),
            FileAccess {
                write: true,
                create: true,
                truncate: true,
                read: false
            }
        );
        assert_eq!(
            access(2),
            FileAccess {
                read: true,
                write: true,
                ..FileAccess::default()
            }
        );
    }

    #[test]
    fn failed_relative_open_is_joined_to_its_base() {
        assert_eq!(join("/app", "../etc/shadow"), "/etc/shadow");
        assert_eq!(join("/app", "./x/../y"), "/app/y");
        assert_eq!(join("/", "../../../etc/passwd"), "/etc/passwd");
        assert_eq!(join("/app", "/abs/./p"), "/abs/p");
        assert_eq!(join("", "rel"), "rel");
    }

    #[test]
    fn invalid_utf8_is_escaped_not_replaced() {
        assert_eq!(text(b"/tmp/\xff\xfeok"), "/tmp/\\xff\\xfeok");
        assert_ne!(text(b"/a\xff"), text(b"/a\xfe"));
        assert_eq!(text("/tmp/é".as_bytes()), "/tmp/é");
    }

    #[test]
    fn cgroup_mkdir_is_not_an_event() {
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&77u64.to_le_bytes());
        fixed.extend_from_slice(&2u32.to_le_bytes());
        fixed.extend_from_slice(&7u16.to_le_bytes());
        fixed.extend_from_slice(&[0, 0]);
        let raw = build::record(ev::CGROUP_MKDIR, 1, 1, &fixed, &[b"/a/b/cd"]);
        let got = convert(decode(&raw).unwrap(), 1, BootClock::default());
        assert_eq!(
            got,
            Converted::CgroupCreated {
                id: 77,
                path: "/a/b/cd".into()
            }
        );
    }

    #[test]
    fn boot_time_maps_to_wall_time() {
        let clock = BootClock {
            offset_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(clock.wall(5_000_000_000).unix_timestamp(), 1_700_000_005);
    }
}
