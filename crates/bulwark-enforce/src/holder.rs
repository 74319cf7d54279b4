//! Keeping fanotify groups alive while the enforcement service is gone.
//!
//! A fanotify group lives as long as some process holds its descriptor;
//! when the last one closes, the kernel allows everything (fail-open) and
//! the marks are gone. The holder is a small, separate process (`bulwark
//! enforce hold`) that keeps a copy of every container's group, received
//! over a unix socket with `SCM_RIGHTS`, and does nothing while the service
//! is connected. When the service's connection drops (crash, kill, upgrade):
//!
//! - groups whose policy says `on_agent_gone: open` are closed: the kernel
//!   lets everything through; the restarted service re-marks them;
//! - groups that say `closed` keep refusing: every pending permission event
//!   is answered `DENY` (those the dead service had read but not answered,
//!   found by sweeping the fd numbers the kernel matches responses on), and
//!   so is every new one, at once. Nothing waits for the service.
//!
//! A restarted service connects, asks for the groups back (`take`), and the
//! holder stops answering; the service re-arms each container's rules on the
//! group it gets back.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_core::ContainerId;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, accept, bind, connect, listen, recvmsg, sendmsg, socket,
};
use serde::{Deserialize, Serialize};

use crate::fanotify::{Answer, Group};
use crate::policy::FailMode;

