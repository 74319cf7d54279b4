//! What the runtime sensor reports: one [`Event`] per observed action.
//!
//! The JSON form (one object per line, `type` tags the kind) is the stable
//! interface of `bulwark agent --events` and `bulwark replay`; field names do
//! not change without a version bump.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ids::{ContainerId, WorkloadId};

/// One observed action of one process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Per-agent sequence number, strictly increasing; gaps are accounted
    /// for by loss reports.
    pub seq: u64,
    /// Kernel timestamp (`CLOCK_BOOTTIME`, nanoseconds).
    pub ts_boot_ns: u64,
    /// Wall-clock time derived from `ts_boot_ns`, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
    pub process: Process,
    /// cgroup v2 id (inode of the cgroup directory) of the acting task.
    pub cgroup_id: u64,
    pub namespaces: Namespaces,
    /// Which container the event belongs to, if attribution succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The acting process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Thread id (kernel `pid`).
    pub pid: u32,
    /// Process id (kernel `tgid`).
    pub tgid: u32,
    /// Parent process id (tgid of `real_parent`).
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// `task->comm`, at most 15 bytes.
    pub comm: String,
    /// Canonical path of the executable, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
}

/// Namespace inode numbers of the acting task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Namespaces {
    pub mnt: u64,
    pub pid: u64,
    pub net: u64,
}

/// The container (and workload) an event was attributed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRef {
    pub id: ContainerId,
    /// `runc`, `containerd`, `cri-o`, `podman`, `docker`, ...
    pub runtime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
}

/// How a program came to be executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecVia {
    Execve,
    Execveat,
    /// Executed from an anonymous memory file (`memfd_create` + `fexecve`):
    /// fileless execution.
    Memfd,
}

/// What an open file descriptor refers to, from the file type of its inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    /// The descriptor is not open.
    Closed,
    /// A regular file.
    File,
    /// A pipe or FIFO.
    Pipe,
    /// A socket (any family).
    Socket,
    /// A character device: a terminal, `/dev/null`, ...
    CharDevice,
    /// Anything else (directory, anonymous inode, block device).
    Other,
}

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketProtocol {
    Tcp,
    Udp,
    Unix,
    Other,
}

/// Addresses of a socket operation. Unix sockets carry `path` instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    pub protocol: SocketProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What a file open asked for, decoded from the open flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileAccess {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub truncate: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivilegeChangeKind {
    Setuid,
    Setgid,
    Capset,
}

/// The kind of action and its arguments. `result` fields hold the syscall's
/// return value (0 or a positive value on success, `-errno` on failure).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Exec {
        /// Canonical path of what actually ran.
        exe: String,
        /// The path as passed by the caller, before resolution.
        filename: String,
        argv: Vec<String>,
        cwd: String,
        exe_inode: u64,
        exe_dev: u64,
        via: ExecVia,
        /// What file descriptors 0, 1 and 2 referred to when the program
        /// started (a socket there is the reverse-shell pattern). `None` when
        /// the sensor could not tell; the agent may fill it from `/proc`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdio: Option<[FdKind; 3]>,
    },
    Fork {
        child_pid: u32,
        child_tgid: u32,
    },
    Exit {
        code: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    Connect {
        socket: SocketInfo,
        result: i64,
    },
    Accept {
        socket: SocketInfo,
        result: i64,
    },
    Bind {
        socket: SocketInfo,
        result: i64,
    },
    Listen {
        socket: SocketInfo,
        result: i64,
    },
    Open {
        /// Canonical path of the opened file.
        path: String,
        flags: u32,
        access: FileAccess,
        result: i64,
    },
    PrivilegeChange {
        change: PrivilegeChangeKind,
        old: u64,
        new: u64,
        result: i64,
    },
    Ptrace {
        target_pid: u32,
        request: i64,
        result: i64,
    },
    Mount {
        source: String,
        target: String,
        fs_type: String,
        flags: u64,
        result: i64,
    },
    ModuleLoad {
        name: String,
        result: i64,
    },
}

impl EventKind {
    /// The `type` tag as it appears in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Exec { .. } => "exec",
            EventKind::Fork { .. } => "fork",
            EventKind::Exit { .. } => "exit",
            EventKind::Connect { .. } => "connect",
            EventKind::Accept { .. } => "accept",
            EventKind::Bind { .. } => "bind",
            EventKind::Listen { .. } => "listen",
            EventKind::Open { .. } => "open",
            EventKind::PrivilegeChange { .. } => "privilege_change",
            EventKind::Ptrace { .. } => "ptrace",
            EventKind::Mount { .. } => "mount",
            EventKind::ModuleLoad { .. } => "module_load",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            seq: 7,
            ts_boot_ns: 1_000,
            time: time::OffsetDateTime::UNIX_EPOCH,
            process: Process {
                pid: 10,
                tgid: 10,
                ppid: 1,
                comm: "sh".into(),
                ..Process::default()
            },
            cgroup_id: 42,
            namespaces: Namespaces::default(),
            container: None,
            kind: EventKind::Connect {
                socket: SocketInfo {
                    protocol: SocketProtocol::Tcp,
                    local: None,
                    remote: "127.0.0.1:80".parse().ok(),
                    path: None,
                },
                result: 0,
            },
        }
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let event = sample();
        let json = serde_json::to_string(&event).map_err(|e| e.to_string());
        let back: Result<Event, String> = json
            .as_deref()
            .map_err(Clone::clone)
            .and_then(|j| serde_json::from_str(j).map_err(|e| e.to_string()));
        assert_eq!(back, Ok(event));
    }

    #[test]
    fn exec_without_stdio_still_parses_and_stdio_round_trips() {
        let json = r#"{"seq":1,"ts_boot_ns":2,"time":"1970-01-01T00:00:00Z",
            "process":{"pid":3,"tgid":3,"ppid":1,"uid":0,"gid":0,"comm":"sh"},
            "cgroup_id":9,"namespaces":{"mnt":0,"pid":0,"net":0},
            "type":"exec","exe":"/bin/sh","filename":"sh","argv":["sh"],"cwd":"/",
            "exe_inode":5,"exe_dev":6,"via":"execve"}"#;
        let mut event: Event = match serde_json::from_str(json) {
            Ok(e) => e,
            Err(e) => panic!("old exec json must parse: {e}"),
        };
        let EventKind::Exec { stdio, .. } = &mut event.kind else {
            panic!("not an exec")
        };
        assert_eq!(*stdio, None);
        *stdio = Some([FdKind::Socket, FdKind::Socket, FdKind::Pipe]);
        let back: Option<Event> = serde_json::to_string(&event)
            .ok()
            .and_then(|j| serde_json::from_str(&j).ok());
        assert_eq!(back, Some(event));
    }

    #[test]
    fn json_is_tagged_by_type() {
        let json = serde_json::to_value(sample()).map_err(|e| e.to_string());
        assert_eq!(
            json.as_ref().map(|v| v["type"].as_str().map(str::to_owned)),
            Ok(Some("connect".to_owned()))
        );
        assert_eq!(sample().kind.type_name(), "connect");
    }
}
