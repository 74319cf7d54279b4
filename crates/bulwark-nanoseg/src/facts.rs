//! What the engine cannot see in events: whether an executable belongs to
//! the container's image. The first time a container is seen, the
//! executable files under its root (`/proc/PID/root`) are recorded by
//! device and inode; an exec of anything else later is drift.
//!
//! Limits: a container first seen by an agent that started after it may
//! already hold dropped files (they count as image files); `/proc`, `/sys`
//! and `/dev` are not walked; at most [`MAX_FILES`] files per container.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bulwark_core::{ContainerId, ContainerRef};
use bulwark_profile::Facts;

/// Files recorded per container at most; beyond it, drift is "unknown".
pub const MAX_FILES: usize = 200_000;
/// Containers remembered; the oldest snapshot goes first.
pub const MAX_CONTAINERS: usize = 1024;

const SKIP: &[&str] = &["proc", "sys", "dev"];

/// Executables of each container's image, by (device, inode).
#[derive(Debug, Default)]
pub struct ImageFiles {
    /// `None`: the image was too large to record; drift is unknown.
    images: HashMap<ContainerId, Option<HashSet<(u64, u64)>>>,
    order: VecDeque<ContainerId>,
}

/// Why a walk stopped.
enum Walk {
    /// The root cannot be read (the process is gone): try again later.
    Unreadable,
    TooLarge,
}

impl ImageFiles {
    /// Records the executables under `root` for `container`, once. An
    /// unreadable root (the process already exited) is tried again on the
    /// container's next exec.
    pub fn snapshot(&mut self, container: &ContainerId, root: &Path) {
        if self.images.contains_key(container) {
            return;
        }
        let files = match walk(root) {
            Ok(files) => Some(files),
            Err(Walk::Unreadable) => return,
            Err(Walk::TooLarge) => {
                tracing::warn!(container = %container, root = %root.display(), "image too large to record: drift detection off for this container");
                None
            }
        };
        while self.order.len() >= MAX_CONTAINERS {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.images.remove(&old);
        }
        self.order.push_back(container.clone());
        self.images.insert(container.clone(), files);
    }

    pub fn knows(&self, container: &ContainerId) -> bool {
        self.images.contains_key(container)
    }
}

/// Every executable regular file below `root`.
fn walk(root: &Path) -> Result<HashSet<(u64, u64)>, Walk> {
    let mut out = HashSet::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(_) if dir == root => return Err(Walk::Unreadable),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_FILES {
                return Err(Walk::TooLarge);
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                let top = dir == root && SKIP.iter().any(|s| entry.file_name() == *s);
                if !top {
                    stack.push(entry.path());
                }
            } else if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                out.insert((meta.dev(), meta.ino()));
            }
        }
    }
    Ok(out)
}

impl Facts for ImageFiles {
    fn exe_in_image(
        &self,
        container: &ContainerRef,
        _exe: &str,
        inode: u64,
        dev: u64,
    ) -> Option<bool> {
        let files = self.images.get(&container.id)?.as_ref()?;
        Some(files.contains(&(dev, inode)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_added_after_the_snapshot_are_not_in_the_image() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bin = dir.path().join("bin");
        let _ = std::fs::create_dir(&bin);
        let tool = bin.join("tool");
        let _ = std::fs::write(&tool, "#!/bin/sh\n");
        let _ = std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755));
        let id = ContainerId::new("c1").unwrap_or_else(|e| panic!("{e}"));
        let mut facts = ImageFiles::default();
        facts.snapshot(&id, dir.path());
        let dropped = bin.join("dropped");
        let _ = std::fs::write(&dropped, "#!/bin/sh\n");
        let _ = std::fs::set_permissions(&dropped, std::fs::Permissions::from_mode(0o755));
        let c = ContainerRef {
            id,
            runtime: "runc".into(),
            image: None,
            image_digest: None,
            workload: None,
            pod_namespace: None,
            pod_name: None,
        };
        let fact = |p: &Path| {
            let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{e}"));
            facts.exe_in_image(&c, "", m.ino(), m.dev())
        };
        assert_eq!(fact(&tool), Some(true));
        assert_eq!(fact(&dropped), Some(false));
    }
}
