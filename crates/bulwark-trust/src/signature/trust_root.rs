//! The Sigstore trusted root (`trusted_root.json`), given as data.

use sigstore_verify::Verifier;
use sigstore_verify::trust_root::TrustedRoot;

use super::SignatureError;
use crate::digest::Digest;

/// A trusted root: Fulcio CAs, Rekor and CT log keys, TSAs, each with its
/// validity window. Loaded from bytes only; this crate never fetches one.
pub struct TrustRoot {
    id: Digest,
    verifier: Verifier,
}

impl TrustRoot {
    /// Parse `trusted_root.json`. The root's id is the SHA-256 of the bytes,
    /// so a decision cache keyed by it is invalidated by any change.
    pub fn from_json(bytes: &[u8]) -> Result<TrustRoot, SignatureError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| SignatureError::TrustRoot(format!("not UTF-8: {e}")))?;
        let root =
            TrustedRoot::from_json(text).map_err(|e| SignatureError::TrustRoot(e.to_string()))?;
        let verifier =
            Verifier::new(&root).map_err(|e| SignatureError::TrustRoot(e.to_string()))?;
        Ok(TrustRoot {
            id: Digest::of(bytes),
            verifier,
        })
    }

    /// SHA-256 of the root's bytes.
    pub fn id(&self) -> &Digest {
        &self.id
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot").field("id", &self.id).finish()
    }
}
