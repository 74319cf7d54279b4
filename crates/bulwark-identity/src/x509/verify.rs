//! Verifying a peer's X.509-SVID chain (`X509-SVID.md` §5).
//!
//! rustls' stock verifiers reject certificates whose only name is a URI SAN,
//! and webpki cannot match URI names at all, so the work is split: webpki
//! does RFC 5280 path validation against the bundle of the trust domain the
//! leaf claims (bundles are never merged), then the SPIFFE leaf rules are
//! applied here. The result, [`VerifiedX509Svid`], can only be built by
//! [`verify_x509_svid`], so holding one proves both checks ran.

use std::time::{Duration, SystemTime};

use bulwark_core::spiffe::{SpiffeId, SpiffeIdError, TrustDomain};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use super::cert_info::{CertInfo, CertInfoError};

/// Which end of a TLS connection the peer is; picks the extended key usage
/// the leaf must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    Client,
    Server,
}

/// The CA certificates trusted for each trust domain.
pub trait X509BundleSource {
    /// The X.509 authorities of `td`, or `None` if `td` is not trusted.
    fn x509_authorities(&self, td: &TrustDomain) -> Option<Vec<CertificateDer<'static>>>;
}

/// Why a chain is not a valid X.509-SVID. Each message says what was wrong
/// with which certificate, so a refused handshake logs a usable line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509SvidError {
    #[error("no certificate presented")]
    EmptyChain,
    #[error("{which} certificate is unreadable: {source}")]
    Unreadable {
        which: &'static str,
        #[source]
        source: CertInfoError,
    },
    #[error("leaf certificate has no URI SAN, so it carries no SPIFFE ID")]
    NoUriSan,
    #[error("leaf certificate has {count} URI SANs ({uris}); an X509-SVID must have exactly one")]
    MultipleUriSans { count: usize, uris: String },
    #[error("leaf certificate URI SAN is not a valid SPIFFE ID: {0}")]
    InvalidSpiffeId(#[source] SpiffeIdError),
    #[error("leaf SPIFFE ID {0} has no path: that is a trust domain (CA) identity, not a workload")]
    LeafIdWithoutPath(SpiffeId),
    #[error(
        "leaf certificate for {0} is a CA certificate (basicConstraints cA=true) used as a leaf"
    )]
    LeafIsCa(SpiffeId),
    #[error("leaf certificate for {0} has no key usage extension")]
    NoKeyUsage(SpiffeId),
    #[error("leaf certificate for {0} has a key usage extension that is not critical")]
    KeyUsageNotCritical(SpiffeId),
    #[error("leaf certificate for {0} lacks the digitalSignature key usage")]
    NoDigitalSignature(SpiffeId),
    #[error("leaf certificate for {0} may sign certificates (keyCertSign)")]
    LeafCanSignCertificates(SpiffeId),
    #[error("leaf certificate for {0} may sign CRLs (cRLSign)")]
    LeafCanSignCrls(SpiffeId),
    #[error("intermediate certificate {index} is not a CA (cA=false or no keyCertSign)")]
    IntermediateNotCa { index: usize },
    #[error(
        "intermediate certificate {index} has SPIFFE ID {id}: a signing certificate's ID must have no path"
    )]
    IntermediateIdWithPath { index: usize, id: String },
    #[error("no trust bundle for trust domain {0}: peers from it are not trusted")]
    UntrustedTrustDomain(TrustDomain),
    #[error("certificate for {id} expired at {not_after} (now {now}, unix seconds)")]
    Expired {
        id: SpiffeId,
        not_after: u64,
        now: u64,
    },
    #[error("certificate for {id} is not valid before {not_before} (now {now}, unix seconds)")]
    NotYetValid {
        id: SpiffeId,
        not_before: u64,
        now: u64,
    },
    #[error("certificate for {id} was not issued by a CA of trust domain {trust_domain}")]
    UnknownAuthority {
        id: SpiffeId,
        trust_domain: TrustDomain,
    },
    #[error("certificate chain for {id} is invalid: {reason}")]
    Chain { id: SpiffeId, reason: String },
}

/// An X.509-SVID whose chain and SPIFFE rules were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedX509Svid {
    spiffe_id: SpiffeId,
    not_after: SystemTime,
}

