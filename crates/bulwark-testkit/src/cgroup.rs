//! Where runc put a container's cgroup, and its v2 id.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::Error;

/// The mount point of the cgroup v2 hierarchy: `/sys/fs/cgroup` on a
/// unified host, `/sys/fs/cgroup/unified` on a hybrid one.
pub(crate) fn cgroup2_mount() -> Result<PathBuf, Error> {
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    bulwark_containers::cgroup2_mount(&info).ok_or(Error::NoCgroup2)
}

/// The v2 directory of a cgroups path as runc's cgroupfs driver uses it.
pub(crate) fn v2_dir(cgroups_path: &str) -> Result<PathBuf, Error> {
    Ok(cgroup2_mount()?.join(cgroups_path.trim_start_matches('/')))
}

/// The cgroup v2 id: the inode number of the cgroup's directory, which is
/// what `bpf_get_current_cgroup_id()` returns for tasks in it.
pub(crate) fn v2_id(cgroups_path: &str) -> Result<u64, Error> {
    let dir = v2_dir(cgroups_path)?;
    let meta = fs::metadata(&dir).map_err(|e| Error::io("reading cgroup", &dir, e))?;
    Ok(meta.ino())
}

/// A cgroup v2 directory of a test's own, for placing host processes in a
/// cgroup of the test's choosing (e.g. to attest a caller "in another
/// cgroup" without a container). Removed on drop, after moving any
/// remaining processes back to the parent.
#[derive(Debug)]
pub struct TestCgroup {
    dir: PathBuf,
    path: String,
}

impl TestCgroup {
    /// Creates `/bulwark-testkit/NAME-PID-N` in the cgroup v2 hierarchy.
    pub fn create(name: &str) -> Result<TestCgroup, Error> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::Invalid {
                what: "cgroup name",
                value: name.to_owned(),
                reason: "use letters, digits and '-'",
            });
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = format!("/bulwark-testkit/{name}-{}-{n}", std::process::id());
        let dir = v2_dir(&path)?;
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating cgroup", &dir, e))?;
        Ok(TestCgroup { dir, path })
    }

    /// Moves process `pid` into this cgroup.
    pub fn add(&self, pid: u32) -> Result<(), Error> {
        let procs = self.dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).map_err(|e| Error::io("writing", &procs, e))
    }

    /// The path as `/proc/PID/cgroup` shows it (`/bulwark-testkit/...`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let procs = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        if let Some(parent) = self.dir.parent() {
            for pid in procs.split_whitespace() {
                let _ = fs::write(parent.join("cgroup.procs"), pid);
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}
