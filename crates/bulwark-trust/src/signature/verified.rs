//! The proof that a signature was verified.

use serde::Serialize;

use crate::digest::Digest;

/// How the verified signature was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureFormat {
    /// cosign `sha256-<hex>.sig` simple-signing payload.
    SimpleSigning,
    /// cosign `sha256-<hex>.att` DSSE envelope.
    LegacyDsse,
    /// Sigstore bundle (message signature or DSSE).
    Bundle,
}

/// Who signed, as established by verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signer {
    Key { fingerprint: String },
    Certificate { identity: String, issuer: String },
}

/// A signature over `subject` that verified against an authority.
///
/// Only this crate's verifier constructs it: holding one proves the
/// cryptographic checks ran and the signature binds to `subject`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedSignature {
    subject: Digest,
    authority: String,
    signer: Signer,
    format: SignatureFormat,
    /// in-toto predicate type when the signature is over a statement.
    predicate_type: Option<String>,
    #[serde(skip)]
    predicate: Option<serde_json::Value>,
    tlog_verified: bool,
}

impl VerifiedSignature {
    pub(crate) fn new(
        subject: Digest,
        authority: &str,
        signer: Signer,
        format: SignatureFormat,
        statement: Option<(String, serde_json::Value)>,
        tlog_verified: bool,
    ) -> VerifiedSignature {
        let (predicate_type, predicate) = match statement {
            Some((t, p)) => (Some(t), Some(p)),
            None => (None, None),
        };
        VerifiedSignature {
            subject,
            authority: authority.to_string(),
            signer,
            format,
            predicate_type,
            predicate,
            tlog_verified,
        }
    }

    pub fn subject(&self) -> &Digest {
        &self.subject
    }
    pub fn authority(&self) -> &str {
        &self.authority
    }
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
    pub fn format(&self) -> SignatureFormat {
        self.format
    }
    pub fn predicate_type(&self) -> Option<&str> {
        self.predicate_type.as_deref()
    }
    pub fn predicate(&self) -> Option<&serde_json::Value> {
        self.predicate.as_ref()
    }
    pub fn tlog_verified(&self) -> bool {
        self.tlog_verified
    }
}
