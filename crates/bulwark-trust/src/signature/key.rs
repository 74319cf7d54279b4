//! Public keys for key-based signatures: ECDSA P-256/P-384, Ed25519, RSA.

use sigstore_verify::crypto::{SigningScheme, VerificationKey};
use sigstore_verify::types::{DerPublicKey, SignatureBytes};

use super::SignatureError;
use crate::digest::Digest;

/// A parsed public key and the scheme its signatures use.
#[derive(Clone, Debug)]
pub struct PublicKey {
    der: DerPublicKey,
    scheme: SigningScheme,
    fingerprint: String,
}

impl PublicKey {
    /// Parse a PEM `PUBLIC KEY` (SubjectPublicKeyInfo). RSA keys verify
    /// PKCS#1 v1.5 with SHA-256, as cosign signs them.
    pub fn from_pem(pem: &str) -> Result<PublicKey, SignatureError> {
        let der = DerPublicKey::from_pem(pem).map_err(|e| SignatureError::Key(e.to_string()))?;
        let key =
            VerificationKey::from_spki(&der).map_err(|e| SignatureError::Key(e.to_string()))?;
        let fingerprint = format!("sha256:{}", &Digest::of(der.as_bytes()).hex()[..16]);
        Ok(PublicKey {
            scheme: key.scheme(),
            der,
            fingerprint,
        })
    }

    /// A short, stable name for the key: `sha256:` and 16 hex digits of
    /// the SubjectPublicKeyInfo hash.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn der(&self) -> &DerPublicKey {
        &self.der
    }

    fn key(&self) -> Result<VerificationKey, SignatureError> {
        VerificationKey::from_spki_with_scheme(&self.der, self.scheme)
            .map_err(|e| SignatureError::Key(e.to_string()))
    }

    /// Verify `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        self.key()?
            .verify(message, &SignatureBytes::from_bytes(signature))
            .map_err(|_| self.bad())
    }

    /// Verify `signature` over a message known only by its SHA-256 digest.
    pub(crate) fn verify_prehashed(
        &self,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let key = self.key()?;
        if !key.scheme().supports_prehashed() {
            return Err(SignatureError::Key(format!(
                "{} signatures cannot be checked against a digest alone",
                key.scheme().name()
            )));
        }
        key.verify_prehashed(digest, &SignatureBytes::from_bytes(signature))
            .map_err(|_| self.bad())
    }

    fn bad(&self) -> SignatureError {
        SignatureError::BadSignature {
            key: self.fingerprint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_and_private_keys() {
        assert!(PublicKey::from_pem("not a key").is_err());
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(PublicKey::from_pem(private).is_err());
    }
}