impl VerifiedX509Svid {
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

/// Verifies `chain` (leaf first) against the bundle of the leaf's trust
/// domain at time `now`.
pub fn verify_x509_svid(
    chain: &[CertificateDer<'_>],
    bundles: &dyn X509BundleSource,
    now: SystemTime,
    role: PeerRole,
) -> Result<VerifiedX509Svid, X509SvidError> {
    let (leaf_der, intermediates) = chain.split_first().ok_or(X509SvidError::EmptyChain)?;
    let leaf = CertInfo::parse(leaf_der).map_err(|source| X509SvidError::Unreadable {
        which: "leaf",
        source,
    })?;
    let id = check_leaf(&leaf)?;
    check_intermediates(intermediates)?;
    let td = id.trust_domain();
    let anchors_der = bundles
        .x509_authorities(&td)
        .ok_or_else(|| X509SvidError::UntrustedTrustDomain(td.clone()))?;
    verify_path(leaf_der, intermediates, &anchors_der, now, role, &id)?;
    Ok(VerifiedX509Svid {
        spiffe_id: id,
        not_after: leaf.not_after,
    })
}

/// The leaf rules of `X509-SVID.md` §5.2, returning the leaf's SPIFFE ID.
fn check_leaf(leaf: &CertInfo) -> Result<SpiffeId, X509SvidError> {
    let uri = match leaf.uri_sans.as_slice() {
        [] => return Err(X509SvidError::NoUriSan),
        [one] => one,
        many => {
            return Err(X509SvidError::MultipleUriSans {
                count: many.len(),
                uris: many.join(", "),
            });
        }
    };
    let id = SpiffeId::new(uri.as_str()).map_err(X509SvidError::InvalidSpiffeId)?;
    if id.is_trust_domain_id() {
        return Err(X509SvidError::LeafIdWithoutPath(id));
    }
    if leaf.is_ca {
        return Err(X509SvidError::LeafIsCa(id));
    }
    let ku = leaf
        .key_usage
        .ok_or_else(|| X509SvidError::NoKeyUsage(id.clone()))?;
    if !ku.critical {
        return Err(X509SvidError::KeyUsageNotCritical(id));
    }
    if !ku.digital_signature {
        return Err(X509SvidError::NoDigitalSignature(id));
    }
    if ku.key_cert_sign {
        return Err(X509SvidError::LeafCanSignCertificates(id));
    }
    if ku.crl_sign {
        return Err(X509SvidError::LeafCanSignCrls(id));
    }
    Ok(id)
}

fn check_intermediates(intermediates: &[CertificateDer<'_>]) -> Result<(), X509SvidError> {
    for (i, der) in intermediates.iter().enumerate() {
        let index = i + 1;
        let info = CertInfo::parse(der).map_err(|source| X509SvidError::Unreadable {
            which: "intermediate",
            source,
        })?;
        let can_sign = info.key_usage.is_some_and(|ku| ku.key_cert_sign);
        if !info.is_ca || !can_sign {
            return Err(X509SvidError::IntermediateNotCa { index });
        }
        if let Some(uri) = info.uri_sans.iter().find(|u| has_path(u)) {
            return Err(X509SvidError::IntermediateIdWithPath {
                index,
                id: uri.clone(),
            });
        }
    }
    Ok(())
}

fn has_path(uri: &str) -> bool {
    SpiffeId::new(uri).map_or(true, |id| !id.is_trust_domain_id())
}

fn verify_path(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors_der: &[CertificateDer<'static>],
    now: SystemTime,
    role: PeerRole,
    id: &SpiffeId,
) -> Result<(), X509SvidError> {
    let chain_err = |reason: String| X509SvidError::Chain {
        id: id.clone(),
        reason,
    };
    let anchors = anchors_der
        .iter()
        .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
        .collect::<Vec<_>>();
    if anchors.is_empty() {
        return Err(X509SvidError::UntrustedTrustDomain(id.trust_domain()));
    }
    let leaf = EndEntityCert::try_from(leaf_der).map_err(|e| chain_err(e.to_string()))?;
    let usage = match role {
        PeerRole::Client => KeyUsage::client_auth(),
        PeerRole::Server => KeyUsage::server_auth(),
    };
    let now_unix = unix_secs(now);
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(now_unix)),
        usage,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| map_webpki_error(e, id, now_unix))
}

fn map_webpki_error(err: webpki::Error, id: &SpiffeId, now: u64) -> X509SvidError {
    match err {
        webpki::Error::CertExpired { not_after, .. } => X509SvidError::Expired {
            id: id.clone(),
            not_after: not_after.as_secs(),
            now,
        },
        webpki::Error::CertNotValidYet { not_before, .. } => X509SvidError::NotYetValid {
            id: id.clone(),
            not_before: not_before.as_secs(),
            now,
        },
        // A chain whose issuer names match but whose signatures do not is
        // a certificate from another CA of the same name.
        webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
            X509SvidError::UnknownAuthority {
                id: id.clone(),
                trust_domain: id.trust_domain(),
            }
        }
        webpki::Error::CaUsedAsEndEntity => X509SvidError::LeafIsCa(id.clone()),
        other => X509SvidError::Chain {
            id: id.clone(),
            reason: other.to_string(),
        },
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
