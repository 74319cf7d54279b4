//! cosign's legacy storage: `sha256-<hex>.sig` simple-signing layers and
//! `sha256-<hex>.att` DSSE layers, each with annotations carrying the
//! signature, the Fulcio certificate and the Rekor bundle (SET).
//!
//! A legacy signature with a certificate or a Rekor bundle is rewritten as
//! the equivalent Sigstore bundle v0.1 (message signature or DSSE, the
//! certificate, the log entry with its inclusion promise) and verified by
//! the same code as native bundles.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;
use sigstore_verify::types::{Artifact, Bundle, DerCertificate};

use super::bundle::check_signer;
use super::material::media_types::{ANN_BUNDLE, ANN_CERTIFICATE, ANN_SIGNATURE};
use super::statement::bind_statement;
use super::verified::{SignatureFormat, Signer, VerifiedSignature};
use super::{Authority, SignatureError, TrustRoot};
use crate::digest::Digest;

const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// Verify one layer of a `.sig` manifest.
pub(super) fn verify_simple_signing(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    subject: &Digest,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    let signature = annotation_b64(annotations, ANN_SIGNATURE)?;
    let (signer, tlog) = match direct_key(authority, annotations) {
        Some(key) => {
            key.verify(payload, &signature)?;
            (key_signer(key), false)
        }
        None => {
            let content = json!({"messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(Digest::of(payload).bytes_vec())},
                "signature": B64.encode(&signature),
            }});
            let bundle = legacy_bundle(annotations, authority, content)?;
            check_signer(&bundle, Artifact::from_blob(payload), authority, root)?
        }
    };
    bind_simple_signing(payload, subject)?;
    Ok(VerifiedSignature::new(
        subject.clone(),
        authority.name(),
        signer,
        SignatureFormat::SimpleSigning,
        None,
        tlog,
    ))
}

/// Verify one layer of an `.att` manifest (a DSSE envelope).
pub(super) fn verify_legacy_dsse(
    envelope: &[u8],
    annotations: &BTreeMap<String, String>,
    subject: &Digest,
    authority: &Authority,
    root: Option<&TrustRoot>,
) -> Result<VerifiedSignature, SignatureError> {
    let env: Envelope = serde_json::from_slice(envelope)
        .map_err(|e| SignatureError::malformed("DSSE envelope", e))?;
    let [sig] = env.signatures.as_slice() else {
        return Err(SignatureError::malformed(
            "DSSE envelope",
            format!(
                "{} signatures, exactly one is accepted",
                env.signatures.len()
            ),
        ));
    };
    let payload = B64
        .decode(&env.payload)
        .map_err(|e| SignatureError::malformed("DSSE payload", e))?;
    let (signer, tlog) = match direct_key(authority, annotations) {
        Some(key) => {
            let signature = B64
                .decode(&sig.sig)
                .map_err(|e| SignatureError::malformed("DSSE signature", e))?;
            let pae = sigstore_verify::types::dsse::pae(&env.payload_type, &payload);
            key.verify(&pae, &signature)?;
            (key_signer(key), false)
        }
        None => {
            let content = json!({"dsseEnvelope": {
                "payloadType": env.payload_type,
                "payload": env.payload,
                "signatures": [{"sig": sig.sig, "keyid": sig.keyid}],
            }});
            let bundle = legacy_bundle(annotations, authority, content)?;
            let hash = sigstore_verify::types::Sha256Hash::from_hex(subject.hex())
                .map_err(|e| SignatureError::malformed("digest", e))?;
            let artifact =
                Artifact::from_digest(sigstore_verify::types::ArtifactDigest::sha256(hash));
            check_signer(&bundle, artifact, authority, root)?
        }
    };
    let statement = bind_statement(&env.payload_type, &payload, subject)?;
    Ok(VerifiedSignature::new(
        subject.clone(),
        authority.name(),
        signer,
        SignatureFormat::LegacyDsse,
        Some(statement),
        tlog,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
    #[serde(default)]
    keyid: String,
}

/// The key to check the signature with directly: a key authority that
/// waives the transparency log, on a layer that carries no Rekor bundle.
fn direct_key<'a>(
    authority: &'a Authority,
    annotations: &BTreeMap<String, String>,
) -> Option<&'a super::PublicKey> {
    match authority {
        Authority::Key {
            key,
            ignore_tlog: true,
            ..
        } if !annotations.contains_key(ANN_BUNDLE) => Some(key),
        _ => None,
    }
}

