//! Issue-then-verify, and one forged or broken certificate per SPIFFE rule.
//! The bad certificates are made here with rcgen, signed by the real CA, so
//! each test isolates one rule.

use super::*;
use crate::x509::{CaCert, LeafRequest, ca_params, issue_leaf, self_signed_ca, signed_ca};
use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

struct Fixture {
    root: CaCert,
    intermediate: CaCert,
}

struct OneBundle(TrustDomain, Vec<CertificateDer<'static>>);

impl X509BundleSource for OneBundle {
    fn x509_authorities(&self, td: &TrustDomain) -> Option<Vec<CertificateDer<'static>>> {
        (*td == self.0).then(|| self.1.clone())
    }
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn web() -> SpiffeId {
    SpiffeId::new("spiffe://example.org/web").unwrap()
}

fn fixture() -> Fixture {
    let day = Duration::from_secs(86_400);
    let root = self_signed_ca(&ca_params(&td().id(), "root", now(), day * 30, 1).unwrap()).unwrap();
    let intermediate =
        signed_ca(&ca_params(&td().id(), "int", now(), day, 0).unwrap(), &root).unwrap();
    Fixture { root, intermediate }
}

impl Fixture {
    fn bundle(&self) -> OneBundle {
        OneBundle(td(), vec![self.root.der.clone()])
    }

    fn issue(&self, id: &SpiffeId) -> Vec<CertificateDer<'static>> {
        let req = LeafRequest {
            id,
            ttl: Duration::from_secs(3600),
            now: now(),
            dns_names: &[],
        };
        issue_leaf(
            &self.intermediate,
            std::slice::from_ref(&self.intermediate.der),
            &req,
        )
        .unwrap()
        .chain
    }

    /// A leaf built from `params`, signed by the real intermediate.
    fn forge(&self, params: &CertificateParams) -> Vec<CertificateDer<'static>> {
        let issuer =
            Issuer::from_ca_cert_der(&self.intermediate.der, &self.intermediate.key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        vec![cert.der().clone(), self.intermediate.der.clone()]
    }
}

fn good_leaf_params(uris: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).to_string().try_into().unwrap()))
        .collect();
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    p
}

fn verify(
    f: &Fixture,
    chain: &[CertificateDer<'static>],
) -> Result<VerifiedX509Svid, X509SvidError> {
    verify_x509_svid(chain, &f.bundle(), now(), PeerRole::Client)
}

#[test]
fn issued_svid_verifies_for_both_roles() {
    let f = fixture();
    let chain = f.issue(&web());
    for role in [PeerRole::Client, PeerRole::Server] {
        let v = verify_x509_svid(&chain, &f.bundle(), now(), role).unwrap();
        assert_eq!(v.spiffe_id(), &web());
    }
}

#[test]
fn issued_leaf_follows_the_x509_svid_profile() {
    let f = fixture();
    let chain = f.issue(&web());
    let leaf = CertInfo::parse(&chain[0]).unwrap();
    assert_eq!(leaf.uri_sans, vec!["spiffe://example.org/web".to_string()]);
    assert!(!leaf.is_ca);
    let ku = leaf.key_usage.unwrap();
    assert!(ku.critical && ku.digital_signature && !ku.key_cert_sign && !ku.crl_sign);
    let inter = CertInfo::parse(&chain[1]).unwrap();
    assert!(inter.is_ca && inter.key_usage.unwrap().key_cert_sign);
    assert_eq!(inter.uri_sans, vec!["spiffe://example.org".to_string()]);
    let root = CertInfo::parse(&f.root.der).unwrap();
    assert!(root.is_ca);
}

#[test]
fn two_uri_sans_are_refused() {
    let f = fixture();
    let chain = f.forge(&good_leaf_params(&[
        "spiffe://example.org/web",
        "spiffe://example.org/admin",
    ]));
    let err = verify(&f, &chain).unwrap_err();
    assert!(
        matches!(err, X509SvidError::MultipleUriSans { count: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("exactly one"), "{err}");
}

#[test]
fn ca_certificate_used_as_leaf_is_refused() {
    let f = fixture();
    let mut p = good_leaf_params(&["spiffe://example.org/web"]);
    p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::LeafIsCa(_))
    ));
    // The intermediate itself presented as a leaf: its ID has no path.
    let chain = vec![f.intermediate.der.clone()];
    assert!(matches!(
        verify(&f, &chain),
        Err(X509SvidError::LeafIdWithoutPath(_))
    ));
}

#[test]
fn leaf_key_usage_rules() {
    let f = fixture();
    let mut p = good_leaf_params(&["spiffe://example.org/web"]);
    p.key_usages = vec![];
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::NoKeyUsage(_))
    ));
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::NoDigitalSignature(_))
    ));
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::LeafCanSignCertificates(_))
    ));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::LeafCanSignCrls(_))
    ));
}

#[test]
fn missing_or_invalid_spiffe_id_is_refused() {
    let f = fixture();
    let mut p = good_leaf_params(&[]);
    p.subject_alt_names = vec![SanType::DnsName("web.example.org".try_into().unwrap())];
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::NoUriSan)
    ));
    let p = good_leaf_params(&["spiffe://example.org/a/../admin"]);
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::InvalidSpiffeId(_))
    ));
    let p = good_leaf_params(&["https://example.org/web"]);
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::InvalidSpiffeId(_))
    ));
}

#[test]
fn expired_certificate_is_refused_with_times() {
    let f = fixture();
    let mut p = good_leaf_params(&["spiffe://example.org/web"]);
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    p.not_after = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let err = verify(&f, &f.forge(&p)).unwrap_err();
    assert!(matches!(err, X509SvidError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("expired at"), "{err}");
}

#[test]
fn wrong_trust_domain_is_refused_even_if_signed_by_a_trusted_ca() {
    let f = fixture();
    let p = good_leaf_params(&["spiffe://evil.org/web"]);
    assert!(matches!(
        verify(&f, &f.forge(&p)),
        Err(X509SvidError::UntrustedTrustDomain(_))
    ));
}

#[test]
fn certificate_from_another_ca_of_the_same_name_is_refused() {
    let f = fixture();
    let impostor = fixture();
    let chain = impostor.issue(&web());
    assert!(matches!(
        verify(&f, &chain),
        Err(X509SvidError::UnknownAuthority { .. })
    ));
}

#[test]
fn leaf_alone_without_its_intermediate_is_refused() {
    let f = fixture();
    let chain = f.issue(&web());
    assert!(matches!(
        verify(&f, &chain[..1]),
        Err(X509SvidError::UnknownAuthority { .. })
    ));
}

#[test]
fn non_ca_intermediate_is_refused() {
    let f = fixture();
    let leaf_as_issuer = f.issue(&SpiffeId::new("spiffe://example.org/mid").unwrap());
    let chain = vec![f.issue(&web())[0].clone(), leaf_as_issuer[0].clone()];
    assert!(matches!(
        verify(&f, &chain),
        Err(X509SvidError::IntermediateNotCa { index: 1 })
    ));
}

#[test]
fn garbage_and_empty_chains_are_errors_not_panics() {
    let f = fixture();
    assert_eq!(verify(&f, &[]), Err(X509SvidError::EmptyChain));
    let junk = vec![CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])];
    assert!(matches!(
        verify(&f, &junk),
        Err(X509SvidError::Unreadable { .. })
    ));
}
