//! The learning and detection loop: one call per event, one per tick.
//!
//! For each event of a container: built-in rules first (they fire in every
//! mode and what they match is never learned), then the workload's profile:
//! known behaviour refreshes its rule, new behaviour is learned in Discover
//! and reported as a deviation in Monitor and Protect. Ticks promote quiet
//! workloads and age out stale rules. Everything that must be audited comes
//! back as a [`Change`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bulwark_core::{
    Alert, AlertReason, Clock, ContainerRef, Decision, Event, EventKind, Mode, Severity, WorkloadId,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::detect::{self, Finding};
use crate::diff::DiffLine;
use crate::exception::{Exception, Scope};
use crate::learn::{Limits, Use};
use crate::maintain;
use crate::modes::ModeChange;
use crate::observe::{self, Observation};
use crate::peers::PeerMap;
use crate::proctable::{ProcInfo, ProcTable};
use crate::spec::{Class, ImageVersion, Timestamp, WorkloadProfile};
use crate::workload::{image_version, is_runtime_process, workload_of};

/// How the engine behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Name of this agent's environment (`prod`, `staging`), recorded on rules.
    pub environment: String,
    /// Discover -> Monitor once a class learned nothing new for this long.
    pub quiet_window: Option<Duration>,
    /// Rules unused for this long are removed (and reported).
    pub max_rule_age: Option<Duration>,
    /// A new image version sends Monitor classes back to Discover, starting
    /// from the previous version's profile.
    pub relearn_on_new_image: bool,
    /// Detection exceptions for every workload.
    pub exceptions: Vec<Exception>,
    pub limits: Limits,
    /// Processes tracked for ancestry.
    pub max_processes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            environment: "default".into(),
            quiet_window: Some(Duration::from_secs(3600)),
            max_rule_age: Some(Duration::from_secs(30 * 24 * 3600)),
            relearn_on_new_image: true,
            exceptions: Vec::new(),
            limits: Limits::default(),
            max_processes: 65_536,
        }
    }
}

/// What the engine cannot know from events alone; supplied by the agent.
pub trait Facts {
    /// Whether the executable is part of the container's image (`None`:
    /// unknown, no drift alert).
    fn exe_in_image(
        &self,
        container: &ContainerRef,
        exe: &str,
        inode: u64,
        dev: u64,
    ) -> Option<bool>;
}

/// Facts for when nothing is known (replays without container access).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFacts;

impl Facts for NoFacts {
    fn exe_in_image(&self, _: &ContainerRef, _: &str, _: u64, _: u64) -> Option<bool> {
        None
    }
}

/// A change to a profile that belongs in the audit log.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Mode(ModeChange),
    /// A new image version of the workload was seen.
    NewImage {
        workload: WorkloadId,
        version: String,
        previous: Vec<String>,
    },
    /// Rules unused for too long were removed.
    Aged {
        workload: WorkloadId,
        rules: Vec<(DiffLine, OffsetDateTime)>,
        version: u64,
    },
}

/// The result of one call.
#[derive(Debug, Default)]
pub struct Output {
    pub alerts: Vec<Alert>,
    pub changes: Vec<Change>,
}

pub struct Engine {
    config: Config,
    clock: Arc<dyn Clock>,
    profiles: BTreeMap<WorkloadId, WorkloadProfile>,
    table: ProcTable,
    peers: PeerMap,
    dirty: BTreeSet<WorkloadId>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("profiles", &self.profiles.len())
            .field("processes", &self.table.len())
            .finish()
    }
}

impl Engine {
    pub fn new(config: Config, clock: Arc<dyn Clock>) -> Engine {
        let table = ProcTable::new(config.max_processes);
        let peers = PeerMap::new(config.max_processes);
        Engine {
            config,
            clock,
            profiles: BTreeMap::new(),
            table,
            peers,
            dirty: BTreeSet::new(),
        }
    }

    /// Adds or replaces a profile (loaded from disk, imported, edited).
    pub fn load(&mut self, profile: WorkloadProfile) {
        self.profiles.insert(profile.workload().clone(), profile);
    }

    /// Forgets a profile (its workload starts learning afresh if seen again).
    pub fn remove(&mut self, workload: &WorkloadId) {
        self.profiles.remove(workload);
        self.dirty.remove(workload);
    }

    pub fn profile(&self, workload: &WorkloadId) -> Option<&WorkloadProfile> {
        self.profiles.get(workload)
    }

