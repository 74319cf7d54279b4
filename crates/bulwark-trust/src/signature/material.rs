//! Signature material as found next to an image, before verification.

use std::collections::BTreeMap;

/// Media types that carry signatures. Anything else is refused: a layer of
/// another type is never parsed as a signature (no format confusion).
pub mod media_types {
    /// cosign legacy simple-signing payload layer.
    pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    /// cosign legacy attestation layer (DSSE envelope).
    pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
    /// Sigstore bundle v0.3 (cosign v3 referrers).
    pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// Older spelling of bundle media types, followed by `;version=0.1|0.2|0.3`.
    pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle+json;version=";
    /// cosign legacy signature artifact type when pushed as a referrer.
    pub const COSIGN_SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

    /// Annotation holding a base64 signature on a legacy layer.
    pub const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
    /// Annotation holding the PEM signing certificate.
    pub const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
    /// Annotation holding the PEM certificate chain.
    pub const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
    /// Annotation holding the Rekor bundle (SET and entry).
    pub const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
    /// Annotation holding an RFC 3161 timestamp (legacy).
    pub const ANN_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";

    /// True for every accepted bundle media type, and only those.
    pub fn is_bundle(media_type: &str) -> bool {
        media_type == BUNDLE_V03
            || media_type
                .strip_prefix(BUNDLE_PREFIX)
                .is_some_and(|v| matches!(v, "0.1" | "0.2" | "0.3"))
    }

    /// The bundle version a bundle media type names (`"0.1"` .. `"0.3"`).
    pub fn bundle_version(media_type: &str) -> Option<&str> {
        if media_type == BUNDLE_V03 {
            return Some("0.3");
        }
        media_type
            .strip_prefix(BUNDLE_PREFIX)
            .filter(|v| matches!(*v, "0.1" | "0.2" | "0.3"))
    }
}

/// One signature, as stored: the bytes plus what the manifest declared.
#[derive(Clone, Debug)]
pub enum SignatureMaterial {
    /// A layer of a cosign `sha256-<hex>.sig` manifest: the simple-signing
    /// payload and the layer's annotations (signature, certificate, bundle).
    SimpleSigning {
        payload: Vec<u8>,
        annotations: BTreeMap<String, String>,
    },
    /// A layer of a cosign `sha256-<hex>.att` manifest: a DSSE envelope.
    LegacyDsse {
        envelope: Vec<u8>,
        annotations: BTreeMap<String, String>,
    },
    /// A Sigstore bundle and the media type it was declared with.
    Bundle { media_type: String, bytes: Vec<u8> },
}

impl SignatureMaterial {
    /// Material from a layer of `media_type`, or `None` when the media
    /// type carries no signature this verifier accepts.
    pub fn from_layer(
        media_type: &str,
        bytes: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) -> Option<SignatureMaterial> {
        if media_type == media_types::SIMPLE_SIGNING {
            Some(SignatureMaterial::SimpleSigning {
                payload: bytes,
                annotations,
            })
        } else if media_type == media_types::DSSE_ENVELOPE {
            Some(SignatureMaterial::LegacyDsse {
                envelope: bytes,
                annotations,
            })
        } else if media_types::is_bundle(media_type) {
            Some(SignatureMaterial::Bundle {
                media_type: media_type.to_string(),
                bytes,
            })
        } else {
            None
        }
    }

    /// A short name of the format, for decisions and logs.
    pub fn format_name(&self) -> &'static str {
        match self {
            SignatureMaterial::SimpleSigning { .. } => "cosign simple-signing",
            SignatureMaterial::LegacyDsse { .. } => "cosign DSSE attestation",
            SignatureMaterial::Bundle { .. } => "sigstore bundle",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::media_types::*;
    use super::*;

    #[test]
    fn only_known_media_types_become_material() {
        let none = BTreeMap::new();
        assert!(SignatureMaterial::from_layer(SIMPLE_SIGNING, vec![], none.clone()).is_some());
        assert!(SignatureMaterial::from_layer(BUNDLE_V03, vec![], none.clone()).is_some());
        for other in [
            "application/json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.dev.sigstore.bundle+json;version=0.4",
            "application/vnd.dev.sigstore.bundle.v0.3+json; charset=utf-8",
        ] {
            assert!(
                SignatureMaterial::from_layer(other, vec![], none.clone()).is_none(),
                "{other}"
            );
        }
    }
}
