//! The stage with a real store, a real audit log and a real file sink.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_alert::{JsonLinesSink, Router, Throttle, ThrottleConfig};
use bulwark_audit::AuditLog;
use bulwark_core::{ManualClock, Mode, WorkloadId};
use bulwark_nanoseg::{ProfileStore, Stage, StageConfig};
use bulwark_profile::testutil::{T0, connect, exec, listen, open};
use bulwark_profile::{Class, Config};

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: std::path::PathBuf,
    pub clock: Arc<ManualClock>,
}

impl Fixture {
    pub fn new() -> Fixture {
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

    pub fn alerts_path(&self) -> std::path::PathBuf {
        self.root.join("alerts.jsonl")
    }

    pub fn store(&self) -> ProfileStore {
        ProfileStore::open(&self.root.join("profiles")).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn audit_path(&self) -> std::path::PathBuf {
        self.root.join("audit").join("audit.log")
    }

    /// What `bulwark profile promote/demote --to MODE` does to `web`'s
    /// stored profile: every class set, under the store's lock.
    pub fn set_mode_on_disk(&self, to: Mode) {
        let store = self.store();
        let _lock = store.lock().unwrap_or_else(|e| panic!("{e}"));
        let (mut p, _) = store
            .read(&web())
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("not stored"));
        p.set_mode(&Class::ALL, to, "edited on the node");
        store.write(&p).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn stage(&self) -> Stage {
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

pub fn web() -> WorkloadId {
    WorkloadId::new("image:registry.test/web").unwrap_or_else(|e| panic!("{e}"))
}

pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect()
}

pub fn benign(stage: &mut Stage, base: u32) {
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
