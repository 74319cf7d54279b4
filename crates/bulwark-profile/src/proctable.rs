//! What is known about each live process, built from exec, fork and exit
//! events: its program, arguments and container, for parent lookups and the
//! ancestry carried in alerts. Bounded: the oldest entries go first.

use std::collections::HashMap;

use bulwark_core::{ContainerId, Event, EventKind, Process};

/// One process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub process: Process,
    /// The path the program was invoked by, when it differs from `exe`
    /// (a symlink such as `/bin/sh -> /bin/busybox`).
    pub path: Option<String>,
    pub argv: Vec<String>,
    pub container: Option<ContainerId>,
    /// Started through `/proc/self/exe` (a multi-call binary running one of
    /// its applets, named by `argv[0]`).
    pub reexec: bool,
}

/// `/proc/self/exe`, `/proc/thread-self/exe` or `/proc/PID/exe`.
pub fn is_self_exe(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix("/proc/")
        .and_then(|r| r.strip_suffix("/exe"))
    else {
        return false;
    };
    rest == "self"
        || rest == "thread-self"
        || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

impl ProcInfo {
    /// The program and, when `argv[0]` names something else (a busybox
    /// applet, a renamed process), that name: `/bin/busybox as cat`.
    pub fn name(&self) -> String {
        let program = self.program().unwrap_or(&self.process.comm);
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        match self.argv.first().map(|a| base(a)) {
            Some(a0) if !a0.is_empty() && a0 != base(program) => format!("{program} as {a0}"),
            _ => program.to_owned(),
        }
    }

    /// The name by which the program is known: the invoked path if there is
    /// one, else the canonical executable.
    pub fn program(&self) -> Option<&str> {
        self.path.as_deref().or(self.process.exe.as_deref())
    }
}

#[derive(Debug)]
pub struct ProcTable {
    procs: HashMap<u32, (u64, ProcInfo)>,
    generation: u64,
    max: usize,
}

/// How deep ancestry goes in alerts.
pub const MAX_ANCESTRY: usize = 8;

impl ProcTable {
    pub fn new(max: usize) -> ProcTable {
        ProcTable {
            procs: HashMap::new(),
            generation: 0,
            max: max.max(16),
        }
    }

    pub fn get(&self, tgid: u32) -> Option<&ProcInfo> {
        self.procs.get(&tgid).map(|(_, info)| info)
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Updates the table from one event. Call before looking anything up
    /// for the event, so an exec sees its own new program.
    pub fn observe(&mut self, event: &Event) {
        let tgid = event.process.tgid;
        match &event.kind {
            EventKind::Exec {
                exe,
                filename,
                argv,
                ..
            } => {
                let mut process = event.process.clone();
                process.exe = Some(exe.clone());
                let invoked = crate::pattern::normalize_path(filename);
                let reexec = is_self_exe(&invoked);
                let path =
                    (invoked.starts_with('/') && invoked != *exe && !reexec).then_some(invoked);
                let info = ProcInfo {
                    process,
                    path,
                    argv: argv.clone(),
                    container: event.container.as_ref().map(|c| c.id.clone()),
                    reexec,
                };
                self.insert(tgid, info);
            }
            EventKind::Fork {
                child_pid,
                child_tgid,
            } if child_pid == child_tgid => {
                let mut info = self.get(tgid).cloned().unwrap_or_else(|| info_of(event));
                info.process.ppid = tgid;
                info.process.pid = *child_pid;
                info.process.tgid = *child_tgid;
                self.insert(*child_tgid, info);
            }
            EventKind::Exit { .. } if event.process.pid == tgid => {
                self.procs.remove(&tgid);
            }
            _ if !self.procs.contains_key(&tgid) => {
                let info = info_of(event);
                self.insert(tgid, info);
            }
            _ => {}
        }
    }

    fn insert(&mut self, tgid: u32, info: ProcInfo) {
        self.generation += 1;
        self.procs.insert(tgid, (self.generation, info));
        if self.procs.len() > self.max {
            self.evict_oldest_half();
        }
    }

    fn evict_oldest_half(&mut self) {
        let mut gens: Vec<u64> = self.procs.values().map(|(g, _)| *g).collect();
        gens.sort_unstable();
        let cutoff = gens.get(gens.len() / 2).copied().unwrap_or(0);
        self.procs.retain(|_, (g, _)| *g >= cutoff);
    }

    /// The parent of `tgid` if it is known and in the same container.
    pub fn parent_in_container(&self, info: &ProcInfo) -> Option<&ProcInfo> {
        let parent = self.get(info.process.ppid)?;
        (parent.container == info.container && parent.process.tgid != info.process.tgid)
            .then_some(parent)
    }

    /// The acting process first, then its known ancestors.
    pub fn ancestry(&self, process: &Process) -> Vec<Process> {
        let mut out = Vec::new();
        let mut current = self
            .get(process.tgid)
            .map(|i| i.process.clone())
            .unwrap_or_else(|| process.clone());
        while out.len() < MAX_ANCESTRY {
            let ppid = current.ppid;
            let tgid = current.tgid;
            out.push(current);
            match self.get(ppid) {
                Some(parent) if ppid != tgid && ppid != 0 => current = parent.process.clone(),
                _ => break,
            }
        }
        out
    }
}

/// What an event tells about a process not seen exec'ing.
fn info_of(event: &Event) -> ProcInfo {
    ProcInfo {
        process: event.process.clone(),
        path: None,
        argv: Vec::new(),
        container: event.container.as_ref().map(|c| c.id.clone()),
        reexec: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exec, exit, fork};

    #[test]
    fn exec_fork_exit_build_the_tree_and_ancestry() {
        let mut t = ProcTable::new(100);
        t.observe(&exec(
            10,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd"],
        ));
        t.observe(&fork(10, 11));
        t.observe(&exec(
            11,
            10,
            "/bin/busybox",
            "/bin/sh",
            &["sh", "-c", "id"],
        ));
        let child = t.get(11).cloned();
        assert_eq!(child.as_ref().and_then(|c| c.program()), Some("/bin/sh"));
        let parent = child.as_ref().and_then(|c| t.parent_in_container(c));
        assert_eq!(parent.and_then(|p| p.program()), Some("/usr/sbin/httpd"));
        let chain: Vec<u32> = child
            .map(|c| t.ancestry(&c.process).iter().map(|p| p.tgid).collect())
            .unwrap_or_default();
        assert_eq!(chain, vec![11, 10]);
        t.observe(&exit(11));
        assert!(t.get(11).is_none());
    }

    #[test]
    fn applets_run_through_proc_self_exe_are_named_by_argv0() {
        let mut t = ProcTable::new(100);
        t.observe(&exec(
            20,
            1,
            "/bin/busybox",
            "/proc/self/exe",
            &["cat", "/etc/shadow"],
        ));
        let info = t.get(20).cloned();
        assert_eq!(
            info.as_ref().map(|i| (i.reexec, i.path.clone())),
            Some((true, None))
        );
        assert_eq!(
            info.map(|i| i.name()).as_deref(),
            Some("/bin/busybox as cat")
        );
        assert!(is_self_exe("/proc/123/exe") && !is_self_exe("/proc/123/cwd/exe"));
    }

    #[test]
    fn table_stays_bounded() {
        let mut t = ProcTable::new(16);
        for pid in 100..1000 {
            t.observe(&exec(pid, 1, "/bin/true", "/bin/true", &["true"]));
        }
        assert!(t.len() <= 16);
        assert!(t.get(999).is_some());
    }
}
