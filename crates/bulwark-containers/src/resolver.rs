//! Answers "which container?" for a pid, a cgroup id, a cgroup path or a
//! pid namespace, from a cached index refreshed when something is unknown.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_core::{Clock, ContainerId};

use crate::Error;
use crate::discovery::{self, Discovered};
use crate::host::Host;
use crate::info::ContainerInfo;
use crate::layout;
use crate::procfs::{self, ProcCgroups};

/// How soon an id that was not found may trigger another scan.
const RETRY_MISS_AFTER: Duration = Duration::from_secs(1);
/// A cgroup created less than this long ago is rescanned for at every
/// chance (subject only to [`MIN_SCAN_INTERVAL`]).
pub const FRESH: Duration = Duration::from_secs(2);
/// Scans never run closer together than this, however many new ids appear.
const MIN_SCAN_INTERVAL: Duration = Duration::from_millis(20);
/// Deleted containers stay resolvable for late events, up to this many.
const RETAIN_GONE: usize = 1024;
/// Bounds on the bookkeeping maps (memory stays bounded under churn).
const MAX_MISSES: usize = 16_384;
const MAX_NOTED: usize = 65_536;
/// How deep and how many sub-cgroups of a container are indexed.
const SUBTREE_DEPTH: usize = 4;
const SUBTREE_MAX: usize = 256;

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolverStats {
    pub scans: u64,
    pub skipped_states: u64,
    pub lookups: u64,
    pub misses: u64,
}

/// The container index; see the module documentation.
pub struct Resolver<H, C> {
    host: H,
    clock: C,
    live: HashMap<ContainerId, Arc<ContainerInfo>>,
    gone: VecDeque<Arc<ContainerInfo>>,
    by_cgroup: HashMap<u64, Arc<ContainerInfo>>,
    by_path: HashMap<String, Arc<ContainerInfo>>,
    /// `None`: several containers share the namespace (a pod), so it names none.
    by_pidns: HashMap<u64, Option<Arc<ContainerInfo>>>,
    /// cgroup id -> (path, when), learned from the kernel (cgroup_mkdir).
    noted: HashMap<u64, (String, SystemTime)>,
    misses: HashMap<u64, SystemTime>,
    last_scan: Option<SystemTime>,
    cgroup2: Option<std::path::PathBuf>,
    stats: ResolverStats,
}

impl<H: Host, C: Clock> Resolver<H, C> {
    /// An empty index; call [`scan`](Self::scan) to fill it.
    pub fn new(host: H, clock: C) -> Self {
        let cgroup2 = host
            .read(Path::new("/proc/self/mountinfo"))
            .ok()
            .and_then(|m| procfs::cgroup2_mount(&m));
        Resolver {
            host,
            clock,
            live: HashMap::new(),
            gone: VecDeque::new(),
            by_cgroup: HashMap::new(),
            by_path: HashMap::new(),
            by_pidns: HashMap::new(),
            noted: HashMap::new(),
            misses: HashMap::new(),
            last_scan: None,
            cgroup2,
            stats: ResolverStats::default(),
        }
    }

    /// Rescans the runtimes' state; returns the state directories skipped.
    pub fn scan(&mut self) -> Vec<Error> {
        let Discovered {
            containers,
            skipped,
        } = discovery::discover(&self.host);
        self.stats.scans += 1;
        self.stats.skipped_states += skipped.len() as u64;
        self.last_scan = Some(self.clock.now());
        let mut fresh: HashMap<ContainerId, Arc<ContainerInfo>> = HashMap::new();
        for info in containers {
            let info = match self.live.get(&info.id) {
                Some(old) if **old == info => Arc::clone(old),
                _ => Arc::new(info),
            };
            fresh.insert(info.id.clone(), info);
        }
        for (id, old) in self.live.drain() {
            if !fresh.contains_key(&id) {
                self.gone.push_back(old);
            }
        }
        while self.gone.len() > RETAIN_GONE {
            self.gone.pop_front();
        }
        self.gone.retain(|g| !fresh.contains_key(&g.id));
        self.live = fresh;
        self.reindex();
        skipped
    }

