//! Image signatures in every storage format, key-based and keyless:
//! what verifies, and the tampering, digest swaps and format confusion that
//! must not.
//!
//! Key-based material is made by our own cosign-format signer; keyless
//! material comes from `../shared/data/sigstore.tar.zst` (cosign's
//! `oci-attestation.sigstore.json` with `trusted_root_pgi.json`, and the
//! conformance suite's `happy-path-v0.1` bundle).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bulwark_trust::signature::{
    self, Authority, IdentityMatch, KeyKind, PublicKey, SignatureError, SignatureFormat,
    SignatureMaterial, SigningKey, TrustRoot, media_types,
};
use bulwark_trust::{Digest, ImageRef};

fn image() -> ImageRef {
    "registry.example/app:1".parse().unwrap()
}

fn key_authority(key: &SigningKey, ignore_tlog: bool) -> Authority {
    Authority::Key {
        name: "release-key".into(),
        key: PublicKey::from_pem(&key.public_key_pem().unwrap()).unwrap(),
        ignore_tlog,
    }
}

fn simple_signing(key: &SigningKey, digest: &Digest) -> SignatureMaterial {
    let (payload, annotations) = key.simple_signing_layer(&image(), digest).unwrap();
    SignatureMaterial::SimpleSigning {
        payload,
        annotations,
    }
}

#[test]
fn simple_signing_verifies_for_each_key_algorithm() {
    for kind in [KeyKind::EcdsaP256, KeyKind::Ed25519, KeyKind::Rsa2048] {
        let key = SigningKey::generate(kind).unwrap();
        let digest = Digest::of(format!("manifest {kind:?}").as_bytes());
        let verified = signature::verify(
            &simple_signing(&key, &digest),
            &digest,
            &key_authority(&key, true),
            None,
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(verified.subject(), &digest);
        assert_eq!(verified.format(), SignatureFormat::SimpleSigning);
        assert!(!verified.tlog_verified());
    }
}

#[test]
fn signature_for_one_digest_is_refused_for_another() {
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let signed = Digest::of(b"signed manifest");
    let admitted = Digest::of(b"swapped manifest");
    let err = signature::verify(
        &simple_signing(&key, &signed),
        &admitted,
        &key_authority(&key, true),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, SignatureError::DigestMismatch { .. }),
        "{err}"
    );
}

#[test]
fn tampered_simple_signing_payload_is_refused() {
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let digest = Digest::of(b"m");
    let SignatureMaterial::SimpleSigning {
        payload,
        annotations,
    } = simple_signing(&key, &digest)
    else {
        unreachable!()
    };
    let mut tampered = payload.clone();
    tampered.extend_from_slice(b" ");
    let material = SignatureMaterial::SimpleSigning {
        payload: tampered,
        annotations: annotations.clone(),
    };
    let err = signature::verify(&material, &digest, &key_authority(&key, true), None).unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");

    let mut bad_sig = annotations;
    let sig = B64.decode(&bad_sig[media_types::ANN_SIGNATURE]).unwrap();
    let mut flipped = sig.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    bad_sig.insert(media_types::ANN_SIGNATURE.into(), B64.encode(flipped));
    let material = SignatureMaterial::SimpleSigning {
        payload,
        annotations: bad_sig,
    };
    assert!(signature::verify(&material, &digest, &key_authority(&key, true), None).is_err());
}

#[test]
fn signature_by_another_key_is_refused() {
    let signer = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let other = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let digest = Digest::of(b"m");
    let err = signature::verify(
        &simple_signing(&signer, &digest),
        &digest,
        &key_authority(&other, true),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
}

#[test]
fn key_without_tlog_needs_explicit_ignore_tlog() {
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let digest = Digest::of(b"m");
    let err = signature::verify(
        &simple_signing(&key, &digest),
        &digest,
        &key_authority(&key, false),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::NoTrustRoot(_) | SignatureError::NoTlog { .. }
        ),
        "{err}"
    );
    let bundle = key
        .dsse_bundle(
            &image(),
            &digest,
            signature::COSIGN_SIGN_PREDICATE,
            serde_json::json!({}),
        )
        .unwrap();
    let material = SignatureMaterial::Bundle {
        media_type: media_types::BUNDLE_V03.into(),
        bytes: bundle,
    };
    let err = signature::verify(&material, &digest, &key_authority(&key, false), None).unwrap_err();
    assert!(matches!(err, SignatureError::NoTlog { .. }), "{err}");
}

