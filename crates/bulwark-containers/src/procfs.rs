//! Pure parsers for the `/proc` files attribution reads.

use std::path::PathBuf;

/// One line of `/proc/PID/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupLine {
    /// 0 for the cgroup v2 (unified) hierarchy.
    pub hierarchy: u32,
    /// `memory`, `cpu,cpuacct`, `name=systemd`; empty for v2.
    pub controllers: String,
    /// Path relative to the reader's cgroup namespace root.
    pub path: String,
}

/// The cgroup membership of one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCgroups {
    lines: Vec<CgroupLine>,
}

impl ProcCgroups {
    /// Parses `/proc/PID/cgroup`; malformed lines are an error naming the line.
    pub fn parse(text: &str) -> Result<ProcCgroups, (usize, &'static str)> {
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err((n + 1, "expected hierarchy-id:controllers:path"));
            };
            let hierarchy = id
                .parse()
                .map_err(|_| (n + 1, "hierarchy id is not a number"))?;
            if !path.starts_with('/') {
                return Err((n + 1, "cgroup path is not absolute"));
            }
            lines.push(CgroupLine {
                hierarchy,
                controllers: controllers.to_owned(),
                path: path.to_owned(),
            });
        }
        Ok(ProcCgroups { lines })
    }

    pub fn lines(&self) -> &[CgroupLine] {
        &self.lines
    }

    /// The cgroup v2 path (`0::/path`), if the process is in one.
    pub fn unified(&self) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.hierarchy == 0 && l.controllers.is_empty())
            .map(|l| l.path.as_str())
    }

    /// Distinct non-root paths, most telling first: v2, then the systemd
    /// named hierarchy, then the v1 controllers in file order. On a hybrid
    /// host a runtime that ignores the unified hierarchy leaves v2 at `/`,
    /// and the v1 paths still name the container.
    pub fn candidate_paths(&self) -> Vec<&str> {
        let rank = |l: &CgroupLine| match (l.hierarchy, l.controllers.as_str()) {
            (0, "") => 0,
            (_, "name=systemd") => 1,
            _ => 2,
        };
        let mut lines: Vec<&CgroupLine> = self.lines.iter().filter(|l| l.path != "/").collect();
        lines.sort_by_key(|l| rank(l));
        let mut out: Vec<&str> = Vec::new();
        for l in lines {
            if !out.contains(&l.path.as_str()) {
                out.push(&l.path);
            }
        }
        out
    }
}

/// The mount point of the cgroup v2 hierarchy in `/proc/self/mountinfo`
/// text: `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified` on a
/// hybrid one, `None` on a v1-only host.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(unescape_mount(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
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

/// The inode in a namespace link target such as `pid:[4026531836]`.
pub fn namespace_inode(link: &str) -> Option<u64> {
    let inner = link.split_once(":[")?.1.strip_suffix(']')?;
    inner.parse().ok()
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks since boot),
/// which tells a process apart from a later one that reused its pid.
pub fn stat_start_time(stat: &str) -> Option<u64> {
    // `comm` (field 2) may hold spaces and parentheses: skip to the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
12:pids:/kubepods/burstable/pod7f9c/abc
9:name=systemd:/kubepods/burstable/pod7f9c/abc
4:memory:/kubepods/burstable/pod7f9c/abc
1:cpu,cpuacct:/kubepods/burstable/pod7f9c/abc
0::/
";

    #[test]
    fn hybrid_with_root_v2_falls_back_to_v1_paths() {
        let cg = ProcCgroups::parse(HYBRID).unwrap();
        assert_eq!(cg.unified(), Some("/"));
        assert_eq!(cg.candidate_paths(), ["/kubepods/burstable/pod7f9c/abc"]);
    }

    #[test]
    fn v2_path_ranks_first() {
        let text = "4:memory:/docker/aaa\n0::/system.slice/docker-bbb.scope\n9:name=systemd:/x\n";
        let cg = ProcCgroups::parse(text).unwrap();
        assert_eq!(
            cg.candidate_paths(),
            ["/system.slice/docker-bbb.scope", "/x", "/docker/aaa"]
        );
    }

    #[test]
    fn pure_v2_host_has_one_line() {
        let cg = ProcCgroups::parse("0::/user.slice/user-1000.slice/session-2.scope\n").unwrap();
        assert_eq!(
            cg.unified(),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        assert_eq!(cg.lines().len(), 1);
    }

    #[test]
    fn paths_may_contain_colons() {
        let cg = ProcCgroups::parse("0::/a:b/c\n").unwrap();
        assert_eq!(cg.unified(), Some("/a:b/c"));
    }

    #[test]
    fn malformed_lines_are_rejected_with_their_number() {
        assert_eq!(
            ProcCgroups::parse("0::/\ngarbage\n"),
            Err((2, "expected hierarchy-id:controllers:path"))
        );
        assert_eq!(
            ProcCgroups::parse("x::/\n").map(|_| ()),
            Err((1, "hierarchy id is not a number"))
        );
        assert_eq!(
            ProcCgroups::parse("0::rel\n").map(|_| ()),
            Err((1, "cgroup path is not absolute"))
        );
    }

    #[test]
    fn cgroup2_mount_point_is_found_and_unescaped() {
        let info = "31 30 0:27 / /sys/fs/cgroup/unified rw shared:9 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(info),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let spaced = "31 30 0:27 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount(spaced), Some(PathBuf::from("/mnt/my cg")));
        assert_eq!(
            cgroup2_mount("32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n"),
            None
        );
    }

    #[test]
    fn namespace_links_parse() {
        assert_eq!(namespace_inode("pid:[4026531836]"), Some(4_026_531_836));
        assert_eq!(namespace_inode("pid:4026531836"), None);
    }

    #[test]
    fn start_time_survives_hostile_comm() {
        let stat =
            "42 (evil) 1 2 3) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(stat_start_time(stat), Some(987_654));
    }
}
