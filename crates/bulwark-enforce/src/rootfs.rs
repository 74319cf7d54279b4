//! Reading a container's root filesystem from the host without being fooled
//! by it: every path is resolved with `openat2(RESOLVE_IN_ROOT)`, so an
//! absolute symlink or `..` planted in the image resolves inside the root,
//! never onto the host.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::dir::{Dir, Type};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;
use sha2::{Digest, Sha256};

use crate::identity::FileStamp;
use crate::policy::{ContainerPath, Sha256Digest};

/// Files larger than this are never hashed (the decision falls back to the
/// policy's failure mode).
pub const MAX_HASH_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("cannot open root {root}: {source}")]
    OpenRoot {
        root: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot open {path} in the container root: {source}")]
    Open {
        path: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot read {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} is {size} bytes, more than the {limit} bytes that are hashed")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("hashing {what} ran past its deadline")]
    Deadline { what: String },
}

/// A container root directory, held open.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    host_path: PathBuf,
}

/// An entry found while walking a directory below the root.
#[derive(Debug)]
pub struct WalkEntry {
    pub path: ContainerPath,
    pub kind: EntryKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl RootError {
    /// True when the path simply does not exist in the root.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            RootError::Open {
                source: nix::Error::ENOENT | nix::Error::ENOTDIR,
                ..
            }
        )
    }
}

impl Root {
    pub fn open(host_path: &Path) -> Result<Self, RootError> {
        let fd = nix::fcntl::open(
            host_path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| RootError::OpenRoot {
            root: host_path.to_owned(),
            source,
        })?;
        Ok(Root {
            fd,
            host_path: host_path.to_owned(),
        })
    }

    /// A root already open (`O_PATH` directory), reached some other way
    /// than by host path (e.g. through `/proc/PID/root`).
    pub fn from_fd(fd: OwnedFd, host_path: PathBuf) -> Self {
        Root { fd, host_path }
    }