    fn reindex(&mut self) {
        self.by_cgroup.clear();
        self.by_path.clear();
        self.by_pidns.clear();
        let all: Vec<Arc<ContainerInfo>> = self
            .gone
            .iter()
            .chain(self.live.values())
            .cloned()
            .collect();
        for info in all {
            self.index_one(&info);
        }
    }

    fn index_one(&mut self, info: &Arc<ContainerInfo>) {
        if let Some(id) = info.cgroup_id {
            self.by_cgroup.insert(id, Arc::clone(info));
        }
        if let Some(path) = &info.cgroup_path {
            self.by_path.insert(path.clone(), Arc::clone(info));
            self.index_subtree(path, info);
        }
        if let Some(ns) = info.pid_ns.filter(|_| self.live.contains_key(&info.id)) {
            self.by_pidns
                .entry(ns)
                .and_modify(|e| {
                    if e.as_ref().is_some_and(|o| o.id != info.id) {
                        *e = None;
                    }
                })
                .or_insert_with(|| Some(Arc::clone(info)));
        }
    }

    /// Adds (or refreshes) one container, e.g. from a [`crate::StateWatcher`]
    /// that saw its runtime write its state. A later scan that no longer
    /// finds it keeps it resolvable like any deleted container.
    pub fn learn(&mut self, info: ContainerInfo) {
        if self.live.get(&info.id).is_some_and(|old| **old == info) {
            return;
        }
        let info = Arc::new(info);
        self.gone.retain(|g| g.id != info.id);
        self.live.insert(info.id.clone(), Arc::clone(&info));
        self.index_one(&info);
    }

    /// Sub-cgroups a container created under its own (systemd in a
    /// container, nested runtimes) belong to it too.
    fn index_subtree(&mut self, path: &str, info: &Arc<ContainerInfo>) {
        let Some(mount) = self.cgroup2.clone() else {
            return;
        };
        let mut queue = vec![(path.to_owned(), 0usize)];
        let mut seen = 0;
        while let Some((dir, depth)) = queue.pop() {
            if depth >= SUBTREE_DEPTH {
                continue;
            }
            let abs = mount.join(dir.trim_start_matches('/'));
            for child in self.host.subdirs(&abs).unwrap_or_default() {
                seen += 1;
                if seen > SUBTREE_MAX {
                    return;
                }
                let child_path = format!("{dir}/{child}");
                if let Ok(ino) = self.host.inode(&abs.join(&child)) {
                    self.by_cgroup
                        .entry(ino)
                        .or_insert_with(|| Arc::clone(info));
                }
                self.by_path
                    .entry(child_path.clone())
                    .or_insert_with(|| Arc::clone(info));
                queue.push((child_path, depth + 1));
            }
        }
    }

    /// The container whose cgroup (or a sub-cgroup of it) has this v2 id.
    /// An unknown id triggers a rescan, rate-limited per id and overall.
    pub fn by_cgroup_id(&mut self, cgroup_id: u64) -> Option<Arc<ContainerInfo>> {
        self.stats.lookups += 1;
        if let Some(hit) = self.indexed(cgroup_id) {
            return Some(hit);
        }
        if self.may_scan_for(cgroup_id) {
            self.scan();
            if let Some(hit) = self.indexed(cgroup_id) {
                return Some(hit);
            }
        }
        // No runtime state (yet, or any more): the cgroup path may still
        // name the container.
        if let Some((path, _)) = self.noted.get(&cgroup_id).cloned()
            && let Some(hit) = self.lookup_path(&path, true)
        {
            self.by_cgroup.insert(cgroup_id, Arc::clone(&hit));
            return Some(hit);
        }
        self.stats.misses += 1;
        None
    }

    fn indexed(&self, cgroup_id: u64) -> Option<Arc<ContainerInfo>> {
        if let Some(hit) = self.by_cgroup.get(&cgroup_id) {
            return Some(Arc::clone(hit));
        }
        let (path, _) = self.noted.get(&cgroup_id)?;
        self.by_path.get(path).cloned()
    }

    /// Records that the kernel created cgroup `cgroup_id` at `path` (v2
    /// path relative to the hierarchy root). Lets a container be attributed
    /// from its path even if it is gone before the next scan.
    pub fn note_cgroup(&mut self, cgroup_id: u64, path: &str) {
        if self.noted.len() >= MAX_NOTED {
            self.noted.clear();
        }
        self.noted
            .insert(cgroup_id, (path.to_owned(), self.clock.now()));
        self.misses.remove(&cgroup_id);
    }

