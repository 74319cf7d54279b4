//! Sigstore bundles (v0.1–v0.3) attached to an image.

use sigstore_verify::types::{
    Artifact, ArtifactDigest, Bundle, HashAlgorithm, Sha256Hash, SignatureContent,
    VerificationMaterialContent,
};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult};

use super::authority::{Authority, IdentityMatch};
use super::material::media_types;
use super::statement::bind_statement;
use super::verified::{SignatureFormat, Signer, VerifiedSignature};
use super::{PublicKey, SignatureError, TrustRoot};
use crate::digest::Digest;

/// Verify a bundle declared with `declared` media type as a signature of
/// `subject` by `authority`.
pub(super) fn verify_image_bundle(
    declared: &str,
    bytes: &[u8],
    subject: &Digest,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    let bundle = parse_gated(declared, bytes)?;
    verify_bundle(&bundle, SignatureFormat::Bundle, subject, authority, root)
}

/// Parse a bundle, refusing it unless its own `mediaType` names the same
/// version as the media type it was stored under.
pub(super) fn parse_gated(declared: &str, bytes: &[u8]) -> Result<Bundle, SignatureError> {
    let declared_version = media_types::bundle_version(declared)
        .ok_or_else(|| SignatureError::MediaType(declared.to_string()))?;
    let text = std::str::from_utf8(bytes).map_err(|e| SignatureError::malformed("bundle", e))?;
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SignatureError::malformed("bundle", e))?;
    let inner = raw.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    if media_types::bundle_version(inner) != Some(declared_version) {
        return Err(SignatureError::MediaTypeMismatch {
            declared: declared.to_string(),
            inner: inner.to_string(),
        });
    }
    Bundle::from_json(text).map_err(|e| SignatureError::malformed("bundle", e))
}

/// Verify a parsed bundle (from any storage format) over `subject`.
pub(super) fn verify_bundle(
    bundle: &Bundle,
    format: SignatureFormat,
    subject: &Digest,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    let (signer, tlog_verified) = check_signer(bundle, digest_artifact(subject)?, authority, root)?;
    let statement = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => Some(bind_statement(
            &env.payload_type,
            env.payload.as_bytes(),
            subject,
        )?),
        _ => None,
    };
    Ok(VerifiedSignature::new(
        subject.clone(),
        authority.name(),
        signer,
        format,
        statement,
        tlog_verified,
    ))
}

/// Verify the bundle's signature over `artifact` and that `authority`
/// made it. Binding the artifact to the admitted image is the caller's job.
pub(super) fn check_signer(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<(Signer, bool), SignatureError> {
    match authority {
        Authority::Keyless {
            identity, issuer, ..
        } => verify_keyless(bundle, artifact, identity, issuer, root),
        Authority::Key {
            key, ignore_tlog, ..
        } => verify_with_key(bundle, artifact, key, *ignore_tlog, root),
    }
}

fn digest_artifact(subject: &Digest) -> Result<Artifact<'static>, SignatureError> {
    let hash =
        Sha256Hash::from_hex(subject.hex()).map_err(|e| SignatureError::malformed("digest", e))?;
    Ok(Artifact::from_digest(ArtifactDigest::sha256(hash)))
}

fn verify_keyless(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    identity: &IdentityMatch,
    issuer: &str,
    root: Option<&TrustRoot>,
) -> Result<(Signer, bool), SignatureError> {
    let root = root.ok_or(SignatureError::NoTrustRoot("keyless verification"))?;
    if matches!(
        bundle.verification_material.content,
        VerificationMaterialContent::PublicKey(_)
    ) {
        return Err(SignatureError::KeyForKeyless);
    }
    let mut policy = VerificationPolicy::any_identity().require_issuer(issuer);
    if let IdentityMatch::Exact(exact) = identity {
        policy = policy.require_identity(exact.as_str());
    }
    let result = root
        .verifier()
        .verify(artifact.clone(), bundle, &policy)
        .map_err(|e| SignatureError::Sigstore(e.to_string()))?;
    let san = result
        .identity()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if !identity.matches(&san) {
        return Err(SignatureError::Identity {
            found: san,
            wanted: identity.describe(),
        });
    }
    Ok((
        Signer::Certificate {
            identity: san,
            issuer: result.issuer().unwrap_or(issuer).to_string(),
        },
        proved_in_log(&result),
    ))
}

