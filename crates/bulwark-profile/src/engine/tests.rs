//! The engine on generated event streams: learn, promote, monitor, detect,
//! relearn on a new image version, age, merge across environments.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_core::{AlertReason, EventKind, ManualClock, Mode, WorkloadId};

use super::*;
use crate::spec::Peer;
use crate::testutil::*;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 as u64),
    ))
}

fn engine(clock: &Arc<ManualClock>) -> Engine {
    let config = Config {
        quiet_window: Some(Duration::from_secs(600)),
        max_rule_age: Some(Duration::from_secs(7 * 24 * 3600)),
        ..Config::default()
    };
    Engine::new(config, clock.clone())
}

fn web() -> WorkloadId {
    WorkloadId::new("image:registry.test/web").unwrap_or_else(|e| panic!("{e}"))
}

fn benign(base: u32) -> Vec<Event> {
    web_round(base)
}

fn run(engine: &mut Engine, events: &[Event]) -> Vec<Alert> {
    events
        .iter()
        .flat_map(|e| engine.observe(e, &NoFacts).alerts)
        .collect()
}

fn rule_ids(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|a| match &a.reason {
            AlertReason::Rule { rule } => Some(rule.id.clone()),
            _ => None,
        })
        .collect()
}

fn deviation_classes(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|a| match &a.reason {
            AlertReason::Deviation { class, .. } => Some(class.clone()),
            _ => None,
        })
        .collect()
}

fn learned_then_promoted(clock: &Arc<ManualClock>) -> Engine {
    let mut e = engine(clock);
    assert!(run(&mut e, &benign(100)).is_empty());
    clock.advance(Duration::from_secs(601));
    let changes = e.tick().changes;
    assert_eq!(changes.len(), 4, "{changes:?}");
    e
}

#[test]
fn discover_learns_then_monitor_is_quiet_on_the_same_behaviour() {
    let clock = clock();
    let mut e = learned_then_promoted(&clock);
    let p = e
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    assert_eq!(p.spec.modes, crate::spec::Modes::all(Mode::Monitor));
    // Replicas and restarts: the same behaviour with other pids.
    for base in [200, 300, 400] {
        let alerts = run(&mut e, &benign(base));
        assert!(alerts.is_empty(), "{alerts:#?}");
    }
}

#[test]
fn every_mode_change_is_reported_with_its_reason() {
    let clock = clock();
    let mut e = engine(&clock);
    run(&mut e, &benign(100));
    clock.advance(Duration::from_secs(599));
    assert!(e.tick().changes.is_empty());
    clock.advance(Duration::from_secs(2));
    let changes = e.tick().changes;
    let Some(Change::Mode(m)) = changes.first() else {
        panic!("{changes:?}")
    };
    assert_eq!((m.from, m.to), (Mode::Discover, Mode::Monitor));
    assert!(m.reason.contains("600s"), "{}", m.reason);
}

#[test]
fn monitor_reports_a_deviation_in_each_class() {
    let clock = clock();
    let mut e = learned_then_promoted(&clock);
    let alerts = run(
        &mut e,
        &[
            exec(
                500,
                1,
                "/usr/bin/nmap",
                "/usr/bin/nmap",
                &["nmap", "10.0.0.0/24"],
            ),
            open(500, "/var/data/secret.db", true, true),
            connect(500, "10.9.9.9:22"),
            listen(500, "0.0.0.0:2222"),
        ],
    );
    assert_eq!(
        deviation_classes(&alerts),
        ["process", "file", "network", "network"]
    );
    assert!(
        alerts
            .iter()
            .all(|a| a.decision == Decision::Alert && a.mode == Mode::Monitor)
    );
    assert!(
        alerts
            .iter()
            .all(|a| a.profile_version.is_some() && a.workload == Some(web()))
    );
}

#[test]
fn protect_mode_deviations_are_denials() {
    let clock = clock();
    let mut e = learned_then_promoted(&clock);
    let mut p = e
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    let changes = p.set_mode(&Class::ALL, Mode::Protect, "reviewed");
    assert_eq!(changes.len(), 4);
    e.load(p);
    let alerts = run(&mut e, &[connect(600, "10.9.9.9:22")]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].decision, alerts[0].mode),
        (Decision::Deny, Mode::Protect)
    );
}

#[test]
fn detections_fire_in_discover_and_are_never_learned() {
    let clock = clock();
    let mut e = engine(&clock);
    let alerts = run(&mut e, &[open(100, "/etc/shadow", true, false)]);
    assert_eq!(rule_ids(&alerts), ["credential-read"]);
    assert_eq!(alerts[0].mode, Mode::Discover);
    let p = e
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    assert!(p.spec.files.is_empty(), "{:?}", p.spec.files);
    // And it fires again: nothing was learned.
    assert_eq!(
        rule_ids(&run(&mut e, &[open(100, "/etc/shadow", true, false)])),
        ["credential-read"]
    );
}

