//! SPIFFE trust bundles (`standards/SPIFFE_Trust_Domain_and_Bundle.md`): the
//! X.509 CA certificates and JWT keys of one trust domain, as the JWK Set
//! document the spec defines, and a set of bundles keyed by trust domain that
//! is never merged across trust domains.

use std::collections::BTreeMap;
use std::time::Duration;

use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::jwt::{Curve, Jwk, JwtBundleSource, JwtPublicKey, b64_std, b64_std_decode};
use crate::x509::{CertInfo, X509BundleSource};

pub const USE_X509_SVID: &str = "x509-svid";
pub const USE_JWT_SVID: &str = "jwt-svid";

/// Why a bundle document was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle for {trust_domain} is not valid JSON: {source}")]
    Json {
        trust_domain: TrustDomain,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "bundle for {trust_domain} has no \"keys\" member (an empty array revokes all keys; a missing one is an error)"
    )]
    MissingKeys { trust_domain: TrustDomain },
    #[error("bundle for {trust_domain}, key {index}: {reason}")]
    Key {
        trust_domain: TrustDomain,
        index: usize,
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Document {
    #[serde(default)]
    keys: Option<Vec<Jwk>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spiffe_sequence: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spiffe_refresh_hint: Option<u64>,
}

/// The keys of one trust domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBundle {
    trust_domain: TrustDomain,
    x509_authorities: Vec<CertificateDer<'static>>,
    jwt_authorities: Vec<(String, JwtPublicKey)>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
}

impl TrustBundle {
    pub fn new(trust_domain: TrustDomain) -> Self {
        TrustBundle {
            trust_domain,
            x509_authorities: Vec::new(),
            jwt_authorities: Vec::new(),
            sequence: None,
            refresh_hint: None,
        }
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    pub fn x509_authorities(&self) -> &[CertificateDer<'static>] {
        &self.x509_authorities
    }

    pub fn jwt_authorities(&self) -> &[(String, JwtPublicKey)] {
        &self.jwt_authorities
    }

    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = Some(sequence);
    }

    pub fn set_refresh_hint(&mut self, hint: Duration) {
        self.refresh_hint = Some(hint);
    }

    /// Adds a CA certificate unless it is already present.
    pub fn add_x509_authority(&mut self, der: CertificateDer<'static>) {
        if !self.x509_authorities.contains(&der) {
            self.x509_authorities.push(der);
        }
    }

    /// Adds a JWT key; a second key with the same `kid` replaces the first.
    pub fn add_jwt_authority(&mut self, kid: String, key: JwtPublicKey) {
        self.jwt_authorities.retain(|(k, _)| *k != kid);
        self.jwt_authorities.push((kid, key));
    }

    /// All X.509 authorities as concatenated DER, as the Workload API sends them.
    pub fn x509_der_concat(&self) -> Vec<u8> {
        self.x509_authorities
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect()
    }

    /// The JWT keys only, as a JWK Set (FetchJWTBundles).
    pub fn jwks_json(&self) -> String {
        let keys = self
            .jwt_authorities
            .iter()
            .map(|(kid, key)| key.to_jwk(USE_JWT_SVID, Some(kid)))
            .collect();
        to_json(&Document {
            keys: Some(keys),
            spiffe_sequence: None,
            spiffe_refresh_hint: None,
        })
    }

    /// The SPIFFE bundle document with both key types.
    pub fn to_spiffe_json(&self) -> String {
        let mut keys: Vec<Jwk> = self.x509_authorities.iter().map(x509_jwk).collect();
        keys.extend(
            self.jwt_authorities
                .iter()
                .map(|(kid, key)| key.to_jwk(USE_JWT_SVID, Some(kid))),
        );
        to_json(&Document {
            keys: Some(keys),
            spiffe_sequence: self.sequence,
            spiffe_refresh_hint: self.refresh_hint.map(|d| d.as_secs()),
        })
    }