fn key_signer(key: &super::PublicKey) -> Signer {
    Signer::Key {
        fingerprint: key.fingerprint().to_string(),
    }
}

/// The simple-signing payload must name the admitted digest.
fn bind_simple_signing(payload: &[u8], subject: &Digest) -> Result<(), SignatureError> {
    let doc: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| SignatureError::malformed("simple-signing payload", e))?;
    let critical = &doc["critical"];
    if critical["type"].as_str() != Some(SIMPLE_SIGNING_TYPE) {
        return Err(SignatureError::malformed(
            "simple-signing payload",
            format!("critical.type is not {SIMPLE_SIGNING_TYPE:?}"),
        ));
    }
    let signed = critical["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or("");
    if signed != subject.to_string() {
        return Err(SignatureError::DigestMismatch {
            signed: signed.to_string(),
            admitted: subject.to_string(),
        });
    }
    Ok(())
}

fn annotation_b64(
    annotations: &BTreeMap<String, String>,
    key: &str,
) -> Result<Vec<u8>, SignatureError> {
    let value = annotations
        .get(key)
        .ok_or_else(|| SignatureError::malformed("cosign layer", format!("no {key} annotation")))?;
    B64.decode(value.trim())
        .map_err(|e| SignatureError::malformed("cosign layer", format!("{key}: {e}")))
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The v0.1 bundle equivalent to a legacy layer's annotations.
fn legacy_bundle(
    annotations: &BTreeMap<String, String>,
    authority: &Authority,
    content: serde_json::Value,
) -> Result<Bundle, SignatureError> {
    let material = match (annotations.get(ANN_CERTIFICATE), authority) {
        (Some(pem), _) => {
            let der = DerCertificate::from_pem(pem)
                .map_err(|e| SignatureError::malformed("cosign certificate", e))?;
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(der.as_bytes())}]}})
        }
        (None, Authority::Key { .. }) => json!({"publicKey": {"hint": ""}}),
        (None, Authority::Keyless { .. }) => return Err(SignatureError::KeyForKeyless),
    };
    let mut material = material;
    material["tlogEntries"] = json!(match annotations.get(ANN_BUNDLE) {
        Some(raw) => vec![tlog_entry(raw)?],
        None => Vec::new(),
    });
    let mut bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
    });
    if let (Some(obj), Some(extra)) = (bundle.as_object_mut(), content.as_object()) {
        obj.extend(extra.clone());
    }
    Bundle::from_json(&bundle.to_string()).map_err(|e| SignatureError::malformed("cosign layer", e))
}

fn tlog_entry(raw: &str) -> Result<serde_json::Value, SignatureError> {
    let rb: RekorBundle = serde_json::from_str(raw)
        .map_err(|e| SignatureError::malformed("cosign Rekor bundle", e))?;
    let body = B64
        .decode(&rb.payload.body)
        .map_err(|e| SignatureError::malformed("cosign Rekor bundle body", e))?;
    let kind: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| SignatureError::malformed("cosign Rekor bundle body", e))?;
    let log_id = hex::decode(&rb.payload.log_id)
        .map_err(|e| SignatureError::malformed("cosign Rekor bundle logID", e))?;
    Ok(json!({
        "logIndex": rb.payload.log_index.to_string(),
        "logId": {"keyId": B64.encode(log_id)},
        "kindVersion": {
            "kind": kind["kind"].as_str().unwrap_or(""),
            "version": kind["apiVersion"].as_str().unwrap_or(""),
        },
        "integratedTime": rb.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": rb.set},
        "canonicalizedBody": rb.payload.body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_for_another_digest_is_refused() {
        let admitted = Digest::of(b"admitted");
        let other = Digest::of(b"other");
        let payload = json!({"critical": {"type": SIMPLE_SIGNING_TYPE,
            "image": {"docker-manifest-digest": other.to_string()},
            "identity": {"docker-reference": "x"}}, "optional": null})
        .to_string();
        assert!(matches!(
            bind_simple_signing(payload.as_bytes(), &admitted),
            Err(SignatureError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn payload_of_another_type_is_refused() {
        let d = Digest::of(b"x");
        let payload = json!({"critical": {"type": "atomic container signature",
            "image": {"docker-manifest-digest": d.to_string()}}})
        .to_string();
        assert!(bind_simple_signing(payload.as_bytes(), &d).is_err());
    }
}
