//! What the node runs, read when a report is built: every container the
//! runtimes' state directories list (`bulwark-containers`), with its
//! workload identity (`bulwark_profile::workload_of`, as the profile
//! engine names it), image, running state, and the CIS facts of its
//! bundle's OCI `config.json` (`ContainerFacts`, sent until the server
//! has them); and the agent's learned profiles whose version the server
//! has not acknowledged yet.
//!
//! The container list is complete (the server then marks the node's other
//! containers as stopped) unless it had to be cut at [`MAX_ITEMS`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bulwark_containers::{ContainerInfo, FsHost, Host};
use bulwark_control::compliance::ContainerFacts;
use bulwark_control::wire::{ContainerReport, MAX_ITEMS, ProfileDoc};
use bulwark_nanoseg::ProfileStore;

/// Most profile YAML bytes in one report; the rest waits for the next.
const MAX_PROFILE_BYTES: usize = 4 << 20;

/// The node's containers and profiles, and what the server already has.
#[derive(Debug)]
pub struct Inventory {
    /// `None`: containers are not reported.
    host: Option<FsHost>,
    profiles: Option<ProfileStore>,
    /// Workload -> the profile version the server acknowledged.
    profiles_acked: HashMap<String, u64>,
    /// Containers whose facts the server acknowledged.
    facts_acked: HashSet<String>,
}

/// The inventory's part of one report.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub containers: Vec<ContainerReport>,
    pub complete: bool,
    pub profiles: Vec<ProfileDoc>,
    /// The version of each profile in `profiles`.
    profile_versions: Vec<(String, u64)>,
}

impl Inventory {
    /// Containers from `host`'s runtime state; profiles from the store in
    /// `profiles` (none without `--profiles`).
    pub fn new(host: Option<FsHost>, profiles: Option<ProfileStore>) -> Inventory {
        Inventory {
            host,
            profiles,
            profiles_acked: HashMap::new(),
            facts_acked: HashSet::new(),
        }
    }

    /// The node now; `seen` are containers the agent saw in events since
    /// the last snapshot (reported as stopped unless the runtime lists
    /// them).
    pub fn snapshot(&self, seen: Vec<ContainerReport>) -> Snapshot {
        let (mut containers, complete) = match &self.host {
            Some(host) => self.containers(host),
            None => (Vec::new(), false),
        };
        let listed: HashSet<String> = containers.iter().map(|c| c.id.clone()).collect();
        let room = MAX_ITEMS.saturating_sub(containers.len());
        containers.extend(
            seen.into_iter()
                .filter(|c| !listed.contains(&c.id))
                .take(room),
        );
        let (profiles, profile_versions) = self.changed_profiles();
        Snapshot {
            containers,
            complete,
            profiles,
            profile_versions,
        }
    }

    fn containers(&self, host: &FsHost) -> (Vec<ContainerReport>, bool) {
        let found = bulwark_containers::discover(host);
        for e in &found.skipped {
            tracing::debug!(error = %e, "container state skipped");
        }
        let all: Vec<&ContainerInfo> = found.containers.iter().filter(|c| !c.sandbox).collect();
        let complete = all.len() <= MAX_ITEMS;
        let reports = all
            .into_iter()
            .take(MAX_ITEMS)
            .filter_map(|c| self.container(host, c))
            .collect();
        (reports, complete)
    }

    fn container(&self, host: &FsHost, info: &ContainerInfo) -> Option<ContainerReport> {
        let workload = bulwark_profile::workload_of(&info.to_ref())?;
        let id = info.id.as_str().to_owned();
        let facts = if self.facts_acked.contains(&id) {
            None
        } else {
            info.bundle.as_deref().and_then(|b| facts(host, &id, b))
        };
        Some(ContainerReport {
            id,
            workload: workload.as_str().to_owned(),
            image: info.image.clone(),
            image_digest: info.image_digest.clone(),
            running: info.init_pid.is_some(),
            facts,
        })
    }
}

/// The CIS facts of a container's bundle `config.json`.
fn facts(host: &FsHost, id: &str, bundle: &Path) -> Option<ContainerFacts> {
    let path = bundle.join("config.json");
    let read = host
        .read(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| ContainerFacts::from_config_json(&text).map_err(|e| e.to_string()));
    match read {
        Ok(facts) => Some(facts),
        Err(e) => {
            tracing::warn!(container = id, path = %path.display(), error = %e, "no CIS facts");
            None
        }
    }
}

impl Inventory {
    fn changed_profiles(&self) -> (Vec<ProfileDoc>, Vec<(String, u64)>) {
        let (mut out, mut versions) = (Vec::new(), Vec::new());
        let Some(store) = &self.profiles else {
            return (out, versions);
        };
        let listed = match store.list() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "listing profiles to report");
                return (out, versions);
            }
        };
        let mut bytes = 0usize;
        for l in listed {
            let Ok((profile, _)) = l.profile else {
                continue;
            };
            let workload = profile.workload().as_str();
            if self
                .profiles_acked
                .get(workload)
                .is_some_and(|v| *v >= profile.metadata.version)
            {
                continue;
            }
            let Ok(yaml) = bulwark_profile::to_yaml(&profile) else {
                continue;
            };
            bytes += yaml.len();
            if bytes > MAX_PROFILE_BYTES && !out.is_empty() {
                break;
            }
            versions.push((workload.to_owned(), profile.metadata.version));
            out.push(ProfileDoc {
                workload: workload.to_owned(),
                yaml,
            });
        }
        (out, versions)
    }

    /// The server acknowledged the report built from a snapshot: its facts
    /// and profile versions are not sent again (refused parts neither:
    /// resending cannot change the answer).
    pub fn acknowledged(&mut self, receipt: Receipt) {
        if let Some(live) = receipt.live {
            self.facts_acked.retain(|id| live.contains(id));
        }
        self.facts_acked.extend(receipt.facts);
        for (workload, version) in receipt.profiles {
            let acked = self.profiles_acked.entry(workload).or_default();
            *acked = (*acked).max(version);
        }
    }
}

/// What a snapshot sent, to remember once the server acknowledged it.
#[derive(Debug, Default)]
pub struct Receipt {
    /// Every container id on the node, when the list was complete.
    live: Option<HashSet<String>>,
    facts: Vec<String>,
    profiles: Vec<(String, u64)>,
}

impl Snapshot {
    pub fn receipt(&self) -> Receipt {
        Receipt {
            live: self
                .complete
                .then(|| self.containers.iter().map(|c| c.id.clone()).collect()),
            facts: self
                .containers
                .iter()
                .filter(|c| c.facts.is_some())
                .map(|c| c.id.clone())
                .collect(),
            profiles: self.profile_versions.clone(),
        }
    }
}
