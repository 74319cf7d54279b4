//! The stage with a real store, a real audit log and a real file sink:
//! learn, promote (audited), persist, alert, reload edits, fail closed.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

mod support;

use std::time::Duration;

use bulwark_core::Mode;
use bulwark_nanoseg::StageError;
use bulwark_profile::Class;
use bulwark_profile::testutil::connect;
use support::{Fixture, benign, lines, web};

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
    // What `bulwark profile promote --to protect` does.
    f.set_mode_on_disk(Mode::Protect);
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
