use std::io;
use std::path::PathBuf;

/// Why a test container could not be prepared, run or cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`{tool}` is missing: install the Debian package `{package}` (scripts/apt-packages.txt)"
    )]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("{path} is dynamically linked: install the Debian package `busybox-static`")]
    BusyboxNotStatic { path: PathBuf },
    #[error("test containers need root (running as uid {uid})")]
    NotRoot { uid: u32 },
    #[error("`runc {action}` of container {id} failed ({status}): {stderr}")]
    Runc {
        action: &'static str,
        id: String,
        status: String,
        stderr: String,
    },
    #[error("bundle preparation `{command}` failed ({status}): {stderr}")]
    Prepare {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`ip {args}` failed ({status}): {stderr}")]
    Ip {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("running `{program}`")]
    Spawn {
        program: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("pid file {path} of container {id} does not hold a pid: {content:?}")]
    BadPidFile {
        id: String,
        path: PathBuf,
        content: String,
    },
    #[error("waiting for container {id}")]
    Wait {
        id: String,
        #[source]
        source: nix::Error,
    },
    #[error("container {id} did not exit within {secs} s")]
    Timeout { id: String, secs: u64 },
    #[error("no cgroup v2 hierarchy is mounted (looked for cgroup2 in /proc/self/mountinfo)")]
    NoCgroup2,
    #[error("no free /30 subnet left in {range} for a veth pair")]
    NoSubnet { range: &'static str },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