/// Fd numbers swept when the service dies (responses are matched by the
/// number the event had in the reader's table).
pub const SWEEP_FDS: i32 = 1 << 16;
/// Largest message (bytes).
const MAX_MESSAGE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("holder socket {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("holder protocol: {0}")]
    Protocol(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Message {
    /// Keep this group (the fd travels with the message).
    Hold {
        container: ContainerId,
        on_gone: FailMode,
    },
    /// Forget this group (the container is gone).
    Release { container: ContainerId },
    /// The service is back: send every group, stop answering.
    Take,
    /// One group being handed back (with its fd).
    Held {
        container: ContainerId,
        on_gone: FailMode,
    },
    /// No more groups follow.
    End,
}

fn send(
    sock: BorrowedFd<'_>,
    msg: &Message,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), HolderError> {
    let body = serde_json::to_vec(msg).map_err(|e| HolderError::Protocol(e.to_string()))?;
    let iov = [IoSlice::new(&body)];
    let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
        .map_err(|e| HolderError::Protocol(format!("send: {e}")))?;
    Ok(())
}

/// `None` on end of stream.
fn recv(sock: BorrowedFd<'_>) -> Result<Option<(Message, Option<OwnedFd>)>, HolderError> {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let (n, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| HolderError::Protocol(format!("receive: {e}")))?;
        let mut fd = None;
        for c in msg
            .cmsgs()
            .map_err(|e| HolderError::Protocol(e.to_string()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just installed this fd for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
        }
        (msg.bytes, fd)
    };
    if n == 0 {
        return Ok(None);
    }
    let message: Message = serde_json::from_slice(&buf[..n])
        .map_err(|e| HolderError::Protocol(format!("bad message: {e}")))?;
    Ok(Some((message, fd)))
}

fn seqpacket() -> Result<OwnedFd, nix::Error> {
    socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// The service's side: a connection to the holder.
#[derive(Debug)]
pub struct HolderClient {
    sock: OwnedFd,
    path: PathBuf,
}

impl HolderClient {
    pub fn connect(path: &Path) -> Result<HolderClient, HolderError> {
        let err = |source| HolderError::Socket {
            path: path.to_owned(),
            source,
        };
        let sock = seqpacket().map_err(err)?;
        let addr = UnixAddr::new(path).map_err(err)?;
        connect(sock.as_raw_fd(), &addr).map_err(err)?;
        Ok(HolderClient {
            sock,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn hold(
        &self,
        container: &ContainerId,
        group: &Group,
        on_gone: FailMode,
    ) -> Result<(), HolderError> {
        let msg = Message::Hold {
            container: container.clone(),
            on_gone,
        };
        send(self.sock.as_fd(), &msg, Some(group.as_fd()))
    }

    pub fn release(&self, container: &ContainerId) -> Result<(), HolderError> {
        send(
            self.sock.as_fd(),
            &Message::Release {
                container: container.clone(),
            },
            None,
        )
    }

    /// Take the held groups back (after a restart).
    pub fn take(&self) -> Result<Vec<(ContainerId, FailMode, OwnedFd)>, HolderError> {
        send(self.sock.as_fd(), &Message::Take, None)?;
        let mut out = Vec::new();
        loop {
            match recv(self.sock.as_fd())? {
                Some((Message::Held { container, on_gone }, Some(fd))) => {
                    out.push((container, on_gone, fd));
                }
                Some((Message::End, _)) => return Ok(out),
                Some((other, _)) => {
                    return Err(HolderError::Protocol(format!("unexpected {other:?}")));
                }
                None => return Err(HolderError::Protocol("holder closed the connection".into())),
            }
        }
    }
}

struct Held {
    group: Group,
    on_gone: FailMode,
}

/// The holder process's state.
pub struct Holder {
    listener: OwnedFd,
    groups: HashMap<ContainerId, Held>,
    service: Option<OwnedFd>,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder")
            .field("groups", &self.groups.len())
            .field("service", &self.service.is_some())
            .finish()
    }
}

impl Holder {
    /// Listen on `path` (mode 0600, replacing a stale socket).
    pub fn bind(path: &Path) -> Result<Holder, HolderError> {
        use std::os::unix::fs::PermissionsExt;
        let err = |source| HolderError::Socket {
            path: path.to_owned(),
            source,
        };
        let _ = std::fs::remove_file(path);
        let sock = seqpacket().map_err(err)?;
        bind(sock.as_raw_fd(), &UnixAddr::new(path).map_err(err)?).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        listen(&sock, Backlog::new(8).map_err(err)?).map_err(err)?;
        Ok(Holder {
            listener: sock,
            groups: HashMap::new(),
            service: None,
        })
    }

    pub fn held(&self) -> usize {
        self.groups.len()
    }

    /// Serve until `stop` returns true (checked about every 200 ms).
    pub fn run(&mut self, stop: &dyn Fn() -> bool) {
        while !stop() {
            if let Err(e) = self.step() {
                tracing::warn!("holder: {e}");
            }
        }
    }

    fn step(&mut self) -> Result<(), HolderError> {
        let mut fds = vec![PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &self.service {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        // Answering only while nobody else is: groups of a gone service.
        let refusing: Vec<ContainerId> = if self.service.is_none() {
            self.groups.keys().cloned().collect()
        } else {
            Vec::new()
        };
        for id in &refusing {
            if let Some(h) = self.groups.get(id) {
                fds.push(PollFd::new(h.group.as_fd(), PollFlags::POLLIN));
            }
        }
        let _ = poll(&mut fds, PollTimeout::from(200u16));
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            self.accept()?;
        }
        let base = if self.service.is_some() { 2 } else { 1 };
        if self.service.is_some() && ready.get(1) == Some(&true) {
            self.serve_one()?;
        }
        for (i, id) in refusing.iter().enumerate() {
            if ready.get(base + i) == Some(&true) {
                self.refuse_pending(id);
            }
        }
        Ok(())
    }

    fn accept(&mut self) -> Result<(), HolderError> {
        let conn = accept(self.listener.as_fd())
            .map_err(|e| HolderError::Protocol(format!("accept: {e}")))?;
        // A newer service replaces an older connection.
        self.service = Some(conn);
        Ok(())
    }

    fn serve_one(&mut self) -> Result<(), HolderError> {
        let Some(sock) = self
            .service
            .as_ref()
            .map(|s| s.as_fd().try_clone_to_owned())
        else {
            return Ok(());
        };
        let sock = sock.map_err(|e| HolderError::Protocol(e.to_string()))?;
        match recv(sock.as_fd()) {
            Ok(Some((Message::Hold { container, on_gone }, Some(fd)))) => {
                self.groups.insert(
                    container,
                    Held {
                        group: Group::from_owned(fd),
                        on_gone,
                    },
                );
            }
            Ok(Some((Message::Release { container }, _))) => {
                self.groups.remove(&container);
            }
            Ok(Some((Message::Take, _))) => {
                for (container, h) in &self.groups {
                    let msg = Message::Held {
                        container: container.clone(),
                        on_gone: h.on_gone,
                    };
                    send(sock.as_fd(), &msg, Some(h.group.as_fd()))?;
                }
                send(sock.as_fd(), &Message::End, None)?;
            }
            Ok(Some((other, _))) => {
                return Err(HolderError::Protocol(format!("unexpected {other:?}")));
            }
            Ok(None) | Err(_) => self.service_gone(),
        }
        Ok(())
    }

    /// The service's connection dropped: apply each group's failure mode.
    fn service_gone(&mut self) {
        self.service = None;
        let open: Vec<ContainerId> = self
            .groups
            .iter()
            .filter(|(_, h)| h.on_gone == FailMode::Open)
            .map(|(c, _)| c.clone())
            .collect();
        for c in &open {
            // Closing the last descriptor: the kernel allows what is pending.
            self.groups.remove(c);
            tracing::warn!(container = %c, "service gone: fail-open, group released");
        }
        for (c, h) in &self.groups {
            let answered = sweep(&h.group);
            tracing::warn!(container = %c, answered, "service gone: fail-closed, refusing");
        }
    }

    fn refuse_pending(&self, id: &ContainerId) {
        let Some(h) = self.groups.get(id) else {
            return;
        };
        if let Ok(events) = h.group.read() {
            for e in events {
                if let Some(fd) = e.fd() {
                    let _ = h.group.answer(fd, Answer::Deny);
                }
            }
        }
    }
}

/// Deny every event the dead reader had read but not answered: a response
/// matches on the event's fd number, so every number is tried. Returns how
/// many were answered.
fn sweep(group: &Group) -> usize {
    let mut answered = 0;
    for fd in 0..SWEEP_FDS {
        let response = libc::fanotify_response {
            fd,
            response: libc::FAN_DENY,
        };
        // SAFETY: writing a plain struct to the group fd we own.
        let n = unsafe {
            libc::write(
                group.raw_fd(),
                (&response as *const libc::fanotify_response).cast(),
                std::mem::size_of::<libc::fanotify_response>(),
            )
        };
        if n > 0 {
            answered += 1;
        }
    }
    answered
}

/// How often a service retries a lost holder connection.
pub const RECONNECT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_forged_ids_are_refused() {
        let m = Message::Hold {
            container: ContainerId::new("c1").unwrap(),
            on_gone: FailMode::Closed,
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&j).unwrap(), m);
        assert!(serde_json::from_str::<Message>(r#"{"op":"release","container":"a/b"}"#).is_err());
    }
}