    /// True if the kernel created this cgroup less than [`FRESH`] ago: its
    /// container is probably still being set up, and its runtime state
    /// about to appear.
    pub fn is_fresh(&self, cgroup_id: u64) -> bool {
        let now = self.clock.now();
        self.noted
            .get(&cgroup_id)
            .is_some_and(|(_, at)| now.duration_since(*at).unwrap_or_default() < FRESH)
    }

    /// The container at a cgroup path: indexed runtime state first, then
    /// the runtime layouts of [`layout::classify`].
    pub fn by_cgroup_path(&mut self, path: &str) -> Option<Arc<ContainerInfo>> {
        self.stats.lookups += 1;
        let hit = self.lookup_path(path, true);
        if hit.is_none() {
            self.stats.misses += 1;
        }
        hit
    }

    fn lookup_path(&mut self, path: &str, allow_classify: bool) -> Option<Arc<ContainerInfo>> {
        if let Some(hit) = self.by_path.get(path) {
            return Some(Arc::clone(hit));
        }
        if !allow_classify {
            return None;
        }
        let m = layout::classify(path)?;
        if let Some(known) = self
            .live
            .get(&m.id)
            .or_else(|| self.gone.iter().find(|g| g.id == m.id))
        {
            return Some(Arc::clone(known));
        }
        let mut info = ContainerInfo::bare(m.id, m.runtime);
        info.cgroup_path = Some(path.to_owned());
        if let Some(uid) = m.pod_uid {
            info.pod = Some(crate::metadata::Pod {
                uid: Some(uid),
                ..Default::default()
            });
        }
        let info = Arc::new(info);
        self.by_path.insert(path.to_owned(), Arc::clone(&info));
        Some(info)
    }

    /// The container process `pid` runs in, from `/proc/PID/cgroup`;
    /// `Ok(None)` for a host process. The caller must make sure the pid
    /// still names the process it means (e.g. hold a pidfd) across the call.
    pub fn by_pid(&mut self, pid: u32) -> Result<Option<Arc<ContainerInfo>>, Error> {
        let path = Path::new("/proc").join(pid.to_string()).join("cgroup");
        let text = self.host.read(&path)?;
        let cgroups = ProcCgroups::parse(&text).map_err(|(line, reason)| Error::Format {
            path: path.clone(),
            line,
            reason,
        })?;
        let candidates: Vec<String> = cgroups
            .candidate_paths()
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        for round in 0..2 {
            for p in &candidates {
                if let Some(hit) = self.lookup_path(p, round == 1) {
                    return Ok(Some(hit));
                }
            }
            if round == 0 && !candidates.is_empty() && self.may_scan() {
                self.scan();
            }
        }
        Ok(None)
    }

    /// The container whose init runs in this pid namespace, if exactly one.
    pub fn by_pid_ns(&self, pid_ns: u64) -> Option<Arc<ContainerInfo>> {
        self.by_pidns.get(&pid_ns).cloned().flatten()
    }

    pub fn by_id(&self, id: &ContainerId) -> Option<Arc<ContainerInfo>> {
        self.live.get(id).cloned()
    }

    /// The containers found running at the last scan.
    pub fn containers(&self) -> impl Iterator<Item = &Arc<ContainerInfo>> {
        self.live.values()
    }

    pub fn stats(&self) -> ResolverStats {
        self.stats
    }

    fn may_scan(&self) -> bool {
        let now = self.clock.now();
        self.last_scan
            .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= MIN_SCAN_INTERVAL)
    }

    fn may_scan_for(&mut self, cgroup_id: u64) -> bool {
        let now = self.clock.now();
        let recently_missed = !self.is_fresh(cgroup_id)
            && self
                .misses
                .get(&cgroup_id)
                .is_some_and(|t| now.duration_since(*t).unwrap_or_default() < RETRY_MISS_AFTER);
        if recently_missed || !self.may_scan() {
            return false;
        }
        if self.misses.len() >= MAX_MISSES {
            self.misses.clear();
        }
        self.misses.insert(cgroup_id, now);
        true
    }
}
