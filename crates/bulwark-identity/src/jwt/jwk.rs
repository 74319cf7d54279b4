//! JSON Web Keys (RFC 7517) as SPIFFE bundles use them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// One JWK, with the members SPIFFE bundles use. Unknown members are kept
/// out; unknown `kty`/`use` values are detected by the bundle parser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kty: String,
    #[serde(default, rename = "use", skip_serializing_if = "String::is_empty")]
    pub use_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

/// The elliptic curves JWT-SVIDs may use (ES256/ES384/ES512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }
}

/// A public key that can verify JWT-SVID signatures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JwtPublicKey {
    /// `point` is the uncompressed SEC1 encoding `04 || X || Y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// Why a JWK is not a usable key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("key type {0:?} is not supported (EC and RSA are)")]
    UnsupportedKty(String),
    #[error("EC key has unsupported curve {0:?}")]
    UnsupportedCurve(String),
    #[error("{kty} key lacks member {member:?}")]
    Missing {
        kty: &'static str,
        member: &'static str,
    },
    #[error("member {member:?} is not valid base64url")]
    Base64 { member: &'static str },
    #[error("EC coordinate {member:?} is {len} bytes, {curve} needs {want}")]
    CoordinateLength {
        member: &'static str,
        len: usize,
        curve: &'static str,
        want: usize,
    },
}

impl JwtPublicKey {
    /// Reads the key material of `jwk` (its `use` and `kid` are not looked at).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwkError> {
        match jwk.kty.as_str() {
            "EC" => ec_from_jwk(jwk),
            "RSA" => Ok(JwtPublicKey::Rsa {
                n: member(jwk.n.as_deref(), "RSA", "n")?,
                e: member(jwk.e.as_deref(), "RSA", "e")?,
            }),
            other => Err(JwkError::UnsupportedKty(other.to_owned())),
        }
    }

    /// The JWK for this key with `use` and `kid` set.
    pub fn to_jwk(&self, use_: &str, kid: Option<&str>) -> Jwk {
        let mut jwk = Jwk {
            use_: use_.to_owned(),
            kid: kid.map(str::to_owned),
            ..Jwk::default()
        };
        match self {
            JwtPublicKey::Ec { curve, point } => {
                let len = curve.coordinate_len();
                jwk.kty = "EC".into();
                jwk.crv = Some(curve.name().into());
                jwk.x = point.get(1..1 + len).map(b64url);
                jwk.y = point.get(1 + len..).map(b64url);
            }
            JwtPublicKey::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(b64url(n));
                jwk.e = Some(b64url(e));
            }
        }
        jwk
    }
}

fn ec_from_jwk(jwk: &Jwk) -> Result<JwtPublicKey, JwkError> {
    let crv = jwk.crv.as_deref().ok_or(JwkError::Missing {
        kty: "EC",
        member: "crv",
    })?;
    let curve = Curve::from_name(crv).ok_or_else(|| JwkError::UnsupportedCurve(crv.to_owned()))?;
    let mut point = vec![0x04];
    for (name, value) in [("x", jwk.x.as_deref()), ("y", jwk.y.as_deref())] {
        let bytes = member(value, "EC", name)?;
        if bytes.len() != curve.coordinate_len() {
            return Err(JwkError::CoordinateLength {
                member: name,
                len: bytes.len(),
                curve: curve.name(),
                want: curve.coordinate_len(),
            });
        }
        point.extend_from_slice(&bytes);
    }
    Ok(JwtPublicKey::Ec { curve, point })
}

fn member(value: Option<&str>, kty: &'static str, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let value = value.ok_or(JwkError::Missing { kty, member: name })?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| JwkError::Base64 { member: name })
}

pub(crate) fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `x5c` values are standard (not URL-safe) base64 with padding (RFC 7517 §4.7).
pub(crate) fn b64_std(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn b64_std_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_jwk_round_trips() {
        let mut point = vec![4u8];
        point.extend((0..64).map(|i| i as u8));
        let key = JwtPublicKey::Ec {
            curve: Curve::P256,
            point,
        };
        let jwk = key.to_jwk("jwt-svid", Some("k1"));
        assert_eq!(jwk.kid.as_deref(), Some("k1"));
        assert_eq!(JwtPublicKey::from_jwk(&jwk), Ok(key));
    }

    #[test]
    fn rejects_short_coordinates_and_unknown_types() {
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64url([1u8; 31])),
            y: Some(b64url([1u8; 32])),
            ..Jwk::default()
        };
        assert!(matches!(
            JwtPublicKey::from_jwk(&jwk),
            Err(JwkError::CoordinateLength { len: 31, .. })
        ));
        let oct = Jwk {
            kty: "oct".into(),
            ..Jwk::default()
        };
        assert!(matches!(
            JwtPublicKey::from_jwk(&oct),
            Err(JwkError::UnsupportedKty(_))
        ));
    }
}
