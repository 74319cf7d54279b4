//! Filling in what the kernel record does not carry: the acting process's
//! executable (from earlier exec and fork events, else `/proc/PID/exe`) and
//! the container the event belongs to (cgroup id, then pid namespace).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bulwark_containers::{Host, Resolver, StateWatcher};
use bulwark_core::{Clock, ContainerRef, Event, EventKind};

use crate::stats::Stats;

/// tgid -> executable, bounded; the oldest entry goes first when full.
pub struct ProcCache {
    exes: HashMap<u32, Arc<str>>,
    order: VecDeque<u32>,
    capacity: usize,
}

impl ProcCache {
    pub fn new(capacity: usize) -> ProcCache {
        ProcCache {
            exes: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, tgid: u32) -> Option<Arc<str>> {
        self.exes.get(&tgid).cloned()
    }

    pub fn insert(&mut self, tgid: u32, exe: Arc<str>) {
        if self.exes.insert(tgid, exe).is_none() {
            self.order.push_back(tgid);
        }
        while self.exes.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.exes.remove(&old);
                }
                None => break,
            }
        }
    }

    pub fn remove(&mut self, tgid: u32) {
        self.exes.remove(&tgid);
        // `order` keeps the stale id; it is skipped when it reaches the front.
        if self.order.len() > self.capacity * 2 {
            let exes = &self.exes;
            self.order.retain(|t| exes.contains_key(t));
        }
    }

    pub fn len(&self) -> usize {
        self.exes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exes.is_empty()
    }
}

/// What attribution found for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    Found,
    /// A process of the host (its pid namespace is the agent's).
    Host,
    /// No container (yet): `fresh` when its cgroup was created moments ago.
    Unknown {
        fresh: bool,
    },
}

/// The enrichment stage of the live pipeline.
pub struct Enricher<H, C> {
    resolver: Resolver<H, C>,
    watcher: Option<StateWatcher>,
    host: H,
    procs: ProcCache,
    host_pid_ns: u64,
    stats: Arc<Stats>,
}

impl<H: Host + Clone, C: Clock> Enricher<H, C> {
    /// `watcher` reports containers as their runtimes create them (see
    /// [`StateWatcher`]); without one, attribution relies on scans alone.
    pub fn new(
        host: H,
        clock: C,
        watcher: Option<StateWatcher>,
        host_pid_ns: u64,
        cache: usize,
        stats: Arc<Stats>,
    ) -> Self {
        let mut resolver = Resolver::new(host.clone(), clock);
        resolver.scan();
        Enricher {
            resolver,
            watcher,
            host,
            procs: ProcCache::new(cache),
            host_pid_ns,
            stats,
        }
    }

    /// The kernel created cgroup `id` at `path`.
    pub fn cgroup_created(&mut self, id: u64, path: &str) {
        self.resolver.note_cgroup(id, path);
    }

    /// Finds the event's container: by cgroup id, else (outside the host
    /// pid namespace) by pid namespace.
    pub fn attribute(&mut self, event: &mut Event) -> Attribution {
        if let Some(found) = self.lookup(event.cgroup_id) {
            event.container = Some(found);
            return Attribution::Found;
        }
        let ns = event.namespaces.pid;
        if ns == self.host_pid_ns {
            return Attribution::Host;
        }
        if let Some(info) = self.resolver.by_pid_ns(ns) {
            event.container = Some(info.to_ref());
            return Attribution::Found;
        }
        Attribution::Unknown {
            fresh: self.resolver.is_fresh(event.cgroup_id),
        }
    }

    /// The container of a cgroup id, if known (rescans, rate-limited).
    pub fn lookup(&mut self, cgroup_id: u64) -> Option<ContainerRef> {
        if let Some(watcher) = &self.watcher {
            for info in watcher.drain() {
                self.resolver.learn(info);
            }
        }
        self.resolver.by_cgroup_id(cgroup_id).map(|i| i.to_ref())
    }

    /// Counts an event that left without a container although it came
    /// from outside the host pid namespace.
    pub fn count_miss(&self, event: &Event) {
        if event.container.is_none() && event.namespaces.pid != self.host_pid_ns {
            self.stats.attribution_miss();
        }
    }

    /// Fills `process.exe` from the events seen so far (call in arrival
    /// order, before any holding back).
    pub fn fill_exe(&mut self, event: &mut Event) {
        self.exe_for(event);
    }

    fn exe_for(&mut self, event: &mut Event) {
        let tgid = event.process.tgid;
        match &event.kind {
            EventKind::Exec { exe, .. } => {
                let exe: Arc<str> = Arc::from(exe.as_str());
                self.procs.insert(tgid, Arc::clone(&exe));
                event.process.exe = Some(exe.to_string());
                return;
            }
            EventKind::Fork { child_tgid, .. } => {
                if let Some(exe) = self.exe_of(tgid) {
                    self.procs.insert(*child_tgid, exe);
                }
            }
            _ => {}
        }
        event.process.exe = self.exe_of(tgid).map(|e| e.to_string());
        if matches!(event.kind, EventKind::Exit { .. }) {
            self.procs.remove(tgid);
        }
    }

    /// From the cache, else `/proc/TGID/exe` (processes that started before
    /// the sensor). A process gone already stays unknown.
    fn exe_of(&mut self, tgid: u32) -> Option<Arc<str>> {
        if let Some(exe) = self.procs.get(tgid) {
            return Some(exe);
        }
        let link = self
            .host
            .read_link(&Path::new("/proc").join(tgid.to_string()).join("exe"))
            .ok()?;
        let exe: Arc<str> = Arc::from(link.as_str());
        self.procs.insert(tgid, Arc::clone(&exe));
        Some(exe)
    }

    pub fn resolver(&mut self) -> &mut Resolver<H, C> {
        &mut self.resolver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_the_oldest_and_stays_bounded() {
        let mut c = ProcCache::new(2);
        c.insert(1, Arc::from("/a"));
        c.insert(2, Arc::from("/b"));
        c.insert(3, Arc::from("/c"));
        assert_eq!(c.len(), 2);
        assert!(c.get(1).is_none());
        assert_eq!(c.get(3).as_deref(), Some("/c"));
    }

    #[test]
    fn removed_entries_do_not_grow_the_order_queue_without_bound() {
        let mut c = ProcCache::new(4);
        for i in 0..10_000 {
            c.insert(i, Arc::from("/x"));
            c.remove(i);
        }
        assert!(c.is_empty());
        assert!(c.order.len() <= 8);
    }
}
