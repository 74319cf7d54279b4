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
