//! From an event to the behaviour it shows: one [`Observation`] per class,
//! in the shape profile rules are matched and learned in.

use bulwark_core::{Event, EventKind, PrivilegeChangeKind, SocketInfo, SocketProtocol};

use crate::pattern::{Cidr, normalize_path};
use crate::peers::PeerMap;
use crate::proctable::{ProcInfo, ProcTable};
use crate::spec::{Access, Class, Peer};

/// Errno values that mean "refused by policy": such failed attempts are
/// still behaviour (and, in Protect mode, a block worth reporting).
const EPERM: i64 = 1;
const EACCES: i64 = 13;

/// One piece of behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    Process {
        exe: String,
        /// Invoked path when it differs from `exe`.
        path: Option<String>,
        /// Program of the parent in the same container; `None` for the
        /// container's first process or an unknown parent.
        parent: Option<String>,
        /// `argv[1..]` joined by spaces.
        args: String,
    },
    File {
        path: String,
        access: Access,
    },
    Egress {
        peer: Peer,
        port: Option<u16>,
        protocol: SocketProtocol,
        /// The workload that owns the remote address, when known.
        owner: Option<bulwark_core::WorkloadId>,
    },
    Listen {
        port: u16,
        protocol: SocketProtocol,
    },
    Capability {
        name: String,
    },
}

impl Observation {
    pub fn class(&self) -> Class {
        match self {
            Observation::Process { .. } => Class::Process,
            Observation::File { .. } => Class::File,
            Observation::Egress { .. } | Observation::Listen { .. } => Class::Network,
            Observation::Capability { .. } => Class::Capability,
        }
    }

    /// What is outside the profile, in a person's words.
    pub fn describe(&self) -> String {
        match self {
            Observation::Process {
                exe,
                path,
                parent,
                args,
            } => {
                let program = path.as_deref().unwrap_or(exe);
                let parent = parent.as_deref().unwrap_or("the container runtime");
                format!("process {program} [{args}] started by {parent}")
            }
            Observation::File { path, access } => format!("file {path} opened for {access}"),
            Observation::Egress {
                peer,
                port,
                protocol,
                owner,
            } => {
                let to = match owner {
                    Some(w) => format!("workload {w} ({peer})"),
                    None => peer.to_string(),
                };
                match port {
                    Some(port) => format!("connection to {to} port {port}/{}", proto(*protocol)),
                    None => format!("connection to {to} ({})", proto(*protocol)),
                }
            }
            Observation::Listen { port, protocol } => {
                format!("listening on port {port}/{}", proto(*protocol))
            }
            Observation::Capability { name } => format!("capability {name} raised"),
        }
    }
}

pub fn proto(p: SocketProtocol) -> &'static str {
    match p {
        SocketProtocol::Tcp => "tcp",
        SocketProtocol::Udp => "udp",
        SocketProtocol::Unix => "unix",
        SocketProtocol::Other => "other",
    }
}

fn refused_or_ok(result: i64) -> bool {
    result >= 0 || result == -EPERM || result == -EACCES
}

/// The behaviour `event` shows. `table` must already have seen the event;
/// `peers` names the workloads behind remote addresses.
pub fn observe(event: &Event, table: &ProcTable, peers: &PeerMap) -> Vec<Observation> {
    match &event.kind {
        EventKind::Exec { exe, argv, .. } => {
            let info = table.get(event.process.tgid);
            vec![process(exe, argv, info, table)]
        }
        EventKind::Open {
            path,
            access,
            result,
            ..
        } if refused_or_ok(*result) => file(path, access).into_iter().collect(),
        EventKind::Connect { socket, .. } => {
            egress(socket, event.time, peers).into_iter().collect()
        }
        EventKind::Bind { socket, result } | EventKind::Listen { socket, result }
            if *result >= 0 =>
        {
            listen(socket).into_iter().collect()
        }
        EventKind::PrivilegeChange {
            change: PrivilegeChangeKind::Capset,
            old,
            new,
            result,
        } if *result >= 0 => capabilities(*old, *new),
        _ => Vec::new(),
    }
}

fn process(exe: &str, argv: &[String], info: Option<&ProcInfo>, table: &ProcTable) -> Observation {
    let parent = info
        .and_then(|i| table.parent_in_container(i))
        .and_then(|p| p.program().map(str::to_owned));
    // An applet run through /proc/self/exe is named by argv[0]: keep it.
    let start = if info.is_some_and(|i| i.reexec) {
        0
    } else {
        crate::detect::first_arg_index(argv)
    };
    Observation::Process {
        exe: exe.to_owned(),
        path: info.and_then(|i| i.path.clone()),
        parent,
        args: argv.get(start..).unwrap_or_default().join(" "),
    }
}

fn file(path: &str, access: &bulwark_core::FileAccess) -> Option<Observation> {
    let path = normalize_path(path);
    if !path.starts_with('/') {
        return None;
    }
    let access = Access {
        read: access.read,
        write: access.write || access.create || access.truncate,
        exec: false,
    };
    if access == Access::default() {
        return None;
    }
    Some(Observation::File { path, access })
}

fn egress(socket: &SocketInfo, at: time::OffsetDateTime, peers: &PeerMap) -> Option<Observation> {
    if let (SocketProtocol::Unix, Some(path)) = (socket.protocol, &socket.path) {
        return Some(Observation::Egress {
            peer: Peer::Unix(path.clone()),
            port: None,
            protocol: SocketProtocol::Unix,
            owner: None,
        });
    }
    let remote = socket.remote?;
    Some(Observation::Egress {
        peer: Peer::Cidr(Cidr::host(remote.ip())),
        port: Some(remote.port()),
        protocol: socket.protocol,
        owner: peers.owner(remote.ip(), at).cloned(),
    })
}

fn listen(socket: &SocketInfo) -> Option<Observation> {
    let port = socket.local?.port();
    let inet = matches!(socket.protocol, SocketProtocol::Tcp | SocketProtocol::Udp);
    (port != 0 && inet).then_some(Observation::Listen {
        port,
        protocol: socket.protocol,
    })
}

/// Capabilities gained by a capset (bits set in `new` but not in `old`).
fn capabilities(old: u64, new: u64) -> Vec<Observation> {
    let gained = new & !old;
    (0..64u32)
        .filter(|bit| gained & (1u64 << bit) != 0)
        .map(|bit| Observation::Capability {
            name: capability_name(bit),
        })
        .collect()
}

/// `CAP_*` name of capability number `bit` (linux/capability.h).
pub fn capability_name(bit: u32) -> String {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    match NAMES.get(bit as usize) {
        Some(name) => format!("CAP_{name}"),
        None => format!("CAP_{bit}"),
    }
}