    pub fn profiles(&self) -> impl Iterator<Item = &WorkloadProfile> {
        self.profiles.values()
    }

    /// Workloads whose profile changed since the last call.
    pub fn take_dirty(&mut self) -> Vec<WorkloadId> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    pub fn observe(&mut self, event: &Event, facts: &dyn Facts) -> Output {
        let mut out = Output::default();
        self.table.observe(event);
        let Some(container) = &event.container else {
            return out;
        };
        let info = self.table.get(event.process.tgid).cloned();
        if is_runtime_process(event, info.as_ref(), &self.table) {
            return out;
        }
        let Some(workload) = workload_of(container) else {
            return out;
        };
        self.peers.observe(event, &workload);
        let at = event.time;
        let profile = self
            .profiles
            .entry(workload.clone())
            .or_insert_with(|| WorkloadProfile::new(workload.clone(), at));
        self.dirty.insert(workload.clone());
        let image = image_version(container);
        if let Some(version) = &image {
            note_image(
                profile,
                container,
                version,
                at,
                &self.config,
                &mut out.changes,
            );
        }
        let ctx = detect::Context {
            process: info.as_ref(),
            exe_in_image: exe_in_image(event, container, facts),
        };
        let findings: Vec<Finding> = detect::detect(event, &ctx)
            .into_iter()
            .filter(|f| {
                !excepted(
                    f,
                    profile,
                    &self.config.exceptions,
                    container,
                    info.as_ref(),
                    &self.table,
                )
            })
            .collect();
        let mode = profile.spec.modes.get(class_of(event));
        let version = profile.metadata.version;
        for f in &findings {
            out.alerts
                .push(rule_alert(event, f, &workload, mode, version, &self.table));
        }
        if !findings.is_empty() {
            return out;
        }
        let u = Use {
            at,
            image: image.as_deref(),
            environment: &self.config.environment,
        };
        for obs in observe::observe(event, &self.table, &self.peers) {
            if profile.touch(&obs, &u).is_some() {
                continue;
            }
            let mode = profile.spec.modes.get(obs.class());
            if mode == Mode::Discover {
                profile.learn(&obs, &u, &self.config.limits);
                profile.metadata.version += 1;
                profile
                    .spec
                    .learning
                    .last_new
                    .insert(obs.class(), Timestamp(at));
            } else {
                let version = profile.metadata.version;
                out.alerts.push(deviation_alert(
                    event,
                    &obs,
                    &workload,
                    mode,
                    version,
                    &self.table,
                ));
            }
        }
        out
    }

    /// Promotions and aging, by the clock.
    pub fn tick(&mut self) -> Output {
        let mut out = Output::default();
        let Some(now) = to_offset(self.clock.now()) else {
            return out;
        };
        for (id, profile) in &mut self.profiles {
            if let Some(quiet) = self.config.quiet_window {
                let due = profile.due_for_promotion(now, quiet);
                let reason = format!("no new behaviour for {}s", quiet.as_secs());
                let changes = profile.set_mode(&due, Mode::Monitor, &reason);
                if !changes.is_empty() {
                    self.dirty.insert(id.clone());
                }
                out.changes.extend(changes.into_iter().map(Change::Mode));
            }
            if let Some(max_age) = self.config.max_rule_age {
                let aged = maintain::age(profile, now - max_age);
                if !aged.is_empty() {
                    profile.metadata.version += 1;
                    self.dirty.insert(id.clone());
                    out.changes.push(Change::Aged {
                        workload: id.clone(),
                        rules: aged,
                        version: profile.metadata.version,
                    });
                }
            }
        }
        out
    }
}

fn to_offset(t: std::time::SystemTime) -> Option<OffsetDateTime> {
    let since = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::try_from(since).ok()?)
}

fn exe_in_image(event: &Event, container: &ContainerRef, facts: &dyn Facts) -> Option<bool> {
    match &event.kind {
        EventKind::Exec {
            exe,
            exe_inode,
            exe_dev,
            ..
        } => facts.exe_in_image(container, exe, *exe_inode, *exe_dev),
        _ => None,
    }
}

