//! Key-based signing in cosign's formats: a simple-signing layer for a
//! `sha256-<hex>.sig` manifest, and a Sigstore bundle v0.3 with a DSSE
//! in-toto statement (cosign v3's image signature and attestations).
//!
//! Keys are generated in memory (aws-lc-rs). No transparency log is
//! involved, so what these sign verifies only with `ignoreTlog: true`.

use std::collections::BTreeMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use super::SignatureError;
use super::material::media_types;
use super::statement::IN_TOTO_PAYLOAD_TYPE;
use crate::digest::Digest;
use crate::reference::ImageRef;

/// Key algorithms cosign supports for key-based signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    Ed25519,
    Rsa2048,
}

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// An in-memory signing key.
pub struct SigningKey {
    inner: Inner,
}

impl SigningKey {
    /// A fresh key of `kind`.
    pub fn generate(kind: KeyKind) -> Result<SigningKey, SignatureError> {
        let fail = |e: aws_lc_rs::error::Unspecified| SignatureError::Key(format!("generate: {e}"));
        let inner = match kind {
            KeyKind::EcdsaP256 => {
                Inner::Ecdsa(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(fail)?)
            }
            KeyKind::Ed25519 => Inner::Ed25519(Ed25519KeyPair::generate().map_err(fail)?),
            KeyKind::Rsa2048 => Inner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?),
        };
        Ok(SigningKey { inner })
    }

    /// The public key as PEM SubjectPublicKeyInfo (`cosign.pub` format).
    pub fn public_key_pem(&self) -> Result<String, SignatureError> {
        let der = match &self.inner {
            Inner::Ecdsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Ed25519(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|e| SignatureError::Key(format!("encode public key: {e}")))?;
        let body = B64.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        Ok(format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ))
    }

    /// Sign `message` (ECDSA: ASN.1 DER over SHA-256; RSA: PKCS#1 v1.5 SHA-256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let rng = SystemRandom::new();
        let fail = |e: aws_lc_rs::error::Unspecified| SignatureError::Key(format!("sign: {e}"));
        match &self.inner {
            Inner::Ecdsa(k) => Ok(k.sign(&rng, message).map_err(fail)?.as_ref().to_vec()),
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
        }
    }

    /// A cosign simple-signing layer for `image` at `digest`: the payload
    /// and the layer annotations (signature only: no certificate, no Rekor).
    pub fn simple_signing_layer(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<(Vec<u8>, BTreeMap<String, String>), SignatureError> {
        let payload = json!({
            "critical": {
                "identity": {"docker-reference": image.name()},
                "image": {"docker-manifest-digest": digest.to_string()},
                "type": "cosign container image signature",
            },
            "optional": null,
        })
        .to_string()
        .into_bytes();
        let signature = self.sign(&payload)?;
        let annotations = BTreeMap::from([(
            media_types::ANN_SIGNATURE.to_string(),
            B64.encode(signature),
        )]);
        Ok((payload, annotations))
    }

    /// A Sigstore bundle v0.3 holding a DSSE envelope over an in-toto
    /// statement about `digest` with `predicate_type` and `predicate`.
    pub fn dsse_bundle(
        &self,
        image: &ImageRef,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Result<Vec<u8>, SignatureError> {
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": image.name(), "digest": {"sha256": digest.hex()}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        })
        .to_string();
        let pae = sigstore_verify::types::dsse::pae(IN_TOTO_PAYLOAD_TYPE, statement.as_bytes());
        let signature = self.sign(&pae)?;
        let bundle = json!({
            "mediaType": media_types::BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
            "dsseEnvelope": {
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "payload": B64.encode(statement.as_bytes()),
                "signatures": [{"sig": B64.encode(signature), "keyid": ""}],
            },
        });
        Ok(bundle.to_string().into_bytes())
    }
}