    /// Parses a SPIFFE bundle document for `trust_domain`. JWKs of unknown
    /// type or use, and X.509 entries without `x5c`, are ignored (spec §4.2);
    /// of several `x5c` values only the first counts.
    pub fn parse_spiffe_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        let doc: Document = serde_json::from_slice(json).map_err(|source| BundleError::Json {
            trust_domain: trust_domain.clone(),
            source,
        })?;
        let keys = doc.keys.ok_or_else(|| BundleError::MissingKeys {
            trust_domain: trust_domain.clone(),
        })?;
        let mut bundle = TrustBundle::new(trust_domain);
        bundle.sequence = doc.spiffe_sequence;
        bundle.refresh_hint = doc.spiffe_refresh_hint.map(Duration::from_secs);
        for (index, jwk) in keys.iter().enumerate() {
            bundle.absorb(index, jwk)?;
        }
        Ok(bundle)
    }

    fn absorb(&mut self, index: usize, jwk: &Jwk) -> Result<(), BundleError> {
        let err = |reason: String| BundleError::Key {
            trust_domain: self.trust_domain.clone(),
            index,
            reason,
        };
        if !matches!(jwk.kty.as_str(), "EC" | "RSA") {
            return Ok(());
        }
        match jwk.use_.as_str() {
            USE_X509_SVID => {
                let Some(first) = jwk.x5c.as_ref().and_then(|v| v.first()) else {
                    return Ok(());
                };
                let der = b64_std_decode(first).ok_or_else(|| err("x5c is not base64".into()))?;
                CertInfo::parse(&der).map_err(|e| err(format!("x5c: {e}")))?;
                self.add_x509_authority(CertificateDer::from(der));
            }
            USE_JWT_SVID => {
                let kid = jwk
                    .kid
                    .clone()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| err("a jwt-svid key must have a kid".into()))?;
                if self.jwt_authorities.iter().any(|(k, _)| *k == kid) {
                    return Err(err(format!("duplicate kid {kid:?}")));
                }
                let key = JwtPublicKey::from_jwk(jwk).map_err(|e| err(e.to_string()))?;
                self.jwt_authorities.push((kid, key));
            }
            _ => {}
        }
        Ok(())
    }
}

fn to_json(doc: &Document) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_default()
}

/// The JWK for a CA certificate: its public key, `use: x509-svid`, and the
/// certificate itself in `x5c`; no `kid` (X509-SVID.md §6).
fn x509_jwk(der: &CertificateDer<'static>) -> Jwk {
    let mut jwk = spki_key(der)
        .map(|key| key.to_jwk(USE_X509_SVID, None))
        .unwrap_or_default();
    jwk.use_ = USE_X509_SVID.into();
    jwk.x5c = Some(vec![b64_std(der)]);
    jwk
}

/// The public key of a certificate, when it is EC (P-256/384/521) or RSA.
fn spki_key(der: &[u8]) -> Option<JwtPublicKey> {
    let info = CertInfo::parse(der).ok()?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(&info.spki_der).ok()?;
    match spki.parsed().ok()? {
        PublicKey::EC(point) => {
            let curve_oid = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
            let curve = match curve_oid.to_id_string().as_str() {
                "1.2.840.10045.3.1.7" => Curve::P256,
                "1.3.132.0.34" => Curve::P384,
                "1.3.132.0.35" => Curve::P521,
                _ => return None,
            };
            Some(JwtPublicKey::Ec {
                curve,
                point: point.data().to_vec(),
            })
        }
        PublicKey::RSA(rsa) => Some(JwtPublicKey::Rsa {
            n: strip_zeros(rsa.modulus),
            e: strip_zeros(rsa.exponent),
        }),
        _ => None,
    }
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// Bundles keyed by trust domain. A peer is checked against the bundle of
/// its own trust domain only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleSet {
    bundles: BTreeMap<TrustDomain, TrustBundle>,
}

impl BundleSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, bundle: TrustBundle) {
        self.bundles.insert(bundle.trust_domain.clone(), bundle);
    }

    pub fn get(&self, td: &TrustDomain) -> Option<&TrustBundle> {
        self.bundles.get(td)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrustBundle> {
        self.bundles.values()
    }

    /// `spiffe://<td>` -> value, the keying the Workload API uses.
    pub fn by_trust_domain_id<T>(&self, f: impl Fn(&TrustBundle) -> T) -> BTreeMap<String, T> {
        self.bundles
            .values()
            .map(|b| (trust_domain_key(&b.trust_domain), f(b)))
            .collect()
    }
}

fn trust_domain_key(td: &TrustDomain) -> String {
    SpiffeId::to_string(&td.id())
}

impl X509BundleSource for BundleSet {
    fn x509_authorities(&self, td: &TrustDomain) -> Option<Vec<CertificateDer<'static>>> {
        self.bundles
            .get(td)
            .map(|b| b.x509_authorities.clone())
            .filter(|a| !a.is_empty())
    }
}

impl JwtBundleSource for BundleSet {
    fn jwt_authorities(&self, td: &TrustDomain) -> Option<Vec<(String, JwtPublicKey)>> {
        self.bundles.get(td).map(|b| b.jwt_authorities.clone())
    }
}

#[cfg(test)]
mod tests;
