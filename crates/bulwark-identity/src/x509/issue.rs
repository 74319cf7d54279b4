//! Issuing X.509-SVIDs and the CA certificates above them.
//!
//! Every leaf carries exactly one URI SAN (its SPIFFE ID), `cA=false`, a
//! critical key usage of `digitalSignature` only, and the `serverAuth` and
//! `clientAuth` extended key usages (`X509-SVID.md` §2, §4). Signing
//! certificates carry `cA=true`, `keyCertSign` + `cRLSign`, and the path-less
//! SPIFFE ID of their trust domain (§3.2).

use std::fmt;
use std::time::{Duration, SystemTime};

use bulwark_core::spiffe::SpiffeId;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

/// Backdating of `notBefore`, so that peers whose clocks run slightly behind
/// accept a fresh certificate.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(30);

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("generating a P-256 key pair: {0}")]
    KeyGen(#[source] rcgen::Error),
    #[error("encoding the certificate for {subject}: {source}")]
    Encode {
        subject: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("the SPIFFE ID {0} names a trust domain, not a workload: an SVID needs a path")]
    NoPath(SpiffeId),
    #[error("the SPIFFE ID {id} is not in the CA's trust domain {trust_domain}")]
    ForeignTrustDomain { id: SpiffeId, trust_domain: String },
    #[error("the signing CA expired at {not_after:?}; rotate or renew it first")]
    IssuerExpired { not_after: SystemTime },
    #[error("a DNS name in the request is invalid: {0:?}")]
    DnsName(String),
    #[error("the random number generator failed")]
    Random,
}

/// A CA certificate together with its private key.
pub struct CaCert {
    pub der: CertificateDer<'static>,
    pub key: KeyPair,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl fmt::Debug for CaCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCert")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// What to put in a leaf.
#[derive(Debug, Clone)]
pub struct LeafRequest<'a> {
    pub id: &'a SpiffeId,
    pub ttl: Duration,
    pub now: SystemTime,
    /// Extra DNS SANs (allowed by the spec next to the one URI SAN).
    pub dns_names: &'a [String],
}

/// An issued X.509-SVID with its private key.
pub struct X509Svid {
    pub spiffe_id: SpiffeId,
    /// Leaf first, then the intermediates up to (not including) the root.
    pub chain: Vec<CertificateDer<'static>>,
    /// Unencrypted PKCS#8 DER, as the Workload API hands it out.
    pub key_pkcs8: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Clone for X509Svid {
    fn clone(&self) -> Self {
        X509Svid {
            spiffe_id: self.spiffe_id.clone(),
            chain: self.chain.clone(),
            key_pkcs8: self.key_pkcs8.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

impl fmt::Debug for X509Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Svid")
            .field("spiffe_id", &self.spiffe_id)
            .field("chain_len", &self.chain.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Parameters for a signing (CA) certificate of `trust_domain_id`
/// (`spiffe://<td>`), valid from `now` for `ttl`.
pub fn ca_params(
    trust_domain_id: &SpiffeId,
    common_name: &str,
    now: SystemTime,
    ttl: Duration,
    path_len: u8,
) -> Result<CertificateParams, IssueError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Bulwark");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri_san(trust_domain_id)?];
    params.serial_number = Some(random_serial()?);
    params.not_before = to_offset(now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now));
    params.not_after = to_offset(now + ttl);
    Ok(params)
}

/// Generates a fresh P-256 key pair.
pub fn new_key() -> Result<KeyPair, IssueError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(IssueError::KeyGen)
}

/// A self-signed root CA certificate.
pub fn self_signed_ca(params: &CertificateParams) -> Result<CaCert, IssueError> {
    let key = new_key()?;
    let cert = params
        .self_signed(&key)
        .map_err(|source| IssueError::Encode {
            subject: "root CA".into(),
            source,
        })?;
    Ok(CaCert {
        der: cert.der().clone(),
        key,
        not_before: from_offset(params.not_before),
        not_after: from_offset(params.not_after),
    })
}

/// A CA certificate signed by `parent`.
pub fn signed_ca(params: &CertificateParams, parent: &CaCert) -> Result<CaCert, IssueError> {
    let issuer = issuer_of(parent)?;
    let key = new_key()?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| IssueError::Encode {
            subject: "intermediate CA".into(),
            source,
        })?;
    Ok(CaCert {
        der: cert.der().clone(),
        key,
        not_before: from_offset(params.not_before),
        not_after: from_offset(params.not_after),
    })
}

/// Issues a leaf X.509-SVID signed by `issuer`; `chain_tail` are the
/// certificates from `issuer` up to (not including) the root.
pub fn issue_leaf(
    issuer: &CaCert,
    chain_tail: &[CertificateDer<'static>],
    req: &LeafRequest<'_>,
) -> Result<X509Svid, IssueError> {
    if req.id.is_trust_domain_id() {
        return Err(IssueError::NoPath(req.id.clone()));
    }
    if req.now >= issuer.not_after {
        return Err(IssueError::IssuerExpired {
            not_after: issuer.not_after,
        });
    }
    let params = leaf_params(issuer, req)?;
    let key = new_key()?;
    let cert = params
        .signed_by(&key, &issuer_of(issuer)?)
        .map_err(|source| IssueError::Encode {
            subject: req.id.to_string(),
            source,
        })?;
    let mut chain = vec![cert.der().clone()];
    chain.extend(chain_tail.iter().cloned());
    Ok(X509Svid {
        spiffe_id: req.id.clone(),
        chain,
        key_pkcs8: key.serialize_der(),
        not_before: from_offset(params.not_before),
        not_after: from_offset(params.not_after),
    })
}

fn leaf_params(issuer: &CaCert, req: &LeafRequest<'_>) -> Result<CertificateParams, IssueError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Bulwark");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.subject_alt_names = vec![uri_san(req.id)?];
    for dns in req.dns_names {
        let name = dns
            .clone()
            .try_into()
            .map_err(|_| IssueError::DnsName(dns.clone()))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    let not_after = (req.now + req.ttl).min(issuer.not_after);
    let not_before = req
        .now
        .checked_sub(CLOCK_SKEW_ALLOWANCE)
        .unwrap_or(req.now)
        .max(issuer.not_before);
    params.not_before = to_offset(not_before);
    params.not_after = to_offset(not_after);
    Ok(params)
}

fn issuer_of(ca: &CaCert) -> Result<Issuer<'static, &KeyPair>, IssueError> {
    Issuer::from_ca_cert_der(&ca.der, &ca.key).map_err(|source| IssueError::Encode {
        subject: "issuer".into(),
        source,
    })
}

fn uri_san(id: &SpiffeId) -> Result<SanType, IssueError> {
    id.as_str()
        .to_owned()
        .try_into()
        .map(SanType::URI)
        .map_err(|_| IssueError::DnsName(id.to_string()))
}

/// A positive 128-bit random serial number.
pub fn random_serial() -> Result<SerialNumber, IssueError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| IssueError::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero byte, so the encoding stays 16 bytes
    Ok(SerialNumber::from_slice(&bytes))
}

/// Seconds precision, as X.509 `Time` has.
fn to_offset(t: SystemTime) -> OffsetDateTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn from_offset(t: OffsetDateTime) -> SystemTime {
    u64::try_from(t.unix_timestamp()).map_or(SystemTime::UNIX_EPOCH, |s| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    })
}
