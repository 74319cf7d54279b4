//! Profiles on disk: `DATA/profiles/NAME.yaml`, one YAML document per
//! workload, written atomically (temp file, fsync, rename, fsync directory),
//! with an exclusive lock (`DATA/profiles/.lock`) around every
//! read-modify-write so the agent and `bulwark profile` never lose each
//! other's changes.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bulwark_core::WorkloadId;
use bulwark_profile::WorkloadProfile;
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;

/// Identity of one version of a file: changes whenever it is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// One file found in the store.
#[derive(Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub profile: Result<(WorkloadProfile, Stamp), StoreError>,
}

/// Holds the store's lock until dropped.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[derive(Clone, Debug)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    /// Opens (creating with mode 0700) the store directory.
    pub fn open(dir: &Path) -> Result<ProfileStore, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::io(dir, "create directory", source))?;
        Ok(ProfileStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the store's exclusive lock (blocking).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::io(&path, "open", source))?;
        file.lock()
            .map_err(|source| StoreError::io(&path, "lock", source))?;
        Ok(StoreLock { file })
    }

    /// The file of `workload`.
    pub fn path_of(&self, workload: &WorkloadId) -> PathBuf {
        self.dir.join(file_name(workload))
    }

    /// The stamp of `workload`'s file, if it exists.
    pub fn stamp(&self, workload: &WorkloadId) -> Result<Option<Stamp>, StoreError> {
        let path = self.path_of(workload);
        match std::fs::metadata(&path) {
            Ok(meta) => Ok(Some(Stamp::of(&meta))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::io(&path, "stat", source)),
        }
    }

    pub fn read(
        &self,
        workload: &WorkloadId,
    ) -> Result<Option<(WorkloadProfile, Stamp)>, StoreError> {
        let path = self.path_of(workload);
        if !path.exists() {
            return Ok(None);
        }
        read_file(&path, Some(workload)).map(Some)
    }

    /// Writes `profile` atomically; returns the new file's stamp.
    pub fn write(&self, profile: &WorkloadProfile) -> Result<Stamp, StoreError> {
        let path = self.path_of(profile.workload());
        let text = bulwark_profile::to_yaml(profile).map_err(|source| StoreError::Document {
            path: path.clone(),
            source,
        })?;
        let tmp = self.dir.join(format!(
            ".{}.tmp-{}",
            file_name(profile.workload()),
            std::process::id()
        ));
        let tmp_ref = &tmp;
        let io = |op| move |source| StoreError::io(tmp_ref, op, source);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create"))?;
        file.write_all(text.as_bytes()).map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))?;
        std::fs::rename(&tmp, &path)
            .map_err(|source| StoreError::io(&path, "rename into", source))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| StoreError::io(&self.dir, "sync", source))?;
        let meta =
            std::fs::metadata(&path).map_err(|source| StoreError::io(&path, "stat", source))?;
        Ok(Stamp::of(&meta))
    }

    /// Every profile file in the store, each parsed (or its error).
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|source| StoreError::io(&self.dir, "list", source))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StoreError::io(&self.dir, "list", source))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".yaml") {
                continue;
            }
            let path = entry.path();
            let profile = read_file(&path, None).and_then(|(p, s)| {
                if path.file_name() == Some(std::ffi::OsStr::new(&file_name(p.workload()))) {
                    Ok((p, s))
                } else {
                    Err(StoreError::Misplaced {
                        path: path.clone(),
                        workload: p.workload().to_string(),
                    })
                }
            });
            out.push(Listed { path, profile });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn read_file(
    path: &Path,
    expect: Option<&WorkloadId>,
) -> Result<(WorkloadProfile, Stamp), StoreError> {
    let file = File::open(path).map_err(|source| StoreError::io(path, "open", source))?;
    let meta = file
        .metadata()
        .map_err(|source| StoreError::io(path, "stat", source))?;
    if meta.len() > bulwark_profile::MAX_DOCUMENT_BYTES as u64 {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    let text =
        std::io::read_to_string(file).map_err(|source| StoreError::io(path, "read", source))?;
    let mut docs =
        bulwark_profile::parse(&text, &path.display().to_string()).map_err(|source| {
            StoreError::Document {
                path: path.to_path_buf(),
                source,
            }
        })?;
    if docs.len() != 1 {
        return Err(StoreError::Misplaced {
            path: path.to_path_buf(),
            workload: format!("{} documents", docs.len()),
        });
    }
    let profile = docs.remove(0);
    if let Some(want) = expect.filter(|w| *w != profile.workload()) {
        return Err(StoreError::Misplaced {
            path: path.to_path_buf(),
            workload: format!("{} (expected {want})", profile.workload()),
        });
    }
    Ok((profile, Stamp::of(&meta)))
}

/// `image:registry.test/web` -> `image%3aregistry.test%2fweb.yaml`: every
/// byte outside `[A-Za-z0-9._-]` percent-encoded, so no identity can name a
/// path outside the store; very long names become a hash.
pub fn file_name(workload: &WorkloadId) -> String {
    let mut out = String::new();
    for b in workload.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2e");
    }
    if out.len() > 200 {
        let digest: [u8; 32] = Sha256::digest(workload.as_str().as_bytes()).into();
        out = format!("h-{}", hex::encode(digest));
    }
    out.push_str(".yaml");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> WorkloadId {
        WorkloadId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn file_names_cannot_escape_the_store() {
        assert_eq!(
            file_name(&id("image:registry.test/web")),
            "image%3aregistry.test%2fweb.yaml"
        );
        assert_eq!(
            file_name(&id("../../etc/passwd")),
            "%2e.%2f..%2fetc%2fpasswd.yaml"
        );
        assert_eq!(file_name(&id("..")), "%2e..yaml");
        let long = file_name(&id(&"x".repeat(300)));
        assert!(long.starts_with("h-") && long.len() < 80, "{long}");
    }
}