#[test]
fn quiet_window_is_per_class_and_restarts_on_new_behaviour() {
    let clock = clock();
    let mut e = engine(&clock);
    run(&mut e, &benign(100));
    clock.advance(Duration::from_secs(500));
    let late = at(exec(150, 1, "/usr/bin/env", "/usr/bin/env", &["env"]), 500);
    run(&mut e, &[late]);
    clock.advance(Duration::from_secs(101));
    let promoted: Vec<Class> = e
        .tick()
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Mode(m) => Some(m.class),
            _ => None,
        })
        .collect();
    assert_eq!(promoted, [Class::File, Class::Network, Class::Capability]);
    clock.advance(Duration::from_secs(500));
    let later: Vec<Change> = e.tick().changes;
    assert!(matches!(&later[..], [Change::Mode(m)] if m.class == Class::Process));
}

#[test]
fn new_image_version_relearns_from_the_previous_profile_and_diffs() {
    let clock = clock();
    let mut e = learned_then_promoted(&clock);
    // v2 drops the client, adds a new helper program.
    let v2 = |ev| with_image(at(ev, 1000), "registry.test/web:2");
    let events = vec![
        v2(exec(
            700,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd", "-f", "-p", "8080"],
        )),
        v2(exec(
            701,
            700,
            "/usr/bin/gzip",
            "/usr/bin/gzip",
            &["gzip", "-c"],
        )),
    ];
    let mut changes = Vec::new();
    let mut alerts = Vec::new();
    for ev in &events {
        let out = e.observe(ev, &NoFacts);
        changes.extend(out.changes);
        alerts.extend(out.alerts);
    }
    assert!(
        alerts.is_empty(),
        "v2 differences are learned, not alerted: {alerts:?}"
    );
    assert!(
        matches!(&changes[0], Change::NewImage { version, .. } if version == "registry.test/web:2")
    );
    let to_discover = changes
        .iter()
        .filter(|c| matches!(c, Change::Mode(m) if m.to == Mode::Discover))
        .count();
    assert_eq!(to_discover, 4);
    let p = e
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    let d = crate::version_diff(&p, "registry.test/web:1", "registry.test/web:2");
    assert!(
        d.added.iter().any(|l| l.rule.contains("/usr/bin/gzip")),
        "{}",
        d.render()
    );
    assert!(
        d.removed.iter().any(|l| l.rule.contains("/usr/bin/wget")),
        "{}",
        d.render()
    );
    assert!(
        !d.removed
            .iter()
            .any(|l| l.rule.starts_with("process /usr/sbin/httpd")),
        "{}",
        d.render()
    );
}

#[test]
fn unused_rules_age_out_and_are_reported() {
    let clock = clock();
    let mut e = learned_then_promoted(&clock);
    let before = e
        .profile(&web())
        .map(|p| p.rule_count())
        .unwrap_or_default();
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    // Keep the server's exec fresh; everything else goes stale.
    let fresh = at(
        exec(
            800,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd", "-f", "-p", "8080"],
        ),
        3 * 24 * 3600,
    );
    run(&mut e, &[fresh]);
    clock.advance(Duration::from_secs(5 * 24 * 3600));
    let changes = e.tick().changes;
    let Some(Change::Aged { rules, version, .. }) = changes.first() else {
        panic!("{changes:?}")
    };
    let after = e
        .profile(&web())
        .map(|p| p.rule_count())
        .unwrap_or_default();
    assert_eq!(after, 1);
    assert_eq!(rules.len(), before - 1);
    assert_eq!(
        e.profile(&web()).map(|p| p.metadata.version),
        Some(*version)
    );
}

#[test]
fn exceptions_silence_a_rule_only_in_their_scope() {
    let clock = clock();
    let mut e = engine(&clock);
    let mut p = WorkloadProfile::new(web(), OffsetDateTime::UNIX_EPOCH);
    p.spec.exceptions.push(Exception {
        rule: "credential-read".into(),
        workload: None,
        image: None,
        exe: crate::ArgPattern::new("/usr/sbin/sshd").ok(),
        parent: None,
        object: crate::ArgPattern::new("/etc/shadow").ok(),
        reason: Some("password checks".into()),
    });
    e.load(p);
    let events = [
        exec(100, 1, "/usr/sbin/sshd", "/usr/sbin/sshd", &["sshd"]),
        open(100, "/etc/shadow", true, false),
        exec(101, 1, "/bin/busybox", "/bin/cat", &["cat", "/etc/shadow"]),
        open(101, "/etc/shadow", true, false),
        open(100, "/root/.ssh/id_rsa", true, false),
    ];
    let alerts = run(&mut e, &events);
    assert_eq!(rule_ids(&alerts), ["credential-read", "credential-read"]);
    assert!(
        alerts[0].message.contains("/bin/cat"),
        "{}",
        alerts[0].message
    );
    assert!(
        alerts[1].message.contains("id_rsa"),
        "{}",
        alerts[1].message
    );
}

