//! The host's files, behind a trait so discovery runs against a fake tree.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Largest runtime state or metadata file read (a docker `config.v2.json`
/// with many labels is tens of KiB; podman's `containers.json` grows with
/// the number of containers).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Read-only access to the host's `/proc`, `/run`, `/sys/fs/cgroup` and
/// `/var/lib`. All paths are absolute host paths.
pub trait Host {
    /// The whole file, at most [`MAX_FILE_BYTES`].
    fn read(&self, path: &Path) -> Result<String, Error>;
    /// Names of the entries of a directory, sorted.
    fn list(&self, path: &Path) -> Result<Vec<String>, Error>;
    /// Names of the subdirectories of a directory (symlinks not followed), sorted.
    fn subdirs(&self, path: &Path) -> Result<Vec<String>, Error>;
    /// Inode number of a file or directory.
    fn inode(&self, path: &Path) -> Result<u64, Error>;
    /// Target of a symbolic link (e.g. `/proc/PID/ns/pid` -> `pid:[4026531836]`).
    fn read_link(&self, path: &Path) -> Result<String, Error>;
}

/// The real file system, optionally under a prefix (tests use a temp dir
/// laid out like a host).
#[derive(Clone, Debug)]
pub struct FsHost {
    root: PathBuf,
}

impl FsHost {
    /// The machine's own file system.
    pub fn real() -> FsHost {
        FsHost {
            root: PathBuf::from("/"),
        }
    }

    /// A host tree rooted at `root`: `/run/runc` is read from `root/run/runc`.
    pub fn rooted_at(root: impl Into<PathBuf>) -> FsHost {
        FsHost { root: root.into() }
    }

    /// Where host path `path` is on this machine's file system.
    pub fn at(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

impl Host for FsHost {
    fn read(&self, path: &Path) -> Result<String, Error> {
        let file = fs::File::open(self.at(path)).map_err(|e| Error::io(path, e))?;
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                limit: MAX_FILE_BYTES,
            });
        }
        Ok(text)
    }

    fn list(&self, path: &Path) -> Result<Vec<String>, Error> {
        self.entries(path, |_| true)
    }

    fn subdirs(&self, path: &Path) -> Result<Vec<String>, Error> {
        self.entries(path, |t| t.is_dir())
    }

    fn inode(&self, path: &Path) -> Result<u64, Error> {
        fs::metadata(self.at(path))
            .map(|m| m.ino())
            .map_err(|e| Error::io(path, e))
    }

    fn read_link(&self, path: &Path) -> Result<String, Error> {
        fs::read_link(self.at(path))
            .map(|t| t.to_string_lossy().into_owned())
            .map_err(|e| Error::io(path, e))
    }
}

impl FsHost {
    fn entries(&self, path: &Path, keep: fn(&fs::FileType) -> bool) -> Result<Vec<String>, Error> {
        let dir = fs::read_dir(self.at(path)).map_err(|e| Error::io(path, e))?;
        let mut names: Vec<String> = dir
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| keep(&t)))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_host_reads_below_its_root_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("run/runc/abc")).unwrap();
        fs::write(dir.path().join("run/runc/abc/state.json"), "{}").unwrap();
        let host = FsHost::rooted_at(dir.path());
        assert_eq!(
            host.read(Path::new("/run/runc/abc/state.json")).unwrap(),
            "{}"
        );
        assert_eq!(host.subdirs(Path::new("/run/runc")).unwrap(), ["abc"]);
        assert!(
            host.read(Path::new("/etc/hostname"))
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn oversized_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        let f = fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 10).unwrap();
        let err = FsHost::rooted_at(dir.path())
            .read(Path::new("/big.json"))
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }
}