#[test]
fn dsse_bundle_verifies_and_binds_to_the_subject() {
    for kind in [KeyKind::EcdsaP256, KeyKind::Ed25519, KeyKind::Rsa2048] {
        let key = SigningKey::generate(kind).unwrap();
        let digest = Digest::of(b"manifest");
        let bytes = key
            .dsse_bundle(
                &image(),
                &digest,
                "https://cyclonedx.org/bom",
                serde_json::json!({"bom": 1}),
            )
            .unwrap();
        let material = SignatureMaterial::Bundle {
            media_type: media_types::BUNDLE_V03.into(),
            bytes,
        };
        let verified = signature::verify(&material, &digest, &key_authority(&key, true), None)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(verified.predicate_type(), Some("https://cyclonedx.org/bom"));
        let swapped = Digest::of(b"other manifest");
        let err =
            signature::verify(&material, &swapped, &key_authority(&key, true), None).unwrap_err();
        assert!(
            matches!(err, SignatureError::DigestMismatch { .. }),
            "{kind:?}: {err}"
        );
    }
}

#[test]
fn bundle_declared_as_another_version_is_refused() {
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let digest = Digest::of(b"manifest");
    let bytes = key
        .dsse_bundle(
            &image(),
            &digest,
            signature::COSIGN_SIGN_PREDICATE,
            serde_json::json!({}),
        )
        .unwrap();
    let declared_v01 = SignatureMaterial::Bundle {
        media_type: "application/vnd.dev.sigstore.bundle+json;version=0.1".into(),
        bytes: bytes.clone(),
    };
    let err =
        signature::verify(&declared_v01, &digest, &key_authority(&key, true), None).unwrap_err();
    assert!(
        matches!(err, SignatureError::MediaTypeMismatch { .. }),
        "{err}"
    );
    let declared_json = SignatureMaterial::Bundle {
        media_type: "application/json".into(),
        bytes,
    };
    let err =
        signature::verify(&declared_json, &digest, &key_authority(&key, true), None).unwrap_err();
    assert!(matches!(err, SignatureError::MediaType(_)), "{err}");
}

#[test]
fn dsse_with_two_signatures_is_refused() {
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let digest = Digest::of(b"manifest");
    let bytes = key
        .dsse_bundle(
            &image(),
            &digest,
            signature::COSIGN_SIGN_PREDICATE,
            serde_json::json!({}),
        )
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let env = v["dsseEnvelope"].clone();
    let sig = env["signatures"][0].clone();
    v["dsseEnvelope"]["signatures"] = serde_json::json!([sig.clone(), sig]);
    let material = SignatureMaterial::Bundle {
        media_type: media_types::BUNDLE_V03.into(),
        bytes: v.to_string().into_bytes(),
    };
    assert!(signature::verify(&material, &digest, &key_authority(&key, true), None).is_err());
    // The same envelope as a legacy .att layer.
    let mut env2 = env;
    env2["signatures"] = serde_json::json!([sig.clone(), sig]);
    let legacy = SignatureMaterial::LegacyDsse {
        envelope: env2.to_string().into_bytes(),
        annotations: BTreeMap::new(),
    };
    let err = signature::verify(&legacy, &digest, &key_authority(&key, true), None).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err}");
}

fn cosign_attestation() -> (Vec<u8>, TrustRoot, Digest) {
    let dir = common::sigstore().join("sigstore+cosign/pkg/cosign/testdata");
    let bundle = std::fs::read(dir.join("oci-attestation.sigstore.json")).unwrap();
    let root =
        TrustRoot::from_json(&std::fs::read(dir.join("trusted_root_pgi.json")).unwrap()).unwrap();
    let subject: Digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
        .parse()
        .unwrap();
    (bundle, root, subject)
}

fn keyless(identity: IdentityMatch, issuer: &str) -> Authority {
    Authority::Keyless {
        name: "ci".into(),
        identity,
        issuer: issuer.into(),
    }
}

