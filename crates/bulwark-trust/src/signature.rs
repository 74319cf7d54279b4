//! Signature verification for container images: cosign's legacy
//! simple-signing format (`sha256-<hex>.sig` tags), cosign's legacy DSSE
//! attestations (`.att`), and Sigstore bundles v0.1–v0.3 (OCI 1.1
//! referrers or stored beside the image), key-based and keyless.
//!
//! Bundle cryptography (certificate chains to Fulcio, SCTs, Rekor SETs,
//! inclusion proofs and checkpoints, RFC 3161 timestamps, DSSE) is done by
//! `sigstore-verify` (sigstore-rust, which passes the sigstore-conformance
//! suite) on the aws-lc-rs backend. Legacy cosign signatures are turned
//! into the equivalent v0.1 bundle so both formats go through the same
//! checks. What this module adds: strict media-type gating, the binding of
//! every signature to the digest being admitted, identity matching
//! (exact or anchored regex), and a [`VerifiedSignature`] that only a
//! successful verification can produce.

mod authority;
mod bundle;
mod error;
mod key;
mod legacy;
mod material;
mod sign;
mod statement;
mod trust_root;
mod verified;

pub use authority::{Authority, IdentityMatch};
pub use bundle::{BlobSubject, verify_blob_bundle};
pub use error::SignatureError;
pub use key::PublicKey;
pub use material::{SignatureMaterial, media_types};
pub use sign::{KeyKind, SigningKey};
pub use statement::COSIGN_SIGN_PREDICATE;
pub use trust_root::TrustRoot;
pub use verified::{SignatureFormat, Signer, VerifiedSignature};

use crate::digest::Digest;

/// Verify `material` as a signature over `subject` made by `authority`.
///
/// `trust_root` is needed for keyless authorities and for transparency-log
/// checks of key-based ones; without it those fail closed.
pub fn verify(
    material: &SignatureMaterial,
    subject: &Digest,
    authority: &Authority,
    trust_root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    match material {
        SignatureMaterial::SimpleSigning {
            payload,
            annotations,
        } => legacy::verify_simple_signing(payload, annotations, subject, authority, trust_root),
        SignatureMaterial::LegacyDsse {
            envelope,
            annotations,
        } => legacy::verify_legacy_dsse(envelope, annotations, subject, authority, trust_root),
        SignatureMaterial::Bundle { media_type, bytes } => {
            bundle::verify_image_bundle(media_type, bytes, subject, authority, trust_root)
        }
    }
}
