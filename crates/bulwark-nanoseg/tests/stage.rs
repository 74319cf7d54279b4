//! The stage with a real store, a real audit log and a real file sink:
//! learn, promote (audited), persist, alert, reload edits, fail closed.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_alert::{JsonLinesSink, Router, Throttle, ThrottleConfig};
use bulwark_audit::AuditLog;
use bulwark_core::{ManualClock, Mode, WorkloadId};
use bulwark_nanoseg::{ProfileStore, Stage, StageConfig, StageError};
use bulwark_profile::testutil::{T0, connect, exec, listen, open};
use bulwark_profile::{Class, Config};

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().to_path_buf();
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0 as u64),
        ));
        Fixture {
            _dir: dir,
            root,
            clock,
        }
    }

    fn alerts_path(&self) -> std::path::PathBuf {
        self.root.join("alerts.jsonl")
    }

    fn store(&self) -> ProfileStore {
        ProfileStore::open(&self.root.join("profiles")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn audit_path(&self) -> std::path::PathBuf {
        self.root.join("audit").join("audit.log")
    }

    fn stage(&self) -> Stage {
        let audit = AuditLog::open(&self.audit_path(), self.clock.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let sink = JsonLinesSink::file(&self.alerts_path()).unwrap_or_else(|e| panic!("{e}"));
        let router = Router::new(
            Throttle::new(ThrottleConfig::default(), self.clock.clone()),
            vec![Box::new(sink)],
        );
        let config = StageConfig {
            engine: Config {
                quiet_window: Some(Duration::from_secs(60)),
                ..Config::default()
            },
            sync_interval: Duration::from_secs(1),
            proc_root: self.root.join("no-proc"),
            ..StageConfig::default()
        };
        Stage::open(
            config,
            self.store(),
            Arc::new(audit),
            router,
            self.clock.clone(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn web() -> WorkloadId {
    WorkloadId::new("image:registry.test/web").unwrap_or_else(|e| panic!("{e}"))
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect()
}

fn benign(stage: &mut Stage, base: u32) {
    for ev in [
        exec(
            base,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd", "-p", "8080"],
        ),
        listen(base, "0.0.0.0:8080"),
        open(base, "/etc/httpd.conf", true, false),
        connect(base, "10.0.0.5:5432"),
    ] {
        stage.handle(&ev).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn learned_profile_is_promoted_audited_persisted_and_then_alerts() {
    let f = Fixture::new();
    let mut stage = f.stage();
    benign(&mut stage, 100);
    f.clock.advance(Duration::from_secs(61));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    let stored = f
        .store()
        .read(&web())
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|(p, _)| p);
    assert_eq!(
        stored.map(|p| p.spec.modes.get(Class::Process)),
        Some(Mode::Monitor)
    );
    let audit = lines(&f.audit_path());
    let modes: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|r| r["action"] == "profile.mode")
        .collect();
    assert_eq!(modes.len(), 4, "{audit:?}");
    assert_eq!(modes[0]["actor"], "agent");
    assert_eq!(modes[0]["detail"]["to"], "monitor");
    assert!(bulwark_audit::verify_file(&f.audit_path(), None).is_ok());
    benign(&mut stage, 200);
    stage
        .handle(&connect(200, "203.0.113.1:22"))
        .unwrap_or_else(|e| panic!("{e}"));
    let alerts = lines(&f.alerts_path());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["reason"]["kind"], "deviation");
    assert_eq!(alerts[0]["workload"], "image:registry.test/web");
}

#[test]
fn a_restarted_stage_continues_from_the_stored_profile() {
    let f = Fixture::new();
    let mut stage = f.stage();
    benign(&mut stage, 100);
    f.clock.advance(Duration::from_secs(61));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    let _ = stage.close();
    let mut again = f.stage();
    assert_eq!(
        again.profile(&web()).map(|p| p.spec.modes.get(Class::File)),
        Some(Mode::Monitor)
    );
    benign(&mut again, 300);
    assert!(lines(&f.alerts_path()).is_empty());
}

#[test]
fn an_edit_on_disk_replaces_the_agents_copy_at_the_next_sync() {
    let f = Fixture::new();
    let mut stage = f.stage();
    benign(&mut stage, 100);
    f.clock.advance(Duration::from_secs(2));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    // What `bulwark profile promote --to protect` does, under the lock.
    let store = f.store();
    {
        let _lock = store.lock().unwrap_or_else(|e| panic!("{e}"));
        let (mut p, _) = store
            .read(&web())
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("not stored"));
        p.set_mode(&Class::ALL, Mode::Protect, "test");
        store.write(&p).unwrap_or_else(|e| panic!("{e}"));
    }
    f.clock.advance(Duration::from_secs(2));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stage.profile(&web()).map(|p| p.spec.modes.network),
        Some(Mode::Protect)
    );
    stage
        .handle(&connect(100, "203.0.113.1:22"))
        .unwrap_or_else(|e| panic!("{e}"));
    let alerts = lines(&f.alerts_path());
    assert_eq!(
        alerts.last().map(|a| a["decision"].clone()),
        Some(serde_json::json!("deny"))
    );
}

#[test]
fn a_promotion_that_cannot_be_audited_is_rolled_back() {
    let f = Fixture::new();
    let mut stage = f.stage();
    benign(&mut stage, 100);
    f.clock.advance(Duration::from_secs(2));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    // Damage the audit log: its head file disappears.
    let _ = std::fs::remove_file(bulwark_audit::head_path(&f.audit_path()));
    let _ = std::fs::write(f.audit_path(), b"{\"not\":\"a record\"}\n");
    f.clock.advance(Duration::from_secs(61));
    let result = stage.tick();
    assert!(
        matches!(result, Err(StageError::Audit { .. })),
        "{result:?}"
    );
    assert_eq!(
        stage.profile(&web()).map(|p| p.spec.modes.process),
        Some(Mode::Discover)
    );
    let stored = f
        .store()
        .read(&web())
        .ok()
        .flatten()
        .map(|(p, _)| p.spec.modes.process);
    assert_eq!(stored, Some(Mode::Discover));
    let alerts = lines(&f.alerts_path());
    assert!(
        alerts
            .iter()
            .any(|a| a["reason"]["detail"] == "audit log unwritable"),
        "{alerts:?}"
    );
}
