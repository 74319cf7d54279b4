//! The mounts of a container, read from `/proc/PID/mountinfo`: every one of
//! them must carry the exec permission mark, or a binary dropped on `/dev`
//! (a writable tmpfs) would run unchecked.

/// One line of `mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u64,
    pub parent_id: u64,
    /// Where it is mounted, as the mount namespace sees it (unescaped).
    pub mount_point: String,
    pub fs_type: String,
    /// Per-mount options (`ro`, `noexec`, ...).
    pub options: Vec<String>,
}

impl MountEntry {
    pub fn is_noexec(&self) -> bool {
        self.options.iter().any(|o| o == "noexec")
    }

    pub fn refuses_permission_events(&self) -> bool {
        refuses_permission_events(&self.fs_type)
    }
}

/// File systems whose kernel refuses permission marks (pseudo file systems
/// whose open paths take locks that make permission events deadlock-prone).
/// Nothing on them can be executed or is a file a policy names.
pub fn refuses_permission_events(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue" | "devpts"
    )
}

#[derive(Debug, thiserror::Error)]
#[error("mountinfo line {line}: {problem}")]
pub struct MountinfoError {
    pub line: usize,
    pub problem: &'static str,
}

/// Parse the whole of a `mountinfo` file.
pub fn parse(text: &str) -> Result<Vec<MountEntry>, MountinfoError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|problem| MountinfoError {
                line: i + 1,
                problem,
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<MountEntry, &'static str> {
    let (head, tail) = line.split_once(" - ").ok_or("no ` - ` separator")?;
    let fields: Vec<&str> = head.split(' ').collect();
    if fields.len() < 6 {
        return Err("fewer than 6 fields before the separator");
    }
    let mount_id = fields[0].parse().map_err(|_| "mount id is not a number")?;
    let parent_id = fields[1].parse().map_err(|_| "parent id is not a number")?;
    let fs_type = tail.split(' ').next().ok_or("no file system type")?;
    Ok(MountEntry {
        mount_id,
        parent_id,
        mount_point: unescape(fields[4]),
        fs_type: fs_type.to_owned(),
        options: fields[5].split(',').map(str::to_owned).collect(),
    })
}

/// `mountinfo` escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts at or below `root` (the container's root as its mount
/// namespace sees it: the rootfs path before `pivot_root`, `/` after).
/// When several mounts stack on one point, only the topmost is visible and
/// returned.
pub fn below<'a>(mounts: &'a [MountEntry], root: &str) -> Vec<&'a MountEntry> {
    let root = root.trim_end_matches('/');
    let inside = |p: &str| {
        root.is_empty()
            || p == root
            || (p.starts_with(root) && p.as_bytes().get(root.len()) == Some(&b'/'))
    };
    let mut out: Vec<&MountEntry> = Vec::new();
    for m in mounts.iter().filter(|m| inside(&m.mount_point)) {
        // A later line on the same point hides the earlier one.
        out.retain(|o| o.mount_point != m.mount_point);
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
65 43 254:0 /tmp/b/rootfs /tmp/b/rootfs rw,relatime - ext4 /dev/vda rw
66 65 0:40 / /tmp/b/rootfs/proc rw,relatime - proc proc rw
67 65 0:41 / /tmp/b/rootfs/dev rw,nosuid - tmpfs tmpfs rw,size=65536k
69 67 0:43 / /tmp/b/rootfs/dev/shm rw,nosuid,nodev,noexec - tmpfs shm rw
70 22 0:44 / /tmp/b/rootfs2 rw - tmpfs tmpfs rw
71 65 0:45 / /tmp/b/rootfs/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn selects_container_mounts_only() {
        let all = parse(SAMPLE).unwrap();
        let inside: Vec<&str> = below(&all, "/tmp/b/rootfs")
            .iter()
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(
            inside,
            [
                "/tmp/b/rootfs",
                "/tmp/b/rootfs/proc",
                "/tmp/b/rootfs/dev",
                "/tmp/b/rootfs/dev/shm",
                "/tmp/b/rootfs/with space"
            ]
        );
    }

    #[test]
    fn flags_and_types_are_read() {
        let all = parse(SAMPLE).unwrap();
        assert!(all[4].is_noexec());
        assert!(all[2].refuses_permission_events());
        assert!(!all[3].refuses_permission_events());
    }

    #[test]
    fn garbage_line_is_an_error_with_line_number() {
        let err = parse("22 1 254:0 / / rw\n").unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn after_pivot_everything_is_below_root() {
        let all = parse("1 0 0:1 / / rw - ext4 x rw\n2 1 0:2 / /dev rw - tmpfs t rw\n").unwrap();
        assert_eq!(below(&all, "/").len(), 2);
    }

    #[test]
    fn stacked_mount_keeps_only_the_top() {
        let all = parse(
            "1 0 0:1 / / rw - ext4 x rw\n2 1 0:2 / /d rw - tmpfs a rw\n3 2 0:3 / /d rw - tmpfs b rw\n",
        )
        .unwrap();
        let d: Vec<u64> = below(&all, "/").iter().map(|m| m.mount_id).collect();
        assert_eq!(d, [1, 3]);
    }
}