fn proved_in_log(result: &VerificationResult) -> bool {
    result.tlog_verified() || !result.verified_timestamps().is_empty()
}

fn verify_with_key(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    key: &PublicKey,
    ignore_tlog: bool,
    root: Option<&TrustRoot>,
) -> Result<(Signer, bool), SignatureError> {
    let signer = Signer::Key {
        fingerprint: key.fingerprint().to_string(),
    };
    if !matches!(
        bundle.verification_material.content,
        VerificationMaterialContent::PublicKey(_)
    ) {
        return Err(SignatureError::CertificateForKey {
            key: key.fingerprint().to_string(),
        });
    }
    let material = &bundle.verification_material;
    let has_evidence = !material.tlog_entries.is_empty()
        || !material
            .timestamp_verification_data
            .rfc3161_timestamps
            .is_empty();
    match (has_evidence, root) {
        (true, Some(root)) => {
            let mut policy = PublicKeyVerificationPolicy::new(key.der().clone());
            if ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            let result = root
                .verifier()
                .verify(artifact.clone(), bundle, &policy)
                .map_err(|e| SignatureError::Sigstore(e.to_string()))?;
            Ok((signer, proved_in_log(&result)))
        }
        (true, None) if !ignore_tlog => {
            Err(SignatureError::NoTrustRoot("transparency log verification"))
        }
        (false, _) if !ignore_tlog => Err(SignatureError::NoTlog {
            key: key.fingerprint().to_string(),
        }),
        _ => {
            verify_content_with_key(&bundle.content, &artifact, key)?;
            Ok((signer, false))
        }
    }
}

/// The signature check alone, for keys trusted without a transparency log.
fn verify_content_with_key(
    content: &SignatureContent,
    artifact: &Artifact<'_>,
    key: &PublicKey,
) -> Result<(), SignatureError> {
    match content {
        SignatureContent::DsseEnvelope(env) => {
            let pae = sigstore_verify::types::dsse::pae(&env.payload_type, env.payload.as_bytes());
            key.verify(&pae, env.signature.sig.as_bytes())
        }
        SignatureContent::MessageSignature(msg) => match artifact {
            Artifact::Blob(blob) => key.verify(blob, msg.signature.as_bytes()),
            Artifact::Digest(want) => {
                let digest = msg.message_digest.as_ref().ok_or_else(|| {
                    SignatureError::malformed("bundle", "message signature without messageDigest")
                })?;
                if digest.algorithm != HashAlgorithm::Sha2256
                    || digest.digest.as_bytes() != want.as_bytes()
                {
                    return Err(SignatureError::DigestMismatch {
                        signed: format!("sha256:{}", hex::encode(digest.digest.as_bytes())),
                        admitted: format!("sha256:{}", hex::encode(want.as_bytes())),
                    });
                }
                key.verify_prehashed(want.as_bytes(), msg.signature.as_bytes())
            }
            _ => Err(SignatureError::malformed("artifact", "unknown kind")),
        },
        _ => Err(SignatureError::malformed("bundle", "unknown content")),
    }
}

/// What a detached (blob) bundle is checked against.
pub enum BlobSubject<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// Only the artifact's SHA-256 digest.
    Digest(Digest),
}

/// Verify a standalone bundle over a blob (the sigstore-conformance
/// `verify-bundle` contract).
pub fn verify_blob_bundle(
    bundle_json: &[u8],
    subject: BlobSubject<'_>,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    let text =
        std::str::from_utf8(bundle_json).map_err(|e| SignatureError::malformed("bundle", e))?;
    let bundle = Bundle::from_json(text).map_err(|e| SignatureError::malformed("bundle", e))?;
    let (digest, artifact) = match subject {
        BlobSubject::Bytes(bytes) => (Digest::of(bytes), Artifact::from_blob(bytes)),
        BlobSubject::Digest(d) => {
            let artifact = digest_artifact(&d)?;
            (d, artifact)
        }
    };
    let (signer, tlog) = check_signer(&bundle, artifact, authority, root)?;
    let statement = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => Some(bind_statement(
            &env.payload_type,
            env.payload.as_bytes(),
            &digest,
        )?),
        _ => None,
    };
    Ok(VerifiedSignature::new(
        digest,
        authority.name(),
        signer,
        SignatureFormat::Bundle,
        statement,
        tlog,
    ))
}
