//! Profiles pushed by the control plane, applied to a running stage with a
//! real store and audit log: the next event sees the new mode; refusals
//! (rollback, bad names, oversized or foreign documents) change nothing
//! and leave an audit record and an alert.

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

mod support;

use std::time::Duration;

use bulwark_core::Mode;
use bulwark_nanoseg::{PushFailure, PushOutcome, Stage};
use bulwark_profile::testutil::connect;
use bulwark_profile::{Class, WorkloadProfile};
use support::{Fixture, benign, lines, web};

/// A stage that learned `web` in Discover and saved it.
fn learned(f: &Fixture) -> Stage {
    let mut stage = f.stage();
    benign(&mut stage, 100);
    f.clock.advance(Duration::from_secs(2));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    stage
}

/// What the server sends for a mode change: its copy with the mode set.
fn server_doc(stage: &Stage, to: Mode, version: u64) -> String {
    let mut p: WorkloadProfile = stage
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    p.spec.modes = bulwark_profile::Modes::all(to);
    p.metadata.version = version;
    bulwark_profile::to_yaml(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn stored_mode(f: &Fixture) -> Option<Mode> {
    f.store()
        .read(&web())
        .ok()
        .flatten()
        .map(|(p, _)| p.spec.modes.get(Class::Network))
}

fn audit_actions(f: &Fixture) -> Vec<(String, String, String)> {
    lines(&f.audit_path())
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or("").to_owned(),
                r["action"].as_str().unwrap_or("").to_owned(),
                r["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_pushed_promotion_turns_the_next_deviation_into_an_alert() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    // Discover: a new peer is learned, not alerted.
    stage
        .handle(&connect(100, "198.51.100.7:443"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(lines(&f.alerts_path()).is_empty());
    let doc = server_doc(&stage, Mode::Monitor, 2);
    let out = stage
        .apply_pushed(7, web().as_str(), &doc)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(
            out,
            PushOutcome::Applied {
                modes_changed: 4,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(stored_mode(&f), Some(Mode::Monitor));
    stage
        .handle(&connect(100, "203.0.113.1:22"))
        .unwrap_or_else(|e| panic!("{e}"));
    let alerts = lines(&f.alerts_path());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["reason"]["kind"], "deviation");
    assert_eq!(alerts[0]["decision"], "alert");
    let audit = audit_actions(&f);
    assert!(audit.contains(&(
        "server".into(),
        "profile.server-update".into(),
        "success".into()
    )));
    assert_eq!(
        audit
            .iter()
            .filter(|(who, what, _)| who == "server" && what == "profile.mode")
            .count(),
        4
    );
    assert!(bulwark_audit::verify_file(&f.audit_path(), None).is_ok());
}

#[test]
fn a_local_edit_after_a_server_update_wins_until_the_next_server_update() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let doc = server_doc(&stage, Mode::Monitor, 2);
    stage
        .apply_pushed(1, web().as_str(), &doc)
        .unwrap_or_else(|e| panic!("{e}"));
    // `bulwark profile demote` on the node.
    f.set_mode_on_disk(Mode::Discover);
    f.clock.advance(Duration::from_secs(2));
    stage.tick().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stage.profile(&web()).map(|p| p.spec.modes.network),
        Some(Mode::Discover)
    );
    // The server's next decision (a newer document) wins again.
    let doc = server_doc(&stage, Mode::Protect, 3);
    stage
        .apply_pushed(2, web().as_str(), &doc)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_mode(&f), Some(Mode::Protect));
    stage
        .handle(&connect(100, "203.0.113.1:22"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        lines(&f.alerts_path())
            .last()
            .map(|a| a["decision"].clone()),
        Some(serde_json::json!("deny"))
    );
}

#[test]
fn version_rollback_is_refused_audited_alerted_and_changes_nothing() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let doc = server_doc(&stage, Mode::Protect, 9);
    stage
        .apply_pushed(1, web().as_str(), &doc)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = stage.profile(&web()).cloned();
    // An older server document that would disarm the workload.
    let old = server_doc(&stage, Mode::Discover, 8);
    let err = stage.apply_pushed(2, web().as_str(), &old);
    assert!(matches!(err, Err(PushFailure::Refused { .. })), "{err:?}");
    assert!(
        err.is_err_and(|e| bulwark_nanoseg::error_chain(&e).contains("version rollback")),
        "the error names the problem"
    );
    assert_eq!(stage.profile(&web()).cloned(), before);
    assert_eq!(stored_mode(&f), Some(Mode::Protect));
    assert!(audit_actions(&f).contains(&(
        "server".into(),
        "profile.server-update".into(),
        "failure".into()
    )));
    let alerts = lines(&f.alerts_path());
    assert!(
        alerts.iter().any(
            |a| a["id"] == "server-update-refused:image:registry.test/web"
                && a["reason"]["kind"] == "health"
                && a["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("version rollback"))
        ),
        "{alerts:?}"
    );
}

#[test]
fn a_profile_for_a_workload_this_node_does_not_run_is_not_stored() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let doc = server_doc(&stage, Mode::Monitor, 2)
        .replace("image:registry.test/web", "image:registry.test/other");
    let out = stage
        .apply_pushed(1, "image:registry.test/other", &doc)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(out, PushOutcome::NotHere { .. }), "{out:?}");
    let files: Vec<String> = std::fs::read_dir(f.store().dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn a_name_with_path_traversal_writes_nothing_outside_the_store() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let name = "../../escaped";
    let doc = server_doc(&stage, Mode::Monitor, 2).replace("image:registry.test/web", name);
    // Refused as a workload id, or not run here: either way nothing written.
    let _ = stage.apply_pushed(1, name, &doc);
    assert!(!f.root.join("escaped").exists());
    assert!(!f.root.join("escaped.yaml").exists());
    assert!(
        !f.root
            .parent()
            .is_some_and(|p| p.join("escaped.yaml").exists())
    );
    assert_eq!(stored_mode(&f), Some(Mode::Discover));
}

#[test]
fn an_oversized_document_is_refused_before_it_is_parsed() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let mut doc = server_doc(&stage, Mode::Monitor, 2);
    doc.push('#');
    doc.push_str(&"x".repeat(bulwark_nanoseg::MAX_PUSHED_BYTES));
    let err = stage.apply_pushed(1, web().as_str(), &doc);
    assert!(matches!(err, Err(PushFailure::TooLarge { .. })), "{err:?}");
    assert_eq!(stored_mode(&f), Some(Mode::Discover));
}

#[test]
fn a_document_naming_another_workload_than_the_update_is_refused() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let doc = server_doc(&stage, Mode::Monitor, 2);
    let err = stage.apply_pushed(1, "image:registry.test/other", &doc);
    assert!(matches!(err, Err(PushFailure::Invalid { .. })), "{err:?}");
    assert_eq!(stored_mode(&f), Some(Mode::Discover));
}

#[test]
fn an_invalid_document_leaves_the_running_profile_untouched() {
    let f = Fixture::new();
    let mut stage = learned(&f);
    let before = stage.profile(&web()).cloned();
    let doc = server_doc(&stage, Mode::Monitor, 2).replace("network:", "netwrk:");
    let err = stage.apply_pushed(1, web().as_str(), &doc);
    assert!(matches!(err, Err(PushFailure::Document { .. })), "{err:?}");
    assert_eq!(stage.profile(&web()).cloned(), before);
    let two = format!("{}---\n{}", server_doc(&stage, Mode::Monitor, 2), {
        server_doc(&stage, Mode::Monitor, 3)
    });
    let err = stage.apply_pushed(2, web().as_str(), &two);
    assert!(matches!(err, Err(PushFailure::Invalid { .. })), "{err:?}");
    assert_eq!(stage.profile(&web()).cloned(), before);
}
