use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use super::*;
use crate::x509::LeafRequest;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn init(dir: &Path) -> (CaStore, TrustDomainCa) {
    let store = CaStore::new(dir.join("ca"));
    let ca = TrustDomainCa::init(td(), CaPolicy::default(), SystemTime::now()).unwrap();
    let lock = store.lock().unwrap();
    store.create(&ca, &lock).unwrap();
    (store, ca)
}

fn only_authority_dir(store: &CaStore) -> PathBuf {
    let ca = store.load().unwrap();
    store.dir().join(&ca.authorities[0].id)
}

#[test]
fn saved_ca_loads_with_the_same_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, ca) = init(tmp.path());
    let loaded = store.load().unwrap();
    assert_eq!(loaded.bundle(), ca.bundle());
    let id = td().member(&["web"]).unwrap();
    let svid = loaded
        .issue_x509(&LeafRequest {
            id: &id,
            ttl: Duration::from_secs(60),
            now: SystemTime::now(),
            dns_names: &[],
        })
        .unwrap();
    assert_eq!(svid.chain[1], ca.active().unwrap().intermediate.der);
}

#[test]
fn keys_are_written_0600_and_dirs_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    let dir = only_authority_dir(&store);
    for key in ["root.key", "intermediate.key", "jwt.key"] {
        let mode = fs::metadata(dir.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let mode = fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn world_readable_key_is_refused_with_a_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    let key = only_authority_dir(&store).join("root.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = store.load().unwrap_err();
    assert!(matches!(err, StoreError::UnsafeKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("root.key") && msg.contains("0644") && msg.contains("0600"),
        "{msg}"
    );
}

#[test]
fn symlinked_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    let dir = only_authority_dir(&store);
    let real = tmp.path().join("elsewhere.key");
    fs::rename(dir.join("jwt.key"), &real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("jwt.key")).unwrap();
    assert!(
        store
            .load()
            .unwrap_err()
            .to_string()
            .contains("symbolic link")
    );
}

#[test]
fn key_owned_by_another_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    let key = only_authority_dir(&store).join("intermediate.key");
    // Needs root (CI runs as root); chown to nobody.
    nix::unistd::chown(&key, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let err = store.load().unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

#[test]
fn group_writable_ca_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o770)).unwrap();
    assert!(matches!(store.load(), Err(StoreError::UnsafeDir { .. })));
}

#[test]
fn second_init_does_not_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, ca) = init(tmp.path());
    let lock = store.lock().unwrap();
    assert!(matches!(
        store.create(&ca, &lock),
        Err(StoreError::AlreadyInitialised(_))
    ));
}

#[test]
fn missing_ca_says_how_to_create_one() {
    let tmp = tempfile::tempdir().unwrap();
    let err = CaStore::new(tmp.path().join("ca")).load().unwrap_err();
    assert!(
        err.to_string().contains("bulwark identity ca init"),
        "{err}"
    );
}

#[test]
fn rotation_persists_and_retire_deletes_old_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut ca) = init(tmp.path());
    let old_id = ca.authorities[0].id.clone();
    let lock = store.lock().unwrap();
    ca.prepare(SystemTime::now()).unwrap();
    store.save(&ca, &lock).unwrap();
    assert_eq!(store.load().unwrap().authorities.len(), 2);
    ca.activate().unwrap();
    store.save(&ca, &lock).unwrap();
    ca.retire().unwrap();
    store.save(&ca, &lock).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.authorities.len(), 1);
    assert_eq!(loaded.authorities[0].state, AuthorityState::Active);
    assert!(!store.dir().join(old_id).exists());
}

#[test]
fn corrupt_state_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = init(tmp.path());
    fs::write(store.state_path(), b"{not json").unwrap();
    let err = store.load().unwrap_err();
    assert!(err.to_string().contains("state.json"), "{err}");
    fs::write(store.state_path(), br#"{"version":1,"trust_domain":"example.org","sequence":1,"policy":{"root_ttl":1,"intermediate_ttl":1},"authorities":[{"id":"../../etc","state":"active","jwt_kid":"k"}]}"#).unwrap();
    assert!(
        store
            .load()
            .unwrap_err()
            .to_string()
            .contains("bad authority id")
    );
}

#[test]
fn pem_wraps_at_64_columns() {
    let text = pem("CERTIFICATE", &[0u8; 100]);
    assert!(text.lines().all(|l| l.len() <= 64));
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
}