#[test]
fn runtime_setup_before_the_entrypoint_is_not_the_workload() {
    let clock = clock();
    let mut e = engine(&clock);
    let mut mount = event(
        100,
        50,
        EventKind::Mount {
            source: "cgroup".into(),
            target: "/sys/fs/cgroup".into(),
            fs_type: "cgroup".into(),
            flags: 0,
            result: 0,
        },
    );
    mount.process.exe = Some("/memfd:runc_cloned:/proc/self/exe (deleted)".into());
    mount.process.comm = "runc:[2:INIT]".into();
    assert!(run(&mut e, &[mount.clone()]).is_empty());
    // The same mount from the workload itself is an escape attempt.
    let mut attack = mount;
    attack.process.pid = 101;
    attack.process.tgid = 101;
    attack.process.exe = Some("/bin/busybox".into());
    attack.process.comm = "mount".into();
    assert_eq!(rule_ids(&run(&mut e, &[attack])), ["container-escape"]);
}

#[test]
fn alerts_carry_ancestry_and_a_stable_dedup_id() {
    let clock = clock();
    let mut e = engine(&clock);
    let mut events = benign(100);
    events.push(fork(101, 120));
    events.push(exec(120, 101, "/tmp/x", "/tmp/x", &["x"]));
    let alerts = run(&mut e, &events);
    assert_eq!(rule_ids(&alerts), ["exec-from-tmp"]);
    let chain: Vec<u32> = alerts[0].ancestry.iter().map(|p| p.tgid).collect();
    assert_eq!(chain, [120, 101, 100]);
    let again = run(
        &mut e,
        &[fork(101, 121), exec(121, 101, "/tmp/x", "/tmp/x", &["x"])],
    );
    assert_eq!(again[0].id, alerts[0].id);
}

#[test]
fn replicas_share_one_profile_and_environments_merge() {
    let clock = clock();
    let mut staging = Engine::new(
        Config {
            environment: "staging".into(),
            ..Config::default()
        },
        clock.clone(),
    );
    let mut prod = Engine::new(
        Config {
            environment: "prod".into(),
            ..Config::default()
        },
        clock.clone(),
    );
    run(&mut staging, &benign(100));
    let mut second = benign(200);
    for ev in &mut second {
        if let Some(c) = &mut ev.container {
            c.id = bulwark_core::ContainerId::new("web-2").unwrap_or_else(|e| panic!("{e}"));
        }
    }
    run(&mut staging, &second);
    assert_eq!(staging.profiles().count(), 1);
    run(
        &mut prod,
        &[exec(
            300,
            1,
            "/usr/sbin/httpd",
            "/usr/sbin/httpd",
            &["httpd", "-f", "-p", "8080"],
        )],
    );
    let mut merged = staging
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    let from_prod = prod
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    let report = crate::merge(&mut merged, &from_prod, &Limits::default());
    assert_eq!(report.added, 0);
    let httpd = merged
        .spec
        .processes
        .iter()
        .find(|r| r.exe == "/usr/sbin/httpd")
        .map(|r| r.seen.environments.iter().cloned().collect::<Vec<_>>());
    assert_eq!(httpd, Some(vec!["prod".to_owned(), "staging".to_owned()]));
}

#[test]
fn egress_to_another_workload_is_learned_by_identity_and_survives_its_new_address() {
    let clock = clock();
    let mut e = engine(&clock);
    let api = |ev| in_container(ev, "api-1", "registry.test/api:1");
    // The api workload accepts on 10.1.0.7; web connects to it.
    run(
        &mut e,
        &[api(accept(300, "10.1.0.7:8080", "10.1.0.20:40000"))],
    );
    run(&mut e, &benign(100));
    run(&mut e, &[connect(100, "10.1.0.7:8080")]);
    let p = e
        .profile(&web())
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    let api_id = WorkloadId::new("image:registry.test/api").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.spec
            .network
            .egress
            .iter()
            .any(|r| r.peer == Peer::Workload(api_id.clone())),
        "{:?}",
        p.spec.network.egress
    );
    clock.advance(Duration::from_secs(601));
    e.tick();
    // A new api replica on another address: still the same peer.
    run(
        &mut e,
        &[at(
            api(accept(301, "10.1.0.9:8080", "10.1.0.20:40001")),
            700,
        )],
    );
    assert!(run(&mut e, &[at(connect(100, "10.1.0.9:8080"), 700)]).is_empty());
    // An address nobody accepted on is a deviation.
    let alerts = run(&mut e, &[at(connect(100, "10.1.0.99:8080"), 700)]);
    assert_eq!(deviation_classes(&alerts), ["network"]);
    // Loopback is never attributed to a workload.
    run(
        &mut e,
        &[api(accept(302, "127.0.0.1:8080", "127.0.0.1:40002"))],
    );
    assert!(
        e.peers
            .owner(
                "127.0.0.1"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                OffsetDateTime::UNIX_EPOCH
            )
            .is_none()
    );
}
