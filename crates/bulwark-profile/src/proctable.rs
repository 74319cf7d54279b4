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
}

impl ProcInfo {
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
                let path = (invoked.starts_with('/') && invoked != *exe).then_some(invoked);
                let info = ProcInfo {
                    process,
                    path,
                    argv: argv.clone(),
                    container: event.container.as_ref().map(|c| c.id.clone()),
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
    fn table_stays_bounded() {
        let mut t = ProcTable::new(16);
        for pid in 100..1000 {
            t.observe(&exec(pid, 1, "/bin/true", "/bin/true", &["true"]));
        }
        assert!(t.len() <= 16);
        assert!(t.get(999).is_some());
    }
}
