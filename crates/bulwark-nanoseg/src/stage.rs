//! The agent's learning and detection stage: events in, alerts out, every
//! profile change in the audit log, profiles kept in sync with the store.
//!
//! Sync rule: the store is the truth for edits. On each sync, a profile
//! whose file changed since this stage last read or wrote it (an import,
//! a promotion by `bulwark profile`) is reloaded and replaces the in-memory
//! copy; otherwise a profile changed in memory is written.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_alert::Router;
use bulwark_audit::AuditLog;
use bulwark_core::{Clock, Event, EventKind, WorkloadId};
use bulwark_profile::{Change, Config, Engine, WorkloadProfile};

use crate::audit::entry_for;
use crate::error::{StageError, StoreError};
use crate::facts::ImageFiles;
use crate::store::{ProfileStore, Stamp};

mod pushed;

pub use pushed::{MAX_PUSHED_BYTES, PushOutcome, chain as error_chain};

#[derive(Clone, Debug)]
pub struct StageConfig {
    pub engine: Config,
    /// How often profiles are synced with the store.
    pub sync_interval: Duration,
    /// Recorded as the actor of automatic changes.
    pub actor: String,
    /// Where `/proc` is (the host's, unless testing).
    pub proc_root: PathBuf,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            engine: Config::default(),
            sync_interval: Duration::from_secs(2),
            actor: "agent".into(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Counters for metrics and the exit summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    pub events: u64,
    pub alerts: u64,
    pub changes: u64,
    pub saves: u64,
    pub reloads: u64,
}

pub struct Stage {
    engine: Engine,
    store: ProfileStore,
    audit: Arc<AuditLog>,
    router: Router,
    facts: ImageFiles,
    stamps: HashMap<WorkloadId, Stamp>,
    dirty: BTreeSet<WorkloadId>,
    config: StageConfig,
    clock: Arc<dyn Clock>,
    last_sync: SystemTime,
    stats: StageStats,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("stats", &self.stats).finish()
    }
}

impl Stage {
    /// Loads every profile in `store`. Unreadable files are reported and
    /// skipped (the workload then starts learning afresh in memory, and
    /// the bad file is not overwritten until it is fixed or removed).
    pub fn open(
        config: StageConfig,
        store: ProfileStore,
        audit: Arc<AuditLog>,
        router: Router,
        clock: Arc<dyn Clock>,
    ) -> Result<Stage, StageError> {
        let mut engine = Engine::new(config.engine.clone(), Arc::clone(&clock));
        let mut stamps = HashMap::new();
        for listed in store.list()? {
            match listed.profile {
                Ok((profile, stamp)) => {
                    stamps.insert(profile.workload().clone(), stamp);
                    engine.load(profile);
                }
                Err(e) => tracing::error!(error = %e, "profile not loaded"),
            }
        }
        let last_sync = clock.now();
        Ok(Stage {
            engine,
            store,
            audit,
            router,
            facts: ImageFiles::default(),
            stamps,
            dirty: BTreeSet::new(),
            config,
            clock,
            last_sync,
            stats: StageStats::default(),
        })
    }

