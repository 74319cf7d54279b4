use super::*;
use crate::bundle::BundleSet;
use crate::jwt::validate_jwt_svid;
use crate::x509::{PeerRole, X509SvidError, verify_x509_svid};

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn web() -> SpiffeId {
    SpiffeId::new("spiffe://example.org/web").unwrap()
}

fn issue(ca: &TrustDomainCa, now: SystemTime) -> X509Svid {
    ca.issue_x509(&LeafRequest {
        id: &web(),
        ttl: Duration::from_secs(3600),
        now,
        dns_names: &[],
    })
    .unwrap()
}

fn verifies(ca: &TrustDomainCa, svid: &X509Svid, now: SystemTime) -> Result<(), X509SvidError> {
    let mut set = BundleSet::new();
    set.insert(ca.bundle());
    verify_x509_svid(&svid.chain, &set, now, PeerRole::Server).map(|_| ())
}

#[test]
fn init_issues_verifiable_x509_and_jwt_svids() {
    let now = SystemTime::now();
    let ca = TrustDomainCa::init(td(), CaPolicy::default(), now).unwrap();
    let svid = issue(&ca, now);
    assert_eq!(svid.chain.len(), 2);
    verifies(&ca, &svid, now).unwrap();

    let jwt = ca
        .issue_jwt(&web(), &["db".into()], Duration::from_secs(300), now)
        .unwrap();
    let mut set = BundleSet::new();
    set.insert(ca.bundle());
    assert_eq!(
        validate_jwt_svid(&jwt.token, "db", &set, now)
            .unwrap()
            .spiffe_id(),
        &web()
    );
}

#[test]
fn svid_lifetime_is_capped_by_the_intermediate() {
    let now = SystemTime::now();
    let policy = CaPolicy {
        root_ttl: Duration::from_secs(7200),
        intermediate_ttl: Duration::from_secs(600),
    };
    let ca = TrustDomainCa::init(td(), policy, now).unwrap();
    let svid = issue(&ca, now);
    assert!(svid.not_after <= ca.active().unwrap().intermediate.not_after);
}

#[test]
fn foreign_ids_are_not_issued() {
    let now = SystemTime::now();
    let ca = TrustDomainCa::init(td(), CaPolicy::default(), now).unwrap();
    let other = SpiffeId::new("spiffe://other.org/web").unwrap();
    let req = LeafRequest {
        id: &other,
        ttl: Duration::from_secs(60),
        now,
        dns_names: &[],
    };
    assert!(matches!(
        ca.issue_x509(&req),
        Err(CaError::ForeignId { .. })
    ));
}

#[test]
fn rotation_keeps_old_svids_valid_until_retire() {
    let now = SystemTime::now();
    let mut ca = TrustDomainCa::init(td(), CaPolicy::default(), now).unwrap();
    let old_svid = issue(&ca, now);
    let seq0 = ca.bundle().sequence();

    ca.prepare(now).unwrap();
    assert_eq!(ca.bundle().x509_authorities().len(), 2);
    assert_eq!(ca.bundle().jwt_authorities().len(), 2);
    assert!(ca.bundle().sequence() > seq0);
    // still signing with the old authority
    assert_eq!(issue(&ca, now).chain[1], old_svid.chain[1]);
    assert!(matches!(ca.prepare(now), Err(CaError::AlreadyPrepared(_))));

    ca.activate().unwrap();
    let new_svid = issue(&ca, now);
    assert_ne!(new_svid.chain[1], old_svid.chain[1]);
    verifies(&ca, &old_svid, now).unwrap();
    verifies(&ca, &new_svid, now).unwrap();

    let retired = ca.retire().unwrap();
    assert_eq!(retired.len(), 1);
    assert_eq!(ca.bundle().x509_authorities().len(), 1);
    verifies(&ca, &new_svid, now).unwrap();
    assert!(matches!(
        verifies(&ca, &old_svid, now),
        Err(X509SvidError::UnknownAuthority { .. })
    ));
    assert!(matches!(ca.retire(), Err(CaError::NothingToRetire)));
    assert!(matches!(ca.activate(), Err(CaError::NothingPrepared)));
}

#[test]
fn intermediate_is_renewed_at_half_life_under_the_same_root() {
    let start = SystemTime::now();
    let mut ca = TrustDomainCa::init(td(), CaPolicy::default(), start).unwrap();
    let before = ca.active().unwrap().intermediate.der.clone();
    assert!(!ca.renew_intermediate_if_due(start).unwrap());
    let later = start + ca.policy.intermediate_ttl / 2 + Duration::from_secs(60);
    assert!(ca.renew_intermediate_if_due(later).unwrap());
    assert_ne!(ca.active().unwrap().intermediate.der, before);
    assert_eq!(ca.bundle().x509_authorities().len(), 1);
    verifies(&ca, &issue(&ca, later), later).unwrap();
}
