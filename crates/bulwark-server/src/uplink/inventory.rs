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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A host tree with one runc container `web-1` (pid 4242) whose bundle
    /// config is privileged-ish: root user, CAP_SYS_ADMIN, writable root.
    fn tree() -> Result<(tempfile::TempDir, FsHost), std::io::Error> {
        let dir = tempfile::tempdir()?;
        let at = |p: &str| -> PathBuf { dir.path().join(p.trim_start_matches('/')) };
        let write = |p: &str, text: &str| -> Result<(), std::io::Error> {
            let path = at(p);
            std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))?;
            std::fs::write(path, text)
        };
        let state = serde_json::json!({
            "id": "web-1", "init_process_pid": 4242, "init_process_start": 100,
            "config": {"labels": ["bundle=/bundles/web-1"]},
        });
        write("/run/runc/web-1/state.json", &state.to_string())?;
        let config = serde_json::json!({
            "annotations": {"io.bulwark.image": "registry.test/web:1"},
            "process": {"user": {"uid": 0, "gid": 0},
                        "capabilities": {"bounding": ["CAP_SYS_ADMIN"]}},
            "root": {"path": "rootfs", "readonly": false},
        });
        write("/bundles/web-1/config.json", &config.to_string())?;
        write(
            "/proc/4242/stat",
            "4242 (sh) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 100 1 1",
        )?;
        let host = FsHost::rooted_at(dir.path());
        Ok((dir, host))
    }

    #[test]
    fn runtime_containers_are_reported_with_facts_until_acknowledged_and_removal_is_complete()
    -> Result<(), std::io::Error> {
        let (dir, host) = tree()?;
        let mut inv = Inventory::new(Some(host), None);
        let snap = inv.snapshot(Vec::new());
        assert!(snap.complete);
        let [c] = snap.containers.as_slice() else {
            panic!("containers: {:?}", snap.containers);
        };
        assert_eq!(c.id, "web-1");
        assert_eq!(c.workload, "image:registry.test/web");
        assert!(c.running);
        let facts = c
            .facts
            .as_ref()
            .map(|f| (f.uid, f.readonly_rootfs, f.capabilities.len()));
        assert_eq!(facts, Some((0, false, 1)));
        // Not acknowledged: the facts again; acknowledged: no more.
        assert!(inv.snapshot(Vec::new()).containers[0].facts.is_some());
        inv.acknowledged(snap.receipt());
        assert!(inv.snapshot(Vec::new()).containers[0].facts.is_none());
        // The init died: stopped. Then removed: not listed, the list complete.
        std::fs::remove_file(dir.path().join("proc/4242/stat"))?;
        assert!(!inv.snapshot(Vec::new()).containers[0].running);
        std::fs::remove_dir_all(dir.path().join("run/runc/web-1"))?;
        let gone = inv.snapshot(Vec::new());
        assert!(gone.complete && gone.containers.is_empty());
        Ok(())
    }

    #[test]
    fn a_container_seen_in_events_but_gone_from_the_runtime_is_reported_stopped()
    -> Result<(), std::io::Error> {
        let (_dir, host) = tree()?;
        let inv = Inventory::new(Some(host), None);
        let seen = |id: &str| ContainerReport {
            id: id.into(),
            workload: format!("image:{id}"),
            image: None,
            image_digest: None,
            running: false,
            facts: None,
        };
        let snap = inv.snapshot(vec![seen("web-1"), seen("job-7")]);
        let ids: Vec<(&str, bool)> = snap
            .containers
            .iter()
            .map(|c| (c.id.as_str(), c.running))
            .collect();
        assert_eq!(ids, [("web-1", true), ("job-7", false)]);
        Ok(())
    }
}
