//! What a file *is*, independent of the name used to reach it: device and
//! inode, plus the size and timestamps that change whenever its content or
//! metadata does (`ctime` cannot be set from user space).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Device and inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            libc::major(self.dev as libc::dev_t),
            libc::minor(self.dev as libc::dev_t),
            self.ino
        )
    }
}

/// A file's identity at one moment. Two equal stamps mean the same,
/// unchanged file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    pub id: FileId,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
}

impl FileStamp {
    pub fn from_stat(st: &libc::stat) -> Self {
        FileStamp {
            id: FileId {
                dev: st.st_dev,
                ino: st.st_ino,
            },
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
            mode: st.st_mode,
        }
    }

    pub fn is_regular(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_major_minor_and_inode() {
        let id = FileId {
            dev: libc::makedev(8, 1),
            ino: 42,
        };
        assert_eq!(id.to_string(), "8:1/42");
    }
}
