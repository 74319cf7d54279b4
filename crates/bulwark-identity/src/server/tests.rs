use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::SystemTime;

use bulwark_core::ManualClock;
use bulwark_core::spiffe::TrustDomain;

use super::*;
use crate::ca::CaPolicy;

struct Setup {
    _tmp: tempfile::TempDir,
    cfg: ServerConfig,
}

fn setup(entries: &[(&str, &str, &str)]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = CaStore::new(tmp.path().join("ca"));
    let ca = TrustDomainCa::init(
        TrustDomain::new("example.org").unwrap(),
        CaPolicy::default(),
        SystemTime::now(),
    )
    .unwrap();
    let lock = store.lock().unwrap();
    store.create(&ca, &lock).unwrap();
    let entries_dir = tmp.path().join("entries");
    for (name, id, ttl) in entries {
        add_entry_file(&entries_dir, "t.yaml", &entry(name, id, ttl)).unwrap();
    }
    Setup {
        cfg: ServerConfig {
            ca: store,
            entries_dir,
            poll_interval: Duration::from_millis(50),
        },
        _tmp: tmp,
    }
}

fn entry(name: &str, id: &str, ttl: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: {name}\nspec:\n  spiffeId: {id}\n  selectors: {{uid: 1000}}\n  ttl: {ttl}\n"
    )
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemTime::now()))
}

struct ArcClock(Arc<ManualClock>);

impl Clock for ArcClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

#[test]
fn start_issues_an_svid_per_entry() {
    let s = setup(&[
        ("web", "spiffe://example.org/web", "1h"),
        ("db", "spiffe://example.org/db", "1h"),
    ]);
    let (_m, state) = Maintainer::start(s.cfg.clone(), ArcClock(clock())).unwrap();
    let snap = state.current();
    assert_eq!(snap.svids.len(), 2);
    assert_eq!(
        snap.svids["web"].svid.spiffe_id.as_str(),
        "spiffe://example.org/web"
    );
}

#[test]
fn new_entry_is_published_on_the_next_tick() {
    let s = setup(&[("web", "spiffe://example.org/web", "1h")]);
    let (mut m, state) = Maintainer::start(s.cfg.clone(), ArcClock(clock())).unwrap();
    let rx = state.subscribe();
    assert!(!m.tick());
    add_entry_file(
        &s.cfg.entries_dir,
        "t.yaml",
        &entry("db", "spiffe://example.org/db", "1h"),
    )
    .unwrap();
    assert!(m.tick());
    assert!(rx.has_changed().unwrap());
    assert!(state.current().svids.contains_key("db"));
    remove_entry(&s.cfg.entries_dir, "db").unwrap();
    assert!(m.tick());
    assert!(!state.current().svids.contains_key("db"));
}

#[test]
fn svid_is_renewed_after_half_its_life_with_jitter() {
    let s = setup(&[("web", "spiffe://example.org/web", "1h")]);
    let c = clock();
    let (mut m, state) = Maintainer::start(s.cfg.clone(), ArcClock(Arc::clone(&c))).unwrap();
    let first = state.current().svids["web"].clone();
    c.advance(Duration::from_secs(1440 - 10)); // before the earliest renewal (40%)
    assert!(!m.tick());
    c.advance(Duration::from_secs(730)); // past the latest renewal (60%)
    assert!(m.tick());
    let second = state.current().svids["web"].clone();
    assert_ne!(first.svid.chain[0], second.svid.chain[0]);
}

#[test]
fn invalid_entries_on_disk_keep_the_last_good_set() {
    let s = setup(&[("web", "spiffe://example.org/web", "1h")]);
    let (mut m, state) = Maintainer::start(s.cfg.clone(), ArcClock(clock())).unwrap();
    std::fs::write(s.cfg.entries_dir.join("broken.yaml"), "kind: [").unwrap();
    assert!(!m.tick());
    assert!(state.current().svids.contains_key("web"));
}

#[test]
fn ca_activation_on_disk_reissues_every_svid_from_the_new_authority() {
    let s = setup(&[("web", "spiffe://example.org/web", "1h")]);
    let (mut m, state) = Maintainer::start(s.cfg.clone(), ArcClock(clock())).unwrap();
    let before = state.current().svids["web"].issuer.clone();
    let lock = s.cfg.ca.lock().unwrap();
    let mut ca = s.cfg.ca.load().unwrap();
    ca.prepare(SystemTime::now()).unwrap();
    s.cfg.ca.save(&ca, &lock).unwrap();
    assert!(m.tick());
    assert_eq!(state.current().bundle.x509_authorities().len(), 2);
    assert_eq!(
        state.current().svids["web"].issuer,
        before,
        "prepare does not change the signer"
    );
    ca.activate().unwrap();
    s.cfg.ca.save(&ca, &lock).unwrap();
    assert!(m.tick());
    assert_ne!(state.current().svids["web"].issuer, before);
}

#[test]
fn entries_of_another_trust_domain_get_nothing() {
    let s = setup(&[("web", "spiffe://other.org/web", "1h")]);
    let (_m, state) = Maintainer::start(s.cfg.clone(), ArcClock(clock())).unwrap();
    assert!(state.current().svids.is_empty());
    assert!(state.current().entries.is_empty());
}

#[test]
fn intermediate_is_renewed_on_disk_at_half_life() {
    let s = setup(&[("web", "spiffe://example.org/web", "1h")]);
    let c = clock();
    let (mut m, state) = Maintainer::start(s.cfg.clone(), ArcClock(Arc::clone(&c))).unwrap();
    let before = state.current().svids["web"].issuer.clone();
    c.advance(CaPolicy::default().intermediate_ttl / 2 + Duration::from_secs(1));
    m.tick(); // renews on disk
    m.tick(); // notices the new state file
    let on_disk = s.cfg.ca.load().unwrap();
    assert_ne!(on_disk.active().unwrap().intermediate.der.to_vec(), before);
    assert_eq!(
        state.current().svids["web"].issuer,
        on_disk.active().unwrap().intermediate.der.to_vec()
    );
}
