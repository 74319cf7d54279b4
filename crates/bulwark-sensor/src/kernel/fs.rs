//! tracefs and bpffs: mounted by the sensor when the host has not.

use std::path::Path;

use nix::mount::{MsFlags, mount};

use crate::SensorError;

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
const BPFFS: &str = "/sys/fs/bpf";

/// What [`ensure_mounted`] had to mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mounted {
    pub tracefs: bool,
    pub bpffs: bool,
}

/// Mounts tracefs (needed to attach tracepoints) and bpffs (for pinning)
/// when `/proc/self/mountinfo` shows neither.
pub fn ensure_mounted() -> Result<Mounted, SensorError> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| SensorError::Io {
            what: "reading",
            path: "/proc/self/mountinfo".into(),
            source,
        })?;
    let mut mounted = Mounted::default();
    if !has_fs(&info, "tracefs", &[TRACEFS, DEBUGFS_TRACING]) {
        mount_fs("tracefs", TRACEFS)?;
        mounted.tracefs = true;
    }
    if !has_fs(&info, "bpf", &[BPFFS]) {
        mount_fs("bpf", BPFFS)?;
        mounted.bpffs = true;
    }
    Ok(mounted)
}

fn mount_fs(fstype: &'static str, target: &str) -> Result<(), SensorError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some(fstype),
        Path::new(target),
        Some(fstype),
        flags,
        None::<&str>,
    )
    .map_err(|source| SensorError::Mount {
        fs: fstype,
        path: target.into(),
        source,
    })
}

/// True if `mountinfo` has a file system of type `fstype` at one of `points`.
pub fn has_fs(mountinfo: &str, fstype: &str, points: &[&str]) -> bool {
    mountinfo.lines().any(|line| {
        let Some((left, right)) = line.split_once(" - ") else {
            return false;
        };
        let point = left.split_whitespace().nth(4).unwrap_or("");
        right.split_whitespace().next() == Some(fstype) && points.contains(&point)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracefs_is_found_at_either_mount_point() {
        let a = "40 20 0:12 / /sys/kernel/tracing rw - tracefs tracefs rw\n";
        let b = "41 21 0:12 / /sys/kernel/debug/tracing rw - tracefs tracefs rw\n";
        assert!(has_fs(a, "tracefs", &[TRACEFS, DEBUGFS_TRACING]));
        assert!(has_fs(b, "tracefs", &[TRACEFS, DEBUGFS_TRACING]));
        assert!(!has_fs(
            "42 20 0:13 / /sys/fs/bpf rw - bpf bpf rw\n",
            "tracefs",
            &[TRACEFS]
        ));
    }

    #[test]
    fn bpffs_elsewhere_does_not_count() {
        assert!(!has_fs(
            "42 20 0:13 / /mnt/bpf rw - bpf bpf rw\n",
            "bpf",
            &[BPFFS]
        ));
    }
}