/// Records a new image version; in Monitor it sends classes back to Discover.
fn note_image(
    profile: &mut WorkloadProfile,
    container: &ContainerRef,
    version: &str,
    at: OffsetDateTime,
    config: &Config,
    changes: &mut Vec<Change>,
) {
    if let Some(known) = profile
        .spec
        .images
        .iter_mut()
        .find(|i| i.version == version)
    {
        known.last_seen = known.last_seen.max(at);
        return;
    }
    let previous: Vec<String> = profile
        .spec
        .images
        .iter()
        .map(|i| i.version.clone())
        .collect();
    profile.spec.images.push(ImageVersion {
        version: version.to_owned(),
        digest: container.image_digest.clone(),
        first_seen: at,
        last_seen: at,
    });
    profile.metadata.version += 1;
    if previous.is_empty() {
        return;
    }
    changes.push(Change::NewImage {
        workload: profile.workload().clone(),
        version: version.to_owned(),
        previous: previous.clone(),
    });
    if config.relearn_on_new_image {
        let monitored: Vec<Class> = Class::ALL
            .into_iter()
            .filter(|c| profile.spec.modes.get(*c) == Mode::Monitor)
            .collect();
        let reason = format!("new image version {version}: learning its differences");
        let mode_changes = profile.set_mode(&monitored, Mode::Discover, &reason);
        if !mode_changes.is_empty() {
            profile.spec.learning.started = at;
            profile.spec.learning.last_new.clear();
        }
        changes.extend(mode_changes.into_iter().map(Change::Mode));
    }
}

fn excepted(
    finding: &Finding,
    profile: &WorkloadProfile,
    global: &[Exception],
    container: &ContainerRef,
    info: Option<&ProcInfo>,
    table: &ProcTable,
) -> bool {
    let parent = info
        .and_then(|i| table.parent_in_container(i))
        .and_then(ProcInfo::program);
    let scope = Scope {
        rule: finding.rule.id,
        workload: profile.workload().as_str(),
        image: container.image.as_deref(),
        exe: info.and_then(|i| i.process.exe.as_deref()),
        path: info.and_then(|i| i.path.as_deref()),
        parent,
        object: Some(&finding.object),
    };
    profile
        .spec
        .exceptions
        .iter()
        .chain(global)
        .any(|e| e.applies(&scope))
}

fn class_of(event: &Event) -> Class {
    match event.kind {
        EventKind::Open { .. } => Class::File,
        EventKind::Connect { .. }
        | EventKind::Accept { .. }
        | EventKind::Bind { .. }
        | EventKind::Listen { .. } => Class::Network,
        EventKind::PrivilegeChange { .. } => Class::Capability,
        _ => Class::Process,
    }
}

/// A stable id for the same alert on the same workload, for deduplication.
fn alert_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest: [u8; 32] = h.finalize().into();
    hex::encode(&digest[..8])
}

fn base_alert(
    event: &Event,
    workload: &WorkloadId,
    mode: Mode,
    version: u64,
    table: &ProcTable,
) -> Alert {
    let container = event.container.as_ref();
    Alert {
        id: String::new(),
        time: event.time,
        severity: Severity::Medium,
        workload: Some(workload.clone()),
        container_id: container.map(|c| c.id.clone()),
        image_digest: container.and_then(|c| c.image_digest.clone()),
        profile_version: Some(version),
        mode,
        reason: AlertReason::Health {
            detail: String::new(),
        },
        decision: Decision::Alert,
        message: String::new(),
        ancestry: table.ancestry(&event.process),
        count: 1,
        throttled: 0,
    }
}

fn rule_alert(
    event: &Event,
    f: &Finding,
    workload: &WorkloadId,
    mode: Mode,
    version: u64,
    table: &ProcTable,
) -> Alert {
    Alert {
        id: alert_id(&[workload.as_str(), "rule", f.rule.id, &f.object]),
        severity: f.rule.severity,
        reason: AlertReason::Rule {
            rule: f.rule.to_ref(f.mitre),
        },
        message: f.message.clone(),
        ..base_alert(event, workload, mode, version, table)
    }
}

fn deviation_alert(
    event: &Event,
    obs: &Observation,
    workload: &WorkloadId,
    mode: Mode,
    version: u64,
    table: &ProcTable,
) -> Alert {
    let detail = obs.describe();
    let decision = if mode == Mode::Protect {
        Decision::Deny
    } else {
        Decision::Alert
    };
    Alert {
        id: alert_id(&[
            workload.as_str(),
            "deviation",
            obs.class().as_str(),
            &detail,
        ]),
        reason: AlertReason::Deviation {
            class: obs.class().as_str().to_owned(),
            detail: detail.clone(),
        },
        decision,
        message: format!(
            "{detail}: not in the profile of {workload} (pid {})",
            event.process.tgid
        ),
        ..base_alert(event, workload, mode, version, table)
    }
}

#[cfg(test)]
mod tests;