#[test]
fn keyless_cosign_attestation_verifies_against_its_trusted_root() {
    let (bytes, root, subject) = cosign_attestation();
    let material = SignatureMaterial::Bundle {
        media_type: media_types::BUNDLE_V03.into(),
        bytes,
    };
    let authority = keyless(
        IdentityMatch::Exact("cody@soyland.com".into()),
        "https://github.com/login/oauth",
    );
    let verified = signature::verify(&material, &subject, &authority, Some(&root)).unwrap();
    assert!(verified.tlog_verified());
    assert_eq!(
        verified.predicate_type(),
        Some("https://cosign.sigstore.dev/attestation/v1")
    );
    let regex = keyless(
        IdentityMatch::regex(r"[a-z]+@soyland\.com").unwrap(),
        "https://github.com/login/oauth",
    );
    assert!(signature::verify(&material, &subject, &regex, Some(&root)).is_ok());
}

#[test]
fn keyless_forged_identity_or_issuer_is_refused() {
    let (bytes, root, subject) = cosign_attestation();
    let material = SignatureMaterial::Bundle {
        media_type: media_types::BUNDLE_V03.into(),
        bytes,
    };
    for authority in [
        keyless(
            IdentityMatch::Exact("admin@soyland.com".into()),
            "https://github.com/login/oauth",
        ),
        keyless(
            IdentityMatch::Exact("cody@soyland.com".into()),
            "https://accounts.google.com",
        ),
        keyless(
            IdentityMatch::regex(r"cody@soyland").unwrap(),
            "https://github.com/login/oauth",
        ),
    ] {
        assert!(
            signature::verify(&material, &subject, &authority, Some(&root)).is_err(),
            "{}",
            authority.describe()
        );
    }
    assert!(matches!(
        signature::verify(
            &material,
            &subject,
            &keyless(
                IdentityMatch::Exact("cody@soyland.com".into()),
                "https://github.com/login/oauth"
            ),
            None
        ),
        Err(SignatureError::NoTrustRoot(_))
    ));
    let swapped = Digest::of(b"another image");
    let authority = keyless(
        IdentityMatch::Exact("cody@soyland.com".into()),
        "https://github.com/login/oauth",
    );
    assert!(signature::verify(&material, &swapped, &authority, Some(&root)).is_err());
}

/// A legacy `.sig` layer carrying the certificate and Rekor SET of the
/// conformance suite's v0.1 bundle over `a.txt`: the signature, chain and
/// SET verify through the bundle path, and the layer is then refused only
/// because `a.txt` is not a simple-signing payload for the admitted image.
#[test]
fn legacy_keyless_layer_goes_through_certificate_and_set_checks() {
    let base = common::sigstore();
    let case = base.join("sigstore+sigstore-conformance/test/assets/bundle-verify/happy-path-v0.1");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("bundle.sigstore.json")).unwrap()).unwrap();
    let payload = std::fs::read(case.join("../a.txt")).unwrap();
    let cert_der = B64
        .decode(
            v["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let cert_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        B64.encode(cert_der)
    );
    let entry = &v["verificationMaterial"]["tlogEntries"][0];
    let rekor_bundle = serde_json::json!({
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
            "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
            "logID": hex::encode(B64.decode(entry["logId"]["keyId"].as_str().unwrap()).unwrap()),
        }
    });
    let annotations = |sig: &str| {
        BTreeMap::from([
            (media_types::ANN_SIGNATURE.to_string(), sig.to_string()),
            (media_types::ANN_CERTIFICATE.to_string(), cert_pem.clone()),
            (
                media_types::ANN_BUNDLE.to_string(),
                rekor_bundle.to_string(),
            ),
        ])
    };
    let root = TrustRoot::from_json(
        &std::fs::read(
            base.join("sigstore+sigstore-rust/crates/sigstore-trust-root/src/trusted_root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let authority = keyless(
        IdentityMatch::Exact("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".into()),
        "https://token.actions.githubusercontent.com",
    );
    let good_sig = v["messageSignature"]["signature"].as_str().unwrap();
    let material = SignatureMaterial::SimpleSigning {
        payload: payload.clone(),
        annotations: annotations(good_sig),
    };
    let err =
        signature::verify(&material, &Digest::of(b"img"), &authority, Some(&root)).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::Malformed {
                what: "simple-signing payload",
                ..
            }
        ),
        "{err}"
    );

    let mut sig = B64.decode(good_sig).unwrap();
    sig[10] ^= 1;
    let tampered = SignatureMaterial::SimpleSigning {
        payload,
        annotations: annotations(&B64.encode(sig)),
    };
    let err =
        signature::verify(&tampered, &Digest::of(b"img"), &authority, Some(&root)).unwrap_err();
    assert!(matches!(err, SignatureError::Sigstore(_)), "{err}");
}