    pub fn stats(&self) -> StageStats {
        self.stats
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn profile(&self, workload: &WorkloadId) -> Option<&WorkloadProfile> {
        self.engine.profile(workload)
    }

    /// One event: detect, learn or alert; changes go to the audit log.
    pub fn handle(&mut self, event: &Event) -> Result<(), StageError> {
        self.stats.events += 1;
        self.snapshot_image(event);
        let out = self.engine.observe(event, &self.facts);
        self.dirty.extend(self.engine.take_dirty());
        self.record(out.changes)?;
        for alert in out.alerts {
            self.stats.alerts += 1;
            self.router.send(alert);
        }
        Ok(())
    }

    /// An alert from elsewhere (the sensor's health reports) through the
    /// same throttle and sinks.
    pub fn send_alert(&mut self, alert: bulwark_core::Alert) {
        self.stats.alerts += 1;
        self.router.send(alert);
    }

    /// Promotions, aging, throttled alerts due, and the store sync when due.
    pub fn tick(&mut self) -> Result<(), StageError> {
        let out = self.engine.tick();
        self.dirty.extend(self.engine.take_dirty());
        let recorded = self.record(out.changes);
        for alert in out.alerts {
            self.stats.alerts += 1;
            self.router.send(alert);
        }
        self.router.tick();
        recorded?;
        let now = self.clock.now();
        let due = now
            .duration_since(self.last_sync)
            .map_or(true, |d| d >= self.config.sync_interval);
        if due {
            self.sync()?;
            self.last_sync = now;
        }
        Ok(())
    }

    /// Writes changed profiles and reloads edited ones now.
    pub fn sync(&mut self) -> Result<(), StageError> {
        let _lock = self.store.lock()?;
        self.load_new_files()?;
        let known: Vec<WorkloadId> = self
            .engine
            .profiles()
            .map(|p| p.workload().clone())
            .collect();
        for id in known {
            let on_disk = self.store.stamp(&id)?;
            let edited = on_disk.is_some() && on_disk != self.stamps.get(&id).copied();
            if edited {
                self.reload(&id)?;
            } else if self.dirty.contains(&id) {
                self.save(&id)?;
            }
        }
        self.dirty.clear();
        Ok(())
    }

    fn load_new_files(&mut self) -> Result<(), StoreError> {
        for listed in self.store.list()? {
            let Ok((profile, stamp)) = listed.profile else {
                continue;
            };
            if self.engine.profile(profile.workload()).is_none() {
                self.stamps.insert(profile.workload().clone(), stamp);
                self.engine.load(profile);
                self.stats.reloads += 1;
            }
        }
        Ok(())
    }

    fn reload(&mut self, id: &WorkloadId) -> Result<(), StoreError> {
        if let Some((profile, stamp)) = self.store.read(id)? {
            tracing::info!(workload = %id, version = profile.metadata.version, "profile changed on disk, reloaded");
            self.engine.load(profile);
            self.stamps.insert(id.clone(), stamp);
            self.stats.reloads += 1;
        }
        Ok(())
    }

    fn save(&mut self, id: &WorkloadId) -> Result<(), StoreError> {
        if let Some(profile) = self.engine.profile(id) {
            let stamp = self.store.write(profile)?;
            self.stamps.insert(id.clone(), stamp);
            self.stats.saves += 1;
        }
        Ok(())
    }

    /// Records each change; if one cannot be recorded, the profiles of it
    /// and of every change after it go back to their last saved state, and
    /// a health alert says so.
    fn record(&mut self, changes: Vec<Change>) -> Result<(), StageError> {
        let mut pending = changes.into_iter();
        while let Some(change) = pending.next() {
            self.stats.changes += 1;
            let (workload, entry) = entry_for(&change, &self.config.actor);
            let Err(source) = self.audit.append(&entry) else {
                continue;
            };
            tracing::error!(workload = %workload, error = %source, "audit log write failed; rolling back profile changes");
            let mut undo: BTreeSet<WorkloadId> = pending.map(|c| entry_for(&c, "").0).collect();
            undo.insert(workload.clone());
            for id in &undo {
                self.rollback(id);
            }
            self.router
                .send(audit_failure_alert(&workload, &source, self.clock.now()));
            return Err(StageError::Audit {
                workload: workload.to_string(),
                source,
            });
        }
        Ok(())
    }

    fn rollback(&mut self, id: &WorkloadId) {
        match self.store.read(id) {
            Ok(Some((profile, stamp))) => {
                self.engine.load(profile);
                self.stamps.insert(id.clone(), stamp);
            }
            Ok(None) => self.engine.remove(id),
            Err(e) => tracing::error!(workload = %id, error = %e, "cannot roll back profile"),
        }
        self.dirty.remove(id);
    }

    /// On a container's first exec, records its image's executables.
    fn snapshot_image(&mut self, event: &Event) {
        let (EventKind::Exec { .. }, Some(c)) = (&event.kind, &event.container) else {
            return;
        };
        if self.facts.knows(&c.id) {
            return;
        }
        let root = self
            .config
            .proc_root
            .join(event.process.tgid.to_string())
            .join("root");
        self.facts.snapshot(&c.id, &root);
    }

    /// Final sync before the agent exits.
    pub fn close(mut self) -> Result<StageStats, StageError> {
        self.router.tick();
        self.sync()?;
        Ok(self.stats)
    }
}

fn audit_failure_alert(
    workload: &WorkloadId,
    error: &bulwark_audit::AuditError,
    now: SystemTime,
) -> bulwark_core::Alert {
    health_alert(
        format!("audit-failure:{workload}"),
        Some(workload),
        bulwark_core::Severity::Critical,
        "audit log unwritable",
        format!("profile change for {workload} rolled back: {error}"),
        now,
    )
}

/// A health alert about one workload's profile.
fn health_alert(
    id: String,
    workload: Option<&WorkloadId>,
    severity: bulwark_core::Severity,
    detail: &str,
    message: String,
    now: SystemTime,
) -> bulwark_core::Alert {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let time = time::Duration::try_from(since)
        .ok()
        .and_then(|d| time::OffsetDateTime::UNIX_EPOCH.checked_add(d))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    bulwark_core::Alert {
        id,
        time,
        severity,
        workload: workload.cloned(),
        container_id: None,
        image_digest: None,
        profile_version: None,
        mode: bulwark_core::Mode::Monitor,
        reason: bulwark_core::AlertReason::Health {
            detail: detail.into(),
        },
        decision: bulwark_core::Decision::Alert,
        message,
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    }
}