    pub fn host_path(&self) -> &Path {
        &self.host_path
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open `path` (as the container sees it) with `flags`, following
    /// symlinks inside the root only.
    pub fn open_in(&self, path: &ContainerPath, flags: OFlag) -> Result<OwnedFd, RootError> {
        let rel = if path.relative().is_empty() {
            "."
        } else {
            path.relative()
        };
        let extra = if flags.contains(OFlag::O_PATH) {
            OFlag::O_CLOEXEC
        } else {
            OFlag::O_CLOEXEC | OFlag::O_NOCTTY
        };
        let how = OpenHow::new()
            .flags(flags | extra)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(self.fd.as_fd(), rel, how).map_err(|source| RootError::Open {
            path: path.to_string(),
            source,
        })
    }

    /// Every entry below `dir` (not following symlinks), depth first, at
    /// most `limit` entries.
    pub fn walk(&self, dir: &ContainerPath, limit: usize) -> Result<Vec<WalkEntry>, RootError> {
        let mut out = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(current) = stack.pop() {
            let fd = self.open_in(&current, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
            let mut d = Dir::from_fd(fd).map_err(|source| RootError::Open {
                path: current.to_string(),
                source,
            })?;
            for entry in d.iter() {
                let entry = entry.map_err(|source| RootError::Open {
                    path: current.to_string(),
                    source,
                })?;
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                let Some(child) = join(&current, name) else {
                    continue;
                };
                let kind = match entry.file_type() {
                    Some(Type::File) => EntryKind::File,
                    Some(Type::Directory) => EntryKind::Dir,
                    Some(Type::Symlink) => EntryKind::Symlink,
                    _ => EntryKind::Other,
                };
                if kind == EntryKind::Dir {
                    stack.push(child.clone());
                }
                out.push(WalkEntry { path: child, kind });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

fn join(dir: &ContainerPath, name: &OsStr) -> Option<ContainerPath> {
    let name = name.to_str()?;
    let joined = if dir.as_str() == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    };
    ContainerPath::new(joined).ok()
}

/// The identity of an open file.
pub fn stamp(fd: BorrowedFd<'_>) -> Result<FileStamp, RootError> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat writes a full `stat` into the buffer on success; the fd is
    // borrowed for the call.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(RootError::Read {
            what: format!("fd {}", fd.as_raw_fd()),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: rc == 0, so the kernel filled the struct.
    let st = unsafe { st.assume_init() };
    Ok(FileStamp::from_stat(&st))
}

/// Up to `len` bytes from the start of the file (positional read, the file
/// offset is not moved).
pub fn read_head(fd: BorrowedFd<'_>, len: usize) -> Result<Vec<u8>, RootError> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n =
            nix::sys::uio::pread(fd, &mut buf[filled..], filled as libc::off_t).map_err(|e| {
                RootError::Read {
                    what: format!("fd {}", fd.as_raw_fd()),
                    source: io::Error::from(e),
                }
            })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// SHA-256 of the whole file, read with `pread`, giving up at `deadline`.
pub fn hash(
    fd: BorrowedFd<'_>,
    size: u64,
    deadline: Option<Instant>,
    what: &dyn Fn() -> String,
) -> Result<Sha256Digest, RootError> {
    if size > MAX_HASH_BYTES {
        return Err(RootError::TooLarge {
            what: what(),
            size,
            limit: MAX_HASH_BYTES,
        });
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset: u64 = 0;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(RootError::Deadline { what: what() });
        }
        let off = libc::off_t::try_from(offset).unwrap_or(libc::off_t::MAX);
        let n = nix::sys::uio::pread(fd, &mut buf, off).map_err(|e| RootError::Read {
            what: what(),
            source: io::Error::from(e),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
        if offset > MAX_HASH_BYTES {
            return Err(RootError::TooLarge {
                what: what(),
                size: offset,
                limit: MAX_HASH_BYTES,
            });
        }
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlink_in_image_resolves_inside_root() {
        let host = tempfile::tempdir().unwrap();
        let root_dir = host.path().join("rootfs");
        std::fs::create_dir_all(root_dir.join("etc")).unwrap();
        std::fs::write(root_dir.join("etc/passwd"), "inside").unwrap();
        std::fs::write(host.path().join("outside"), "outside").unwrap();
        symlink("/etc/passwd", root_dir.join("link")).unwrap();
        symlink("../../../../../../outside", root_dir.join("escape")).unwrap();
        let root = Root::open(&root_dir).unwrap();

        let fd = root
            .open_in(&ContainerPath::new("/link").unwrap(), OFlag::O_RDONLY)
            .unwrap();
        assert_eq!(read_head(fd.as_fd(), 64).unwrap(), b"inside");
        let escape = root.open_in(&ContainerPath::new("/escape").unwrap(), OFlag::O_RDONLY);
        assert!(escape.is_err(), "`..` symlink escaped the root");
    }

    #[test]
    fn hash_matches_known_digest_and_honours_deadline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "abc").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let fd = root
            .open_in(&ContainerPath::new("/f").unwrap(), OFlag::O_RDONLY)
            .unwrap();
        let d = hash(fd.as_fd(), 3, None, &|| "f".into()).unwrap();
        assert_eq!(
            hex::encode(d.0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let past = Instant::now();
        let late = hash(fd.as_fd(), 3, Some(past), &|| "f".into());
        assert!(matches!(late, Err(RootError::Deadline { .. })));
    }

    #[test]
    fn walk_lists_entries_and_stops_at_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("a/b/f{i}")), "x").unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        let all = root.walk(&ContainerPath::new("/a").unwrap(), 100).unwrap();
        assert_eq!(all.len(), 6);
        let some = root.walk(&ContainerPath::new("/a").unwrap(), 3).unwrap();
        assert_eq!(some.len(), 3);
    }
}
