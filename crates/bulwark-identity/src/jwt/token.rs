//! Issuing and validating JWT-SVIDs (`standards/JWT-SVID.md`).
//!
//! Tokens are JWS Compact Serialization. The header may carry only `alg`,
//! `kid` and `typ` (`JWT` or `JOSE`); `alg` must be one of the RS/ES/PS
//! 256/384/512 algorithms — `none` and HMAC are never accepted. The claims
//! must carry `sub` (a SPIFFE ID), `aud` (containing the validator's
//! audience) and `exp` (in the future). The signing key is looked up by `kid`
//! in the bundle of the subject's trust domain only.

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaPublicKeyComponents};
use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use serde_json::{Map, Value, json};

use super::jwk::{Curve, JwtPublicKey, b64url, b64url_decode};

/// Longest token accepted for validation.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Why a JWT-SVID could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum JwtIssueError {
    #[error("JWT signing key is not a valid P-256 PKCS#8 key")]
    BadKey,
    #[error("generating or using the JWT signing key failed")]
    Crypto,
    #[error("a JWT-SVID needs at least one audience")]
    NoAudience,
}

/// Why a token is not a valid JWT-SVID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtSvidError {
    #[error("token is {len} bytes, the limit is {MAX_TOKEN_LEN}")]
    TooLong { len: usize },
    #[error("token is not JWS Compact Serialization (three base64url parts)")]
    Malformed,
    #[error("token {part} is not a JSON object")]
    BadJson { part: &'static str },
    #[error("token header carries {0:?}; only alg, kid and typ are allowed")]
    ForbiddenHeader(String),
    #[error("token algorithm {0:?} is not allowed (RS/ES/PS 256/384/512 are)")]
    UnsupportedAlgorithm(String),
    #[error("token typ {0:?} is not allowed (JWT or JOSE)")]
    BadType(String),
    #[error("token header has no key id (kid)")]
    MissingKeyId,
    #[error("token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("token sub {sub:?} is not a SPIFFE ID: {reason}")]
    BadSubject { sub: String, reason: String },
    #[error("token audience {audience:?} does not include {expected:?}")]
    WrongAudience {
        audience: Vec<String>,
        expected: String,
    },
    #[error("token for {sub} expired at {exp} (now {now}, unix seconds)")]
    Expired { sub: SpiffeId, exp: u64, now: u64 },
    #[error("token for {sub} is not valid before {nbf} (now {now}, unix seconds)")]
    NotYetValid { sub: SpiffeId, nbf: u64, now: u64 },
    #[error("no JWT bundle for trust domain {0}")]
    UntrustedTrustDomain(TrustDomain),
    #[error("trust domain {trust_domain} has no JWT authority with key id {kid:?}")]
    UnknownKeyId {
        trust_domain: TrustDomain,
        kid: String,
    },
    #[error("token algorithm {alg} does not fit the {kid:?} key's type")]
    KeyMismatch { alg: String, kid: String },
    #[error("token signature does not verify with key {kid:?}")]
    BadSignature { kid: String },
}

/// The JWT authorities trusted for each trust domain.
pub trait JwtBundleSource {
    /// `None` when `td` has no JWT bundle at all.
    fn jwt_authorities(&self, td: &TrustDomain) -> Option<Vec<(String, JwtPublicKey)>>;
}

/// An issued JWT-SVID.
#[derive(Debug, Clone)]
pub struct JwtSvid {
    pub spiffe_id: SpiffeId,
    pub token: String,
    pub expiry: SystemTime,
}

/// A JWT-SVID whose signature and claims were verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwtSvid {
    spiffe_id: SpiffeId,
    claims: Map<String, Value>,
}

impl VerifiedJwtSvid {
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// An ES256 key that signs JWT-SVIDs, with its key id.
pub struct JwtSigner {
    kid: String,
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A new key with a random 32-character key id.
    pub fn generate() -> Result<Self, JwtIssueError> {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
            .map_err(|_| JwtIssueError::Crypto)?;
        let mut kid = [0u8; 24];
        aws_lc_rs::rand::fill(&mut kid).map_err(|_| JwtIssueError::Crypto)?;
        Self::from_pkcs8(b64url(kid), doc.as_ref().to_vec())
    }

    pub fn from_pkcs8(kid: String, pkcs8: Vec<u8>) -> Result<Self, JwtIssueError> {
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| JwtIssueError::BadKey)?;
        Ok(JwtSigner { kid, pkcs8, key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> JwtPublicKey {
        JwtPublicKey::Ec {
            curve: Curve::P256,
            point: self.key.public_key().as_ref().to_vec(),
        }
    }

    /// Signs a JWT-SVID for `sub` and `audience`, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        sub: &SpiffeId,
        audience: &[String],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<JwtSvid, JwtIssueError> {
        if audience.is_empty() {
            return Err(JwtIssueError::NoAudience);
        }
        let iat = unix_secs(now);
        let exp = iat + ttl.as_secs().max(1);
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let claims = json!({"sub": sub.as_str(), "aud": audience, "exp": exp, "iat": iat});
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| JwtIssueError::Crypto)?;
        Ok(JwtSvid {
            spiffe_id: sub.clone(),
            token: format!("{signing_input}.{}", b64url(sig.as_ref())),
            expiry: SystemTime::UNIX_EPOCH + Duration::from_secs(exp),
        })
    }
}

/// Validates `token` for `audience` at `now`.
pub fn validate_jwt_svid(
    token: &str,
    audience: &str,
    bundles: &dyn JwtBundleSource,
    now: SystemTime,
) -> Result<VerifiedJwtSvid, JwtSvidError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtSvidError::TooLong { len: token.len() });
    }
    let parts = token.split('.').collect::<Vec<_>>();
    let [header_b64, claims_b64, sig_b64] = parts.as_slice() else {
        return Err(JwtSvidError::Malformed);
    };
    let header = decode_object(header_b64, "header")?;
    let (alg, kid) = check_header(&header)?;
    let claims = decode_object(claims_b64, "claims")?;
    let sub = subject(&claims)?;
    let sig = b64url_decode(sig_b64).ok_or(JwtSvidError::Malformed)?;
    let key = find_key(bundles, &sub.trust_domain(), &kid)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    verify_signature(&alg, &kid, &key, signing_input.as_bytes(), &sig)?;
    check_audience(&claims, audience)?;
    check_times(&claims, &sub, unix_secs(now))?;
    Ok(VerifiedJwtSvid {
        spiffe_id: sub,
        claims,
    })
}

