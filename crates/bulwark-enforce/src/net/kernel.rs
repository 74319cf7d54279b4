//! The kernel side of network enforcement: the pinned maps of one agent
//! instance, and per-container program instances attached to cgroups with
//! pinned links.
//!
//! Layout under bpffs (`/sys/fs/bpf`, mounted if missing):
//!
//! ```text
//! bulwark/INSTANCE/maps/bulwark_rules        LPM trie: (policy, op, proto, port, addr) -> rule
//! bulwark/INSTANCE/maps/bulwark_policies     policy id -> flags (egress, listen, monitor)
//! bulwark/INSTANCE/maps/bulwark_counters     policy id -> allowed/denied/alerted/lost
//! bulwark/INSTANCE/maps/bulwark_net_events   ring buffer of refusals
//! bulwark/INSTANCE/links/CONTAINER/PROGRAM   one pinned cgroup link per program
//! ```
//!
//! Pins outlive the agent: while it restarts, the programs stay attached and
//! keep refusing with the last rules.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{HashMap, Map, MapData, RingBuf};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use aya::{Ebpf, EbpfLoader};
use bulwark_core::ContainerId;

use super::compile::RuleEntry;
use super::wire::{Counters, PolicyCfg, RuleData};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/enforce.bpf.o"));

/// The programs of `bpf/enforce.bpf.c`, each attached to a container cgroup.
pub const PROGRAMS: [&str; 6] = [
    "bulwark_connect4",
    "bulwark_connect6",
    "bulwark_sendmsg4",
    "bulwark_sendmsg6",
    "bulwark_bind4",
    "bulwark_bind6",
];

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("bpffs at {path}: {problem}")]
    Bpffs { path: PathBuf, problem: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the network programs: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("pinning {path}: {source}")]
    Pin {
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
    #[error("reopening pinned link {path}: {source}")]
    Link {
        path: PathBuf,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error("the object has no {0}")]
    Missing(&'static str),
    #[error("{count} rule entries would overflow the kernel map ({limit})")]
    Full { count: usize, limit: usize },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> NetError + 'p {
    move |source| NetError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Mount bpffs at `path` unless one is there already.
pub fn ensure_bpffs(path: &Path) -> Result<(), NetError> {
    std::fs::create_dir_all(path).map_err(io("creating", path))?;
    let st = nix::sys::statfs::statfs(path).map_err(|e| NetError::Bpffs {
        path: path.to_owned(),
        problem: e.to_string(),
    })?;
    if st.filesystem_type().0 as i64 == BPF_FS_MAGIC {
        return Ok(());
    }
    nix::mount::mount(
        Some("bpf"),
        path,
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| NetError::Bpffs {
        path: path.to_owned(),
        problem: format!("not mounted and mounting failed: {e}"),
    })
}

/// The shared maps of one agent instance.
pub struct NetKernel {
    dir: PathBuf,
    rules: LpmTrie<MapData, RuleData, u32>,
    policies: HashMap<MapData, u32, PolicyCfg>,
    counters: HashMap<MapData, u32, Counters>,
}

impl std::fmt::Debug for NetKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetKernel")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl NetKernel {
    /// Open (creating and pinning on first use) the maps of `instance`
    /// under `bpffs`.
    pub fn open(bpffs: &Path, instance: &str) -> Result<Self, NetError> {
        ensure_bpffs(bpffs)?;
        let dir = bpffs.join("bulwark").join(instance);
        for sub in ["maps", "links"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(io("creating", &d))?;
        }
        let mut obj = load(&dir, 0)?;
        let rules = take(&mut obj, "bulwark_rules")?;
        let policies = take(&mut obj, "bulwark_policies")?;
        let counters = take(&mut obj, "bulwark_counters")?;
        Ok(NetKernel {
            rules: LpmTrie::try_from(rules).map_err(map_err("bulwark_rules"))?,
            policies: HashMap::try_from(policies).map_err(map_err("bulwark_policies"))?,
            counters: HashMap::try_from(counters).map_err(map_err("bulwark_counters"))?,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The refusal ring buffer (a new consumer of the pinned map).
    pub fn events(&self) -> Result<RingBuf<MapData>, NetError> {
        let path = self.dir.join("maps/bulwark_net_events");
        let data = MapData::from_pin(&path).map_err(map_err("bulwark_net_events"))?;
        let map = Map::from_map_data(data).map_err(map_err("bulwark_net_events"))?;
        RingBuf::try_from(map).map_err(map_err("bulwark_net_events"))
    }

    /// Load one instance of every program for `policy` and attach them to
    /// the cgroup v2 directory `cgroup`, links pinned per container.
    pub fn attach(
        &self,
        policy: u32,
        cgroup: &Path,
        container: &ContainerId,
    ) -> Result<Attachment, NetError> {
        let cg = std::fs::File::open(cgroup).map_err(io("opening cgroup", cgroup))?;
        let links_dir = self.dir.join("links").join(container.as_str());
        std::fs::create_dir_all(&links_dir).map_err(io("creating", &links_dir))?;
        let mut obj = load(&self.dir, policy)?;
        let mut links = Vec::new();
        for name in PROGRAMS {
            let prog: &mut CgroupSockAddr = obj
                .program_mut(name)
                .ok_or(NetError::Missing(name))?
                .try_into()
                .map_err(|source| NetError::Program { name, source })?;
            prog.load()
                .map_err(|source| NetError::Program { name, source })?;
            // A BPF link is always attached in multi mode (other programs on
            // the cgroup keep running, all must allow); its flags must be 0.
            let id = prog
                .attach(cg.as_fd(), CgroupAttachMode::Single)
                .map_err(|source| NetError::Program { name, source })?;
            let link: FdLink = prog
                .take_link(id)
                .map_err(|source| NetError::Program { name, source })?
                .try_into()
                .map_err(|e: aya::programs::links::LinkError| NetError::Link {
                    path: links_dir.clone(),
                    source: e,
                })?;
            let path = links_dir.join(name);
            let _ = std::fs::remove_file(&path);
            links.push(
                link.pin(&path)
                    .map_err(|source| NetError::Pin { path, source })?,
            );
        }
        Ok(Attachment {
            dir: links_dir,
            links,
        })
    }

    /// Reopen the pinned links of `container` (after an agent restart).
    pub fn recover(&self, container: &ContainerId) -> Result<Attachment, NetError> {
        let dir = self.dir.join("links").join(container.as_str());
        let mut links = Vec::new();
        for name in PROGRAMS {
            let path = dir.join(name);
            links.push(
                PinnedLink::from_pin(&path).map_err(|source| NetError::Link { path, source })?,
            );
        }
        Ok(Attachment { dir, links })
    }

    /// Set a policy's flags and make its rule entries `new` (given what was
    /// installed before, `old`).
    pub fn install(
        &mut self,
        policy: u32,
        flags: u32,
        old: &std::collections::BTreeSet<RuleEntry>,
        new: &std::collections::BTreeSet<RuleEntry>,
    ) -> Result<(), NetError> {
        let (add, remove) = super::compile::diff(old, new);
        for e in &add {
            self.rules
                .insert(&Key::new(e.prefix_len, e.data), 1, 0)
                .map_err(map_err("bulwark_rules"))?;
        }
        for e in &remove {
            match self.rules.remove(&Key::new(e.prefix_len, e.data)) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err("bulwark_rules")(e)),
            }
        }
        if self.counters.get(&policy, 0).is_err() {
            self.counters
                .insert(policy, Counters::default(), 0)
                .map_err(map_err("bulwark_counters"))?;
        }
        self.policies
            .insert(policy, PolicyCfg { flags }, 0)
            .map_err(map_err("bulwark_policies"))
    }

    /// Forget a policy: its rules, flags and counters.
    pub fn remove(
        &mut self,
        policy: u32,
        entries: &std::collections::BTreeSet<RuleEntry>,
    ) -> Result<(), NetError> {
        self.install(policy, 0, entries, &std::collections::BTreeSet::new())?;
        let _ = self.policies.remove(&policy);
        let _ = self.counters.remove(&policy);
        Ok(())
    }

    /// The rule entries of `policy` now in the kernel (after a restart,
    /// to replace them with the current policy's).
    pub fn entries_of(&self, policy: u32) -> std::collections::BTreeSet<RuleEntry> {
        self.rules
            .keys()
            .filter_map(Result::ok)
            .map(|k| RuleEntry {
                prefix_len: k.prefix_len(),
                data: k.data(),
            })
            .filter(|e| e.data.policy == policy)
            .collect()
    }

    /// Remove the pinned links of a container whose state is gone.
    pub fn forget_links(&self, container: &ContainerId) {
        let dir = self.dir.join("links").join(container.as_str());
        for name in PROGRAMS {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let _ = std::fs::remove_dir(&dir);
    }

    /// Remove every pin of this instance (maps and links): the service is
    /// being uninstalled, not restarted. Programs of still-registered
    /// containers detach when their last reference goes.
    pub fn unpin_all(&self) {
        if let Ok(links) = std::fs::read_dir(self.dir.join("links")) {
            for c in links.filter_map(Result::ok) {
                let _ = std::fs::remove_dir_all(c.path());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    pub fn counters(&self, policy: u32) -> Counters {
        self.counters.get(&policy, 0).unwrap_or_default()
    }

    /// Policy ids present in the kernel (to pick unused ids after a restart).
    pub fn policy_ids(&self) -> Vec<u32> {
        self.policies.keys().filter_map(Result::ok).collect()
    }
}

fn load(dir: &Path, policy: u32) -> Result<Ebpf, NetError> {
    Ok(EbpfLoader::new()
        .default_map_pin_directory(dir.join("maps"))
        .override_global("bulwark_policy", &policy, true)
        .load(OBJECT)?)
}

fn take(obj: &mut Ebpf, name: &'static str) -> Result<Map, NetError> {
    obj.take_map(name).ok_or(NetError::Missing(name))
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> NetError {
    move |source| NetError::Map { name, source }
}

/// The pinned links of one container. [`Attachment::detach`] removes the
/// pins, which detaches the programs; merely dropping it leaves them in
/// place (that is the point of pinning).
#[derive(Debug)]
pub struct Attachment {
    dir: PathBuf,
    links: Vec<PinnedLink>,
}

impl Attachment {
    pub fn detach(self) -> Result<(), NetError> {
        for link in self.links {
            link.unpin().map_err(io("unpinning a link in", &self.dir))?;
        }
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}
