//! File-system helpers for secret material: permission checks, atomic
//! writes, and an exclusive lock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::StoreError;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Refuses a private key that is a symlink, not a regular file, owned by
/// someone else, or readable/writable by group or others.
pub fn check_private_file(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(|e| StoreError::io(path, e))?;
    let unsafe_key = |problem: String| StoreError::UnsafeKey {
        path: path.to_owned(),
        problem,
        want_uid: euid(),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_key("it is a symbolic link".into()));
    }
    if !meta.is_file() {
        return Err(unsafe_key("it is not a regular file".into()));
    }
    if meta.uid() != euid() {
        return Err(unsafe_key(format!("it is owned by uid {}", meta.uid())));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_key(format!(
            "its mode {mode:04o} gives group or others access"
        )));
    }
    Ok(())
}

/// Refuses a directory of secrets that someone else owns or others can write.
pub fn check_dir(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(|e| StoreError::io(path, e))?;
    let unsafe_dir = |problem: String| StoreError::UnsafeDir {
        path: path.to_owned(),
        problem,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    if meta.uid() != euid() {
        return Err(unsafe_dir(format!(
            "it is owned by uid {}, not {}",
            meta.uid(),
            euid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "its mode {mode:04o} lets group or others write"
        )));
    }
    Ok(())
}

/// Creates `path` (and parents) with mode 0700 if missing, then checks it.
pub fn ensure_private_dir(path: &Path) -> Result<(), StoreError> {
    if !path.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| StoreError::io(path, e))?;
    }
    check_dir(path)
}

/// Writes `bytes` to `path` via a fresh temporary file in the same
/// directory (created with `mode`, never following symlinks), fsyncs it and
/// renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| StoreError::io(&tmp, e))?;
    // The umask may have removed bits; set exactly what was asked for.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| StoreError::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
    file.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An exclusive `flock` held until dropped.
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
}

impl LockGuard {
    pub fn exclusive(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| StoreError::io(path, errno.into()))?;
        Ok(LockGuard { _lock: lock })
    }
}
