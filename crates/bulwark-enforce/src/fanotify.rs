//! One fanotify group per protected container: its marks (the container's
//! mounts for exec, protected inodes for files) and the answers to its
//! permission events.
//!
//! While the group's file descriptor is open, every marked access waits for
//! an answer; when it closes, the kernel allows whatever is pending. Who keeps
//! it open decides the failure mode when the agent is gone (see
//! [`crate::holder`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::fanotify::{
    EventFFlags, Fanotify, FanotifyEvent, FanotifyResponse, InitFlags, MarkFlags, MaskFlags,
    Response,
};

use crate::index::{IndexError, MarkKind, Marker};
use crate::policy::ContainerPath;

#[derive(Debug, thiserror::Error)]
pub enum FanotifyError {
    #[error("fanotify_init failed (needs CAP_SYS_ADMIN and a kernel with permission events): {0}")]
    Init(#[source] nix::Error),
    #[error("cannot mark mount {mount_point}: {source}")]
    MarkMount {
        mount_point: String,
        #[source]
        source: nix::Error,
    },
    #[error("reading fanotify events: {0}")]
    Read(#[source] nix::Error),
    #[error("fanotify event has metadata version {found}, this build understands {expected}")]
    Version { found: u8, expected: u8 },
}

/// The events a protected container's mounts and inodes are marked for.
pub const EXEC_MASK: MaskFlags = MaskFlags::FAN_OPEN_EXEC_PERM;

/// A fanotify group in permission (`FAN_CLASS_CONTENT`) class.
#[derive(Debug)]
pub struct Group {
    inner: Fanotify,
}

/// The answer to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Allow,
    Deny,
}

impl Group {
    /// A new group: events carry the thread id (so the blocked thread's
    /// syscall can be read), the queue is unbounded (no silent overflow: a
    /// permission event is never dropped), the fd is non-blocking (the reader
    /// polls it together with a stop signal).
    pub fn new() -> Result<Self, FanotifyError> {
        let flags = InitFlags::FAN_CLASS_CONTENT
            | InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::FAN_REPORT_TID
            | InitFlags::FAN_UNLIMITED_QUEUE
            | InitFlags::FAN_UNLIMITED_MARKS;
        let event_flags = EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC;
        let inner = Fanotify::init(flags, event_flags).map_err(FanotifyError::Init)?;
        Ok(Group { inner })
    }

    /// Adopt a group fd received from another process (restart, holder).
    pub fn from_owned(fd: OwnedFd) -> Self {
        // SAFETY: callers only pass fds that were created by `Group::new` (in
        // this or a previous agent process) and handed over via SCM_RIGHTS.
        let inner = unsafe { Fanotify::from_owned_fd(fd) };
        Group { inner }
    }

    /// Mark the mount `fd` (any open file on it, `O_PATH` included) lies on.
    pub fn mark_mount(
        &self,
        fd: BorrowedFd<'_>,
        mask: MaskFlags,
        mount_point: &str,
    ) -> Result<(), FanotifyError> {
        // Through the fd's magic link: works for O_PATH descriptors (which
        // fanotify_mark cannot take directly) and names exactly that mount.
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        self.inner
            .mark(
                MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT,
                mask,
                fd,
                Some(path.as_str()),
            )
            .map_err(|source| FanotifyError::MarkMount {
                mount_point: mount_point.to_owned(),
                source,
            })
    }

    /// Stop asking about `mask` on this inode until it is modified (the
    /// kernel clears the ignore mask on modification). The mark does not pin
    /// the inode, so the cache costs no memory the kernel cannot reclaim.
    pub fn ignore_until_modified(&self, fd: BorrowedFd<'_>, mask: MaskFlags) -> nix::Result<()> {
        self.inner.mark(
            MarkFlags::FAN_MARK_ADD
                | MarkFlags::FAN_MARK_IGNORED_MASK
                | MarkFlags::FAN_MARK_EVICTABLE,
            mask,
            fd,
            None::<&str>,
        )
    }

    /// Remove every inode mark (protection marks and the exec ignore cache)
    /// of a group being re-armed with a new policy; mount marks stay.
    pub fn flush_inode_marks(&self) -> nix::Result<()> {
        self.inner.mark(
            MarkFlags::FAN_MARK_FLUSH,
            MaskFlags::empty(),
            self.inner.as_fd(),
            None::<&str>,
        )
    }

    /// Read what is queued (non-blocking: empty when nothing is).
    pub fn read(&self) -> Result<Vec<FanotifyEvent>, FanotifyError> {
        match self.inner.read_events() {
            Ok(events) => {
                if let Some(bad) = events.iter().find(|e| !e.check_version()) {
                    return Err(FanotifyError::Version {
                        found: bad.version(),
                        expected: libc::FANOTIFY_METADATA_VERSION,
                    });
                }
                Ok(events)
            }
            Err(nix::Error::EAGAIN) => Ok(Vec::new()),
            Err(e) => Err(FanotifyError::Read(e)),
        }
    }

    /// Answer a permission event. An error means the event was already
    /// answered (or the group is shutting down); there is nothing to retry.
    pub fn answer(&self, fd: BorrowedFd<'_>, answer: Answer) -> nix::Result<()> {
        let response = match answer {
            Answer::Allow => Response::FAN_ALLOW,
            Answer::Deny => Response::FAN_DENY,
        };
        self.inner
            .write_response(FanotifyResponse::new(fd, response))
    }

    pub fn raw_fd(&self) -> i32 {
        self.inner.as_raw_fd()
    }
}

impl Marker for Group {
    fn mark(
        &self,
        fd: BorrowedFd<'_>,
        path: &ContainerPath,
        kind: MarkKind,
    ) -> Result<(), IndexError> {
        let (mut mask, deny_read) = match kind {
            MarkKind::File { deny_read } => (MaskFlags::FAN_OPEN_PERM, deny_read),
            MarkKind::Dir { deny_read } => (
                MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_EVENT_ON_CHILD,
                deny_read,
            ),
        };
        if deny_read {
            // Reads through descriptors opened before the mark existed.
            mask |= MaskFlags::FAN_ACCESS_PERM;
        }
        self.inner
            .mark(MarkFlags::FAN_MARK_ADD, mask, fd, None::<&str>)
            .map_err(|source| IndexError::Mark {
                path: path.to_string(),
                source,
            })
    }
}

/// Which permission an event asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    Exec,
    Open,
    Read,
}

impl Ask {
    pub fn of(mask: MaskFlags) -> Option<Ask> {
        if mask.contains(MaskFlags::FAN_OPEN_EXEC_PERM) {
            Some(Ask::Exec)
        } else if mask.contains(MaskFlags::FAN_OPEN_PERM) {
            Some(Ask::Open)
        } else if mask.contains(MaskFlags::FAN_ACCESS_PERM) {
            Some(Ask::Read)
        } else {
            None
        }
    }
}

/// The path of an event's file as the container names it.
pub fn event_path(fd: BorrowedFd<'_>) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()
        .and_then(|p| p.into_os_string().into_string().ok())
}

/// Keeps an owned copy of a group fd for handing over.
pub fn dup_fd(fd: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

impl AsFd for Group {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
