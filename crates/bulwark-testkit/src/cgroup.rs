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
    cgroup2_mount_in(&info).ok_or(Error::NoCgroup2)
}

fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host_has_cgroup2_under_unified() {
        let info = "\
30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";
        assert_eq!(
            cgroup2_mount_in(info),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn optional_fields_do_not_shift_the_fstype() {
        let info = "35 24 0:30 / /sys/fs/cgroup rw shared:9 master:1 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount_in(info),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn v1_only_host_has_no_cgroup2() {
        let info = "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup2_mount_in(info), None);
    }
}