fn decode_object(part: &str, name: &'static str) -> Result<Map<String, Value>, JwtSvidError> {
    let bytes = b64url_decode(part).ok_or(JwtSvidError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtSvidError::BadJson { part: name }),
    }
}

const ALLOWED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
];

fn check_header(header: &Map<String, Value>) -> Result<(String, String), JwtSvidError> {
    if let Some(key) = header
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "kid" | "typ"))
    {
        return Err(JwtSvidError::ForbiddenHeader(key.clone()));
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) if ALLOWED_ALGS.contains(&alg.as_str()) => alg.clone(),
        Some(other) => return Err(JwtSvidError::UnsupportedAlgorithm(json_text(other))),
        None => return Err(JwtSvidError::UnsupportedAlgorithm(String::new())),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(t)) if t == "JWT" || t == "JOSE" => {}
        Some(other) => return Err(JwtSvidError::BadType(json_text(other))),
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok((alg, kid.clone())),
        _ => Err(JwtSvidError::MissingKeyId),
    }
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn subject(claims: &Map<String, Value>) -> Result<SpiffeId, JwtSvidError> {
    let Some(Value::String(sub)) = claims.get("sub") else {
        return Err(JwtSvidError::MissingClaim("sub"));
    };
    SpiffeId::new(sub.as_str()).map_err(|e| JwtSvidError::BadSubject {
        sub: sub.clone(),
        reason: e.to_string(),
    })
}

fn find_key(
    bundles: &dyn JwtBundleSource,
    td: &TrustDomain,
    kid: &str,
) -> Result<JwtPublicKey, JwtSvidError> {
    let keys = bundles
        .jwt_authorities(td)
        .ok_or_else(|| JwtSvidError::UntrustedTrustDomain(td.clone()))?;
    keys.into_iter()
        .find(|(k, _)| k == kid)
        .map(|(_, key)| key)
        .ok_or_else(|| JwtSvidError::UnknownKeyId {
            trust_domain: td.clone(),
            kid: kid.to_owned(),
        })
}

fn verify_signature(
    alg: &str,
    kid: &str,
    key: &JwtPublicKey,
    message: &[u8],
    sig: &[u8],
) -> Result<(), JwtSvidError> {
    let mismatch = || JwtSvidError::KeyMismatch {
        alg: alg.to_owned(),
        kid: kid.to_owned(),
    };
    let ok = match key {
        JwtPublicKey::Ec { curve, point } => {
            let algorithm = match (alg, curve) {
                ("ES256", Curve::P256) => &signature::ECDSA_P256_SHA256_FIXED,
                ("ES384", Curve::P384) => &signature::ECDSA_P384_SHA384_FIXED,
                ("ES512", Curve::P521) => &signature::ECDSA_P521_SHA512_FIXED,
                _ => return Err(mismatch()),
            };
            signature::UnparsedPublicKey::new(algorithm, point)
                .verify(message, sig)
                .is_ok()
        }
        JwtPublicKey::Rsa { n, e } => {
            let params = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return Err(mismatch()),
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(JwtSvidError::BadSignature {
            kid: kid.to_owned(),
        })
    }
}

fn check_audience(claims: &Map<String, Value>, expected: &str) -> Result<(), JwtSvidError> {
    let audience = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(JwtSvidError::MissingClaim("aud")),
    };
    if audience.iter().any(|a| a == expected) {
        Ok(())
    } else {
        Err(JwtSvidError::WrongAudience {
            audience,
            expected: expected.to_owned(),
        })
    }
}

fn check_times(claims: &Map<String, Value>, sub: &SpiffeId, now: u64) -> Result<(), JwtSvidError> {
    let exp = numeric(claims.get("exp")).ok_or(JwtSvidError::MissingClaim("exp"))?;
    if now >= exp {
        return Err(JwtSvidError::Expired {
            sub: sub.clone(),
            exp,
            now,
        });
    }
    if let Some(nbf) = numeric(claims.get("nbf"))
        && now < nbf
    {
        return Err(JwtSvidError::NotYetValid {
            sub: sub.clone(),
            nbf,
            now,
        });
    }
    Ok(())
}

/// A NumericDate (seconds; fractions are truncated, negatives are 0).
fn numeric(v: Option<&Value>) -> Option<u64> {
    let n = v?.as_number()?;
    n.as_u64()
        .or_else(|| n.as_f64().map(|f| if f > 0.0 { f as u64 } else { 0 }))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
