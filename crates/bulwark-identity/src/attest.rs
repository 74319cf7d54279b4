//! Kernel-based attestation of a Workload API caller.
//!
//! Everything comes from the kernel or the container runtime's own state,
//! never from the caller: `SO_PEERCRED` gives pid, uid and gid as the kernel
//! recorded them at `connect()`, `SO_PEERPIDFD` pins that exact process (a
//! recycled pid can not be mistaken for it), `/proc/PID/cgroup` gives the
//! cgroups (kernel-maintained; `/proc/PID/mountinfo` is not used — a workload
//! controls its own mount namespace), `/proc/PID/exe` gives the executable,
//! and `bulwark-containers` maps the cgroup to a container and its image and
//! labels. The caller's environment is never read.
//!
//! The pin is checked after every read: if the process is gone by then, the
//! reads may describe a different process and attestation fails.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use bulwark_containers::{FsHost, ProcCgroups, Resolver, stat_start_time};
use bulwark_core::SystemClock;
use nix::sys::socket::{getsockopt, sockopt};
use sha2::{Digest, Sha256};

use crate::entry::{ContainerAttributes, WorkloadAttributes};

/// Largest executable hashed for a `binarySha256` selector.
pub const MAX_HASHED_BINARY: u64 = 512 * 1024 * 1024;

/// Why a caller could not be attested.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("reading the peer credentials of the Workload API connection: {0}")]
    PeerCred(#[source] nix::Error),
    #[error("the calling process {pid} exited (or its pid was reused) during attestation")]
    ProcessGone { pid: u32 },
    #[error("reading {path}: {source}")]
    Proc {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("looking up the container of pid {pid}: {reason}")]
    Container { pid: u32, reason: String },
    #[error("executable of pid {pid} is larger than {MAX_HASHED_BINARY} bytes; not hashing it")]
    BinaryTooLarge { pid: u32 },
}

/// How a connection's peer process is pinned against pid reuse.
#[derive(Debug)]
enum Pin {
    /// `SO_PEERPIDFD`: the kernel's handle on that exact process.
    PidFd(OwnedFd),
    /// Older kernels: the process start time, compared before and after.
    StartTime(u64),
}

/// Who is on the other end of a Unix socket, as the kernel says.
#[derive(Debug)]
pub struct PeerCredentials {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    pin: Pin,
}

impl PeerCredentials {
    /// Reads `SO_PEERCRED` and pins the process (call right after `accept`).
    pub fn of_socket(sock: BorrowedFd<'_>) -> Result<Self, AttestError> {
        let cred = getsockopt(&sock, sockopt::PeerCredentials).map_err(AttestError::PeerCred)?;
        let pid =
            u32::try_from(cred.pid()).map_err(|_| AttestError::PeerCred(nix::Error::ESRCH))?;
        let pin = match getsockopt(&sock, sockopt::PeerPidfd) {
            Ok(fd) => Pin::PidFd(fd),
            Err(_) => Pin::StartTime(start_time(pid)?),
        };
        Ok(PeerCredentials {
            pid,
            uid: cred.uid(),
            gid: cred.gid(),
            pin,
        })
    }

    /// True while the pinned process is alive (and so still owns `pid`).
    pub fn is_alive(&self) -> bool {
        match &self.pin {
            Pin::PidFd(fd) => pidfd_pid(fd.as_fd()) == Some(i64::from(self.pid)),
            Pin::StartTime(t) => start_time(self.pid).ok() == Some(*t),
        }
    }

    fn ensure_alive(&self) -> Result<(), AttestError> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(AttestError::ProcessGone { pid: self.pid })
        }
    }
}

/// The pid a pidfd refers to, from `/proc/self/fdinfo` (`-1` once it exited).
fn pidfd_pid(fd: BorrowedFd<'_>) -> Option<i64> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn start_time(pid: u32) -> Result<u64, AttestError> {
    let path = proc_path(pid, "stat");
    let text = std::fs::read_to_string(&path).map_err(|source| AttestError::Proc {
        path: path.clone(),
        source,
    })?;
    stat_start_time(&text).ok_or(AttestError::Format {
        path,
        reason: "no start time".into(),
    })
}

fn proc_path(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Attests callers; one per Workload API server (it caches container lookups).
pub struct Attestor {
    resolver: Mutex<Resolver<FsHost, SystemClock>>,
}

impl Default for Attestor {
    fn default() -> Self {
        Attestor {
            resolver: Mutex::new(bulwark_containers::system_resolver()),
        }
    }
}

impl std::fmt::Debug for Attestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestor").finish_non_exhaustive()
    }
}

impl Attestor {
    /// What the kernel says about `peer`. `hash_binary` also hashes the
    /// executable (only needed when some entry selects on it).
    pub fn attest(
        &self,
        peer: &PeerCredentials,
        hash_binary: bool,
    ) -> Result<WorkloadAttributes, AttestError> {
        peer.ensure_alive()?;
        let pid = peer.pid;
        let cgroups = read_cgroups(pid)?;
        let binary_path = std::fs::read_link(proc_path(pid, "exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        let container = self.container_of(pid)?;
        let binary_sha256 = if hash_binary {
            Some(hash_executable(pid)?)
        } else {
            None
        };
        peer.ensure_alive()?;
        Ok(WorkloadAttributes {
            pid,
            uid: peer.uid,
            gid: peer.gid,
            binary_path,
            binary_sha256,
            cgroups,
            container,
        })
    }

    fn container_of(&self, pid: u32) -> Result<Option<ContainerAttributes>, AttestError> {
        let mut resolver = self
            .resolver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let info = resolver.by_pid(pid).map_err(|e| AttestError::Container {
            pid,
            reason: e.to_string(),
        })?;
        Ok(info.map(|c| ContainerAttributes {
            id: c.id.to_string(),
            image: c.image.clone(),
            image_digest: c.image_digest.clone(),
            labels: c.labels.clone(),
            pod_namespace: c.pod.as_ref().and_then(|p| p.namespace.clone()),
        }))
    }
}

fn read_cgroups(pid: u32) -> Result<Vec<String>, AttestError> {
    let path = proc_path(pid, "cgroup");
    let text = std::fs::read_to_string(&path).map_err(|source| AttestError::Proc {
        path: path.clone(),
        source,
    })?;
    let parsed = ProcCgroups::parse(&text).map_err(|(line, reason)| AttestError::Format {
        path,
        reason: format!("line {line}: {reason}"),
    })?;
    let mut paths: Vec<String> = parsed.lines().iter().map(|l| l.path.clone()).collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

fn hash_executable(pid: u32) -> Result<String, AttestError> {
    let path = proc_path(pid, "exe");
    let io_err = |source| AttestError::Proc {
        path: path.clone(),
        source,
    };
    let file = File::open(&path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > MAX_HASHED_BINARY {
        return Err(AttestError::BinaryTooLarge { pid });
    }
    let mut hasher = Sha256::new();
    let mut reader = file.take(MAX_HASHED_BINARY);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests;
