//! The enforcement service of one node: containers register (from the OCI
//! hook) before their first instruction and get their policy armed in the
//! kernel; they are dropped when they exit. Hosted by `bulwark enforce`
//! (many containers) and by `bulwark run` (one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bulwark_core::{ContainerId, Mode, WorkloadId};
use serde::{Deserialize, Serialize};

use crate::arm::{ArmError, ArmReport, Target, arm};
use crate::backend::Backends;
use crate::canary::{self, CanaryFs, CanaryReport, CanarySink, Probe, Routing};
use crate::container::{ContainerError, Registration, View};
use crate::denial::{Class, DenialSink};
use crate::fanotify::Group;
use crate::fileless::{self, FilelessError, FilelessKernel, W_KILL, Watch};
use crate::guard::Guard;
use crate::hardening::memfd;
use crate::holder::{HolderClient, HolderError};
use crate::net::resolve::{IdentityLookup, NameLookup, PeerCache, global_ipv6, local_ipv4};
use crate::net::{Attachment, NetError, NetKernel, Owner, Owners, RuleEntry};
use crate::policy::{EnforcePolicy, Verdict};
use crate::ring::RingReader;
use crate::store::{PolicySource, StoreError, Subject};

#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("policy lookup: {0}")]
    Store(#[from] StoreError),
    #[error("arming exec/file enforcement: {0}")]
    Arm(#[from] ArmError),
    #[error("network enforcement: {0}")]
    Net(#[from] NetError),
    #[error(
        "container {container} has no cgroup v2 directory (is cgroup2 mounted, and does the runtime place containers in it?)"
    )]
    NoCgroup { container: ContainerId },
    #[error("{0}")]
    Memfd(#[from] memfd::MemfdError),
    #[error("fileless-exec reporting: {0}")]
    Fileless(#[from] FilelessError),
    #[error("container {0} is already registered")]
    Duplicate(ContainerId),
    #[error("fanotify group holder: {0}")]
    Holder(#[from] HolderError),
    #[error("starting a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where one enforcement service keeps its kernel objects and state.
#[derive(Clone, Debug)]
pub struct Config {
    /// Names this service's bpffs directory and state; unique per service
    /// on a host (tests run several at once).
    pub instance: String,
    pub bpffs: PathBuf,
    pub state_dir: PathBuf,
    /// The holder's socket (`bulwark enforce hold`): keeps the fanotify
    /// groups alive, and applies each policy's `on_agent_gone`, while this
    /// service is down. Without one, a dead service means fail-open for
    /// exec and file enforcement (network enforcement stays pinned).
    pub holder: Option<PathBuf>,
    /// How often [`Enforcer::tick`] runs the canary (`None`: only when
    /// [`Enforcer::canary`] is called).
    pub canary_every: Option<Duration>,
}

/// What registration did, returned to the hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub container: Option<ContainerId>,
    /// False when no policy applies (the container runs unprotected).
    pub protected: bool,
    pub workload: Option<WorkloadId>,
    pub profile_version: u64,
    pub modes: BTreeMap<String, Mode>,
    /// `fanotify` or `off`, and which mounts carry marks.
    pub exec_backend: String,
    pub network_backend: String,
    pub memfd_exec: String,
    pub marked_mounts: Vec<String>,
    pub skipped_mounts: Vec<String>,
    pub allowed_programs: usize,
    pub protected_inodes: usize,
    pub notes: Vec<String>,
    /// Exec/file decisions so far and how long they took (live in status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_latency: Option<crate::latency::LatencySummary>,
}

/// The canary's sandbox.
struct CanaryState {
    fs: CanaryFs,
    _guard: Guard,
    net: Option<Attachment>,
    cgroup: PathBuf,
    policy_id: u32,
}

fn canary_policy(id: &ContainerId) -> Result<EnforcePolicy, EnforceError> {
    let workload = WorkloadId::new(format!("bulwark:{id}")).map_err(|e| EnforceError::Io {
        what: "naming",
        path: PathBuf::from(id.as_str()),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(EnforcePolicy {
        workload,
        profile_version: 0,
        mode: Mode::Protect,
        modes: Default::default(),
        failure: Default::default(),
        exec: Default::default(),
        files: Default::default(),
        network: Default::default(),
        hardening: Default::default(),
    })
}

/// What survives a restart of the service: enough to find the container
/// again and reuse its policy id (the pinned rules and links carry it).
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    registration: Registration,
    policy_id: u32,
    start_time: u64,
}

struct Protected {
    reg: Registration,
    policy: EnforcePolicy,
    policy_id: u32,
    start_time: u64,
    guard: Option<Guard>,
    net: Option<Attachment>,
    /// The cgroup v2 id watched for memfd exec.
    memfd_cgroup: Option<u64>,
    entries: BTreeSet<RuleEntry>,
    peers: PeerCache,
    next_resolve: Instant,
    protection: Protection,
}

/// Registered containers and who owns which policy id.
#[derive(Default)]
struct Registry {
    containers: Mutex<HashMap<ContainerId, Protected>>,
    owners: RwLock<HashMap<u32, Owner>>,
    /// Policy id -> owner, with the process class's mode (fileless exec).
    memfd_owners: RwLock<HashMap<u32, Owner>>,
    /// Workload -> init pids, for identity peers.
    pids: RwLock<HashMap<WorkloadId, Vec<u32>>>,
}

impl Owners for Registry {
    fn owner(&self, policy: u32) -> Option<Owner> {
        self.owners.read().ok()?.get(&policy).cloned()
    }
}

/// The owners of fileless-exec records.
struct MemfdOwners(Arc<Registry>);

impl Owners for MemfdOwners {
    fn owner(&self, policy: u32) -> Option<Owner> {
        self.0.memfd_owners.read().ok()?.get(&policy).cloned()
    }
}

impl IdentityLookup for Registry {
    fn addresses(&self, id: &WorkloadId) -> Vec<IpAddr> {
        let pids = self
            .pids
            .read()
            .map(|m| m.get(id).cloned().unwrap_or_default())
            .unwrap_or_default();
        let mut out = Vec::new();
        for pid in pids {
            if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie")) {
                out.extend(local_ipv4(&t));
            }
            if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/if_inet6")) {
                out.extend(global_ipv6(&t));
            }
        }
        out
    }
}

/// The enforcement service.
pub struct Enforcer {
    config: Config,
    source: Arc<dyn PolicySource>,
    sink: Arc<dyn DenialSink>,
    dns: Arc<dyn NameLookup>,
    registry: Arc<Registry>,
    net: Mutex<NetKernel>,
    next_id: AtomicU32,
    backends: Backends,
    holder: Mutex<Option<HolderClient>>,
    canary: Mutex<Option<CanaryState>>,
    canary_sink: Arc<CanarySink>,
    canary_lock: Mutex<()>,
    last_canary: Mutex<Instant>,
    /// Groups the holder handed back, waiting for `recover`.
    adopted: Mutex<HashMap<ContainerId, Group>>,
    fileless: Mutex<FilelessKernel>,
    _events: RingReader,
    _memfd_events: RingReader,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("instance", &self.config.instance)
            .finish_non_exhaustive()
    }
}

impl Enforcer {
    /// Open the kernel objects (pinned maps, mounting bpffs if needed), start
    /// reporting network refusals.
    pub fn start(
        config: Config,
        source: Arc<dyn PolicySource>,
        sink: Arc<dyn DenialSink>,
        dns: Arc<dyn NameLookup>,
    ) -> Result<Enforcer, EnforceError> {
        std::fs::create_dir_all(&config.state_dir).map_err(|source| EnforceError::Io {
            what: "creating",
            path: config.state_dir.clone(),
            source,
        })?;
        let canary_sink = Arc::new(CanarySink::default());
        let sink: Arc<dyn DenialSink> = Arc::new(Routing {
            canary: canary_sink.clone(),
            next: sink,
        });
        let net = NetKernel::open(&config.bpffs, &config.instance)?;
        let used = net.policy_ids().into_iter().max().unwrap_or(0);
        let registry = Arc::new(Registry::default());
        let events = RingReader::start(
            "net-events",
            net.events()?,
            crate::net::events::handler(registry.clone(), sink.clone()),
        )
        .map_err(EnforceError::Thread)?;
        let (fileless, outputs) = FilelessKernel::load()?;
        let memfd_events = RingReader::start(
            "memfd-events",
            outputs.ring,
            fileless::handler(
                outputs.lost,
                Arc::new(MemfdOwners(registry.clone())),
                sink.clone(),
            ),
        )
        .map_err(EnforceError::Thread)?;
        let (holder, adopted) = match &config.holder {
            Some(path) => {
                let client = HolderClient::connect(path)?;
                let groups = client
                    .take()?
                    .into_iter()
                    .map(|(id, _, fd)| (id, Group::from_owned(fd)))
                    .collect();
                (Some(client), groups)
            }
            None => (None, HashMap::new()),
        };
        Ok(Enforcer {
            holder: Mutex::new(holder),
            canary: Mutex::new(None),
            canary_sink,
            canary_lock: Mutex::new(()),
            last_canary: Mutex::new(Instant::now()),
            adopted: Mutex::new(adopted),
            backends: Backends::detect(),
            config,
            source,
            sink,
            dns,
            registry,
            net: Mutex::new(net),
            next_id: AtomicU32::new(used + 1),
            fileless: Mutex::new(fileless),
            _events: events,
            _memfd_events: memfd_events,
        })
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Arm the container's policy. When this returns `Ok`, its exec, file
    /// and network enforcement are in the kernel.
    pub fn register(&self, reg: Registration) -> Result<Protection, EnforceError> {
        if self.lock().contains_key(&reg.id) {
            return Err(EnforceError::Duplicate(reg.id));
        }
        let subject = Subject::from_annotations(&reg.id, &reg.annotations);
        let Some(policy) = self.source.policy_for(&subject)? else {
            return Ok(Protection {
                container: Some(reg.id),
                workload: subject.workload,
                exec_backend: "off".into(),
                network_backend: "off".into(),
                memfd_exec: "allowed".into(),
                notes: vec!["no policy applies: not protected".into()],
                ..Protection::default()
            });
        };
        let policy_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let protected = self.arm_all(reg, policy, policy_id, None)?;
        self.save(&protected)?;
        let answer = protected.protection.clone();
        self.lock().insert(protected.reg.id.clone(), protected);
        Ok(answer)
    }

    fn state_file(&self, id: &ContainerId) -> PathBuf {
        self.config.state_dir.join(format!("{id}.json"))
    }

    fn save(&self, p: &Protected) -> Result<(), EnforceError> {
        let saved = Saved {
            registration: p.reg.clone(),
            policy_id: p.policy_id,
            start_time: p.start_time,
        };
        let path = self.state_file(&p.reg.id);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(&saved).map_err(|e| EnforceError::Io {
            what: "encoding",
            path: path.clone(),
            source: e.into(),
        })?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| EnforceError::Io {
                what: "writing",
                path,
                source,
            })
    }

    /// After a restart: re-arm the containers registered before, which the
    /// pinned network programs kept protected meanwhile; clean up after the
    /// ones that exited.
    pub fn recover(&self) -> Vec<(ContainerId, Result<Protection, EnforceError>)> {
        let Ok(dir) = std::fs::read_dir(&self.config.state_dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(saved) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
            else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let id = saved.registration.id.clone();
            out.push((id, self.recover_one(saved, &path)));
        }
        out
    }

    fn recover_one(
        &self,
        saved: Saved,
        path: &std::path::Path,
    ) -> Result<Protection, EnforceError> {
        let id = saved.registration.id.clone();
        let subject = Subject::from_annotations(&id, &saved.registration.annotations);
        let policy = if alive(saved.registration.pid, saved.start_time) {
            self.source.policy_for(&subject)?
        } else {
            None
        };
        let Some(policy) = policy else {
            let mut net = self.net_lock();
            let old = net.entries_of(saved.policy_id);
            net.remove(saved.policy_id, &old)?;
            net.forget_links(&id);
            let _ = std::fs::remove_file(path);
            return Ok(Protection {
                container: Some(id),
                notes: vec!["gone (or no policy any more): cleaned up".into()],
                ..Protection::default()
            });
        };
        let old = self.net_lock().entries_of(saved.policy_id);
        let protected = self.arm_all(saved.registration, policy, saved.policy_id, Some(old))?;
        let answer = protected.protection.clone();
        self.lock().insert(id, protected);
        Ok(answer)
    }

    fn arm_all(
        &self,
        reg: Registration,
        policy: EnforcePolicy,
        policy_id: u32,
        recovered: Option<BTreeSet<RuleEntry>>,
    ) -> Result<Protected, EnforceError> {
        let view = View::of(&reg)?;
        let mut protection = Protection {
            container: Some(reg.id.clone()),
            protected: true,
            workload: Some(policy.workload.clone()),
            profile_version: policy.profile_version,
            modes: Class::ALL
                .iter()
                .map(|c| (c.as_str().to_owned(), policy.mode_of(*c)))
                .collect(),
            exec_backend: "off".into(),
            network_backend: "off".into(),
            memfd_exec: "allowed".into(),
            ..Protection::default()
        };
        let mut protected = Protected {
            policy_id,
            start_time: view.start_time,
            guard: None,
            net: None,
            memfd_cgroup: None,
            entries: BTreeSet::new(),
            peers: PeerCache::default(),
            next_resolve: Instant::now()
                + Duration::from_secs(policy.network.resolve_interval_secs),
            protection: Protection::default(),
            policy,
            reg,
        };
        match self.arm_parts(&mut protected, view, &mut protection, recovered) {
            Ok(()) => {
                protected.protection = protection;
                Ok(protected)
            }
            Err(e) => {
                // Whatever was armed (guard thread, rules, pinned links) goes.
                if let Err(t) = self.teardown(protected) {
                    tracing::warn!("tearing down a failed registration: {t}");
                }
                Err(e)
            }
        }
    }

    fn arm_parts(
        &self,
        protected: &mut Protected,
        view: View,
        protection: &mut Protection,
        recovered: Option<BTreeSet<RuleEntry>>,
    ) -> Result<(), EnforceError> {
        let cgroup = view.cgroup.clone();
        if protected.policy.watches(Class::Process) || protected.policy.watches(Class::File) {
            self.arm_fanotify(protected, view, protection)?;
        }
        if protected.policy.hardening.memfd_exec == Verdict::Deny {
            self.arm_memfd(protected, cgroup.as_deref(), protection)?;
        }
        if protected.policy.watches(Class::Network) {
            let cgroup = cgroup.ok_or_else(|| EnforceError::NoCgroup {
                container: protected.reg.id.clone(),
            })?;
            self.arm_net(protected, &cgroup, protection, recovered)?;
        }
        Ok(())
    }

    /// `vm.memfd_noexec = 2` in the container's pid namespace, and its
    /// cgroup watched so that every attempt is reported. Where the sysctl
    /// cannot be set, the watch kills a memfd exec before it runs instead.
    fn arm_memfd(
        &self,
        p: &mut Protected,
        cgroup: Option<&std::path::Path>,
        protection: &mut Protection,
    ) -> Result<(), EnforceError> {
        let sysctl = memfd::deny_memfd_exec(p.reg.pid);
        let cgroup_id = match cgroup {
            Some(dir) => Some(fileless::cgroup_id(dir).map_err(|source| EnforceError::Io {
                what: "reading the cgroup id of",
                path: dir.to_owned(),
                source,
            })?),
            None => None,
        };
        let Some(id) = cgroup_id else {
            sysctl?;
            protection.memfd_exec =
                "denied (vm.memfd_noexec=2 in the container's pid namespace)".into();
            protection.notes.push(
                "memfd exec attempts are refused but not reported: no cgroup v2 directory".into(),
            );
            return Ok(());
        };
        let flags = match sysctl {
            Ok(()) => {
                protection.memfd_exec = "denied (vm.memfd_noexec=2 in the container's pid \
                                         namespace; attempts reported)"
                    .into();
                0
            }
            Err(e) => {
                protection.memfd_exec =
                    format!("denied (SIGKILL before a memfd's first instruction: {e})");
                W_KILL
            }
        };
        let watch = Watch {
            policy: p.policy_id,
            flags,
        };
        if let Ok(mut owners) = self.registry.memfd_owners.write() {
            owners.insert(p.policy_id, owner_of(p, Class::Process));
        }
        self.fileless
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .watch(id, watch)?;
        p.memfd_cgroup = Some(id);
        Ok(())
    }

    fn arm_fanotify(
        &self,
        p: &mut Protected,
        view: View,
        protection: &mut Protection,
    ) -> Result<(), EnforceError> {
        let target = Target {
            container: p.reg.id.clone(),
            workload: p.policy.workload.clone(),
            root: view.root,
            mounts: view.mounts,
            pre_pivot_root: view.pre_pivot_root,
        };
        let adopted = self
            .adopted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p.reg.id);
        let (guard, report): (Guard, ArmReport) =
            arm(target, &p.policy, self.sink.clone(), adopted)?;
        if let Some(client) = self
            .holder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            client.hold(&p.reg.id, guard.group(), p.policy.failure.on_agent_gone)?;
            protection.notes.push(format!(
                "group held by {} (on agent gone: {:?})",
                client.path().display(),
                p.policy.failure.on_agent_gone
            ));
        }
        protection.exec_backend = "fanotify".into();
        protection.marked_mounts = report.marked_mounts;
        protection.skipped_mounts = report.skipped_mounts;
        protection.allowed_programs = report.allowed_programs;
        protection.protected_inodes = report.protected_inodes;
        protection.notes.extend(report.notes);
        p.guard = Some(guard);
        Ok(())
    }

    fn arm_net(
        &self,
        p: &mut Protected,
        cgroup: &std::path::Path,
        protection: &mut Protection,
        recovered: Option<BTreeSet<RuleEntry>>,
    ) -> Result<(), EnforceError> {
        let failures = p.peers.refresh(
            p.policy.network.egress.iter().map(|r| &r.peer),
            self.dns.as_ref(),
            self.registry.as_ref(),
        );
        for (peer, e) in failures {
            protection
                .notes
                .push(format!("peer {peer:?} did not resolve: {e}"));
        }
        let entries = crate::net::compile(p.policy_id, &p.policy.network, &p.peers);
        if entries.len() > crate::net::compile::MAX_ENTRIES {
            return Err(NetError::Full {
                count: entries.len(),
                limit: crate::net::compile::MAX_ENTRIES,
            }
            .into());
        }
        let flags = crate::net::flags(&p.policy);
        let old = recovered.clone().unwrap_or_default();
        self.net_lock()
            .install(p.policy_id, flags, &old, &entries)?;
        p.entries = entries;
        self.owners_insert(p);
        // Rules first, then attach: the programs never see a policy without
        // its rules. After a restart the pinned links are still attached.
        let pinned = recovered.and_then(|_| self.net_lock().recover(&p.reg.id).ok());
        p.net = Some(match pinned {
            Some(a) => a,
            None => self.net_lock().attach(p.policy_id, cgroup, &p.reg.id)?,
        });
        protection.network_backend = format!("cgroup-bpf ({})", cgroup.display());
        Ok(())
    }

    fn owners_insert(&self, p: &Protected) {
        if let Ok(mut owners) = self.registry.owners.write() {
            owners.insert(p.policy_id, owner_of(p, Class::Network));
        }
        if let Ok(mut pids) = self.registry.pids.write() {
            pids.entry(p.policy.workload.clone())
                .or_default()
                .push(p.reg.pid);
        }
    }

    /// Tear the container's enforcement down (it exited, or poststop).
    pub fn unregister(&self, id: &ContainerId) -> Result<bool, EnforceError> {
        let Some(p) = self.lock().remove(id) else {
            return Ok(false);
        };
        self.teardown(p)?;
        Ok(true)
    }

    /// The OCI hook refused a container's start: one alert, one audit record.
    pub fn start_refused(&self, refusal: &crate::denial::StartRefusal) {
        self.sink.start_refused(refusal);
    }

    fn teardown(&self, mut p: Protected) -> Result<(), EnforceError> {
        if p.guard.is_some()
            && let Some(client) = self
                .holder
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            && let Err(e) = client.release(&p.reg.id)
        {
            tracing::warn!(container = %p.reg.id, "releasing the held group: {e}");
        }
        drop(p.guard.take());
        if let Some(id) = p.memfd_cgroup.take() {
            self.fileless
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unwatch(id);
        }
        if let Ok(mut owners) = self.registry.memfd_owners.write() {
            owners.remove(&p.policy_id);
        }
        let _ = std::fs::remove_file(self.state_file(&p.reg.id));
        if let Some(link) = p.net.take() {
            link.detach()?;
        }
        self.net_lock().remove(p.policy_id, &p.entries)?;
        if let Ok(mut owners) = self.registry.owners.write() {
            owners.remove(&p.policy_id);
        }
        if let Ok(mut pids) = self.registry.pids.write()
            && let Some(v) = pids.get_mut(&p.policy.workload)
        {
            v.retain(|pid| *pid != p.reg.pid);
        }
        Ok(())
    }

    /// Housekeeping, called periodically: drop containers whose init is
    /// gone, re-resolve named peers whose interval elapsed, run the canary
    /// when due.
    pub fn tick(&self) {
        if let Some(every) = self.config.canary_every {
            let due = {
                let mut last = self.last_canary.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.elapsed() >= every;
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due {
                self.canary();
            }
        }
        let gone: Vec<ContainerId> = self
            .lock()
            .values()
            .filter(|p| !alive(p.reg.pid, p.start_time))
            .map(|p| p.reg.id.clone())
            .collect();
        for id in gone {
            if let Err(e) = self.unregister(&id) {
                tracing::warn!(container = %id, "cleaning up after exit: {e}");
            }
        }
        self.refresh_peers();
    }

    fn refresh_peers(&self) {
        let now = Instant::now();
        let mut containers = self.lock();
        for p in containers.values_mut() {
            if p.net.is_none() || !p.policy.network.has_named_peers() || now < p.next_resolve {
                continue;
            }
            p.next_resolve = now + Duration::from_secs(p.policy.network.resolve_interval_secs);
            let failures = p.peers.refresh(
                p.policy.network.egress.iter().map(|r| &r.peer),
                self.dns.as_ref(),
                self.registry.as_ref(),
            );
            for (peer, e) in failures {
                tracing::warn!(container = %p.reg.id, "peer {peer:?} did not resolve (keeping the last addresses): {e}");
            }
            let entries = crate::net::compile(p.policy_id, &p.policy.network, &p.peers);
            let flags = crate::net::flags(&p.policy);
            match self
                .net_lock()
                .install(p.policy_id, flags, &p.entries, &entries)
            {
                Ok(()) => p.entries = entries,
                Err(e) => tracing::error!(container = %p.reg.id, "updating resolved peers: {e}"),
            }
        }
    }

    /// Ids of the registered containers.
    pub fn containers(&self) -> Vec<ContainerId> {
        self.lock().keys().cloned().collect()
    }

    /// What registration reported for a container.
    /// What the container's registration armed, with its decision
    /// latencies so far.
    pub fn protection(&self, id: &ContainerId) -> Option<Protection> {
        self.lock().get(id).map(|p| Protection {
            decision_latency: p.guard.as_ref().map(|g| g.stats().latency.summary()),
            ..p.protection.clone()
        })
    }

    /// Kernel counters of a container's network policy.
    pub fn net_counters(&self, id: &ContainerId) -> Option<crate::net::Counters> {
        let policy = self.lock().get(id).map(|p| p.policy_id)?;
        Some(self.net_lock().counters(policy))
    }

    /// Exec/file decision counters of a container.
    pub fn guard_stats(&self, id: &ContainerId) -> Option<[u64; 5]> {
        let c = self.lock();
        let s = c.get(id)?.guard.as_ref()?.stats();
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Some([
            l(&s.events),
            l(&s.allowed),
            l(&s.refused),
            l(&s.fallbacks),
            l(&s.cached),
        ])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerId, Protected>> {
        self.registry
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn net_lock(&self) -> std::sync::MutexGuard<'_, NetKernel> {
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prove enforcement is live: a sandbox armed like a container tries a
    /// refused connect and a refused exec. Every problem is also a health
    /// alert.
    pub fn canary(&self) -> CanaryReport {
        let report = match self.canary_probe() {
            Ok(probe) => canary::run(&probe, &self.canary_sink, &self.canary_lock),
            Err(e) => CanaryReport {
                problems: vec![format!("canary sandbox could not be armed: {e}")],
                ..CanaryReport::default()
            },
        };
        for problem in &report.problems {
            let alert = crate::denial::health_alert(
                None,
                None,
                Mode::Protect,
                bulwark_core::Decision::Alert,
                format!("enforcement self-test failed: {problem}"),
                0,
            );
            self.sink.health(&alert);
        }
        report
    }

    fn canary_probe(&self) -> Result<Probe, EnforceError> {
        let mut slot = self.canary.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(self.arm_canary()?);
        }
        let state = slot.as_ref().ok_or_else(|| EnforceError::Io {
            what: "arming",
            path: self.config.state_dir.join("canary"),
            source: std::io::Error::other("canary missing"),
        })?;
        Ok(Probe {
            program: state.fs.dir.join("canary"),
            cgroup_procs: state.cgroup.join("cgroup.procs"),
        })
    }

    fn arm_canary(&self) -> Result<CanaryState, EnforceError> {
        let id = canary::canary_id().map_err(|e| EnforceError::Io {
            what: "naming",
            path: PathBuf::from(canary::CANARY_ID),
            source: std::io::Error::other(e.to_string()),
        })?;
        let dir = self.config.state_dir.join("canary");
        let fs = CanaryFs::mount(&dir).map_err(|source| EnforceError::Io {
            what: "mounting the canary tmpfs on",
            path: dir.clone(),
            source,
        })?;
        let policy = canary_policy(&id)?;
        let mount_fd = nix::fcntl::open(
            &fs.dir,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| EnforceError::Io {
            what: "opening",
            path: fs.dir.clone(),
            source: e.into(),
        })?;
        let target = Target {
            container: id.clone(),
            workload: policy.workload.clone(),
            root: crate::rootfs::Root::open(&fs.dir)
                .map_err(|e| EnforceError::Container(ContainerError::Root(e)))?,
            mounts: vec![crate::arm::MountTarget {
                mount_point: fs.dir.display().to_string(),
                fs_type: "tmpfs".into(),
                fd: mount_fd,
            }],
            pre_pivot_root: Some(fs.dir.display().to_string()),
        };
        let (guard, _) = arm(target, &policy, self.canary_sink.clone(), None)?;
        let cgroup = crate::container::cgroup2_root()?
            .join(format!("bulwark-canary-{}", self.config.instance));
        std::fs::create_dir_all(&cgroup).map_err(|source| EnforceError::Io {
            what: "creating the canary cgroup",
            path: cgroup.clone(),
            source,
        })?;
        let policy_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entries = crate::net::compile(policy_id, &policy.network, &PeerCache::default());
        self.net_lock().install(
            policy_id,
            crate::net::flags(&policy),
            &BTreeSet::new(),
            &entries,
        )?;
        if let Ok(mut owners) = self.registry.owners.write() {
            owners.insert(
                policy_id,
                Owner {
                    container: id.clone(),
                    workload: policy.workload.clone(),
                    mode: Mode::Protect,
                    profile_version: 0,
                },
            );
        }
        let net = self.net_lock().attach(policy_id, &cgroup, &id)?;
        Ok(CanaryState {
            fs,
            _guard: guard,
            net: Some(net),
            cgroup,
            policy_id,
        })
    }

    fn disarm_canary(&self) {
        let Some(mut state) = self.canary.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        if let Some(net) = state.net.take() {
            let _ = net.detach();
        }
        let _ = self.net_lock().remove(state.policy_id, &BTreeSet::new());
        let _ = std::fs::remove_dir(&state.cgroup);
    }

    /// Unregister everything and remove the instance's pinned maps: the
    /// service is being removed, not restarted.
    pub fn uninstall(&self) {
        self.disarm_canary();
        self.shutdown();
        self.net_lock().unpin_all();
        let _ = std::fs::remove_dir_all(&self.config.state_dir);
    }

    /// Unregister everything (the service is stopping on purpose).
    pub fn shutdown(&self) {
        for id in self.containers() {
            if let Err(e) = self.unregister(&id) {
                tracing::warn!(container = %id, "tearing down: {e}");
            }
        }
    }
}

fn owner_of(p: &Protected, class: Class) -> Owner {
    Owner {
        container: p.reg.id.clone(),
        workload: p.policy.workload.clone(),
        mode: p.policy.mode_of(class),
        profile_version: p.policy.profile_version,
    }
}

fn alive(pid: u32, start_time: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| bulwark_containers::stat_start_time(&s))
        .is_some_and(|t| t == start_time)
}
