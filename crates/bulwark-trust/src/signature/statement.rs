//! in-toto statements inside DSSE envelopes, and their binding to the image.

use serde::Deserialize;

use super::SignatureError;
use crate::digest::Digest;

/// The predicate type cosign v3 uses for a plain image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    predicate: serde_json::Value,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// Check that a DSSE payload is an in-toto statement about `subject` and
/// return its predicate type and predicate.
pub(crate) fn bind_statement(
    payload_type: &str,
    payload: &[u8],
    subject: &Digest,
) -> Result<(String, serde_json::Value), SignatureError> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(SignatureError::MediaType(payload_type.to_string()));
    }
    let statement: Statement = serde_json::from_slice(payload)
        .map_err(|e| SignatureError::malformed("in-toto statement", e))?;
    if !STATEMENT_TYPES.contains(&statement.type_.as_str()) {
        return Err(SignatureError::malformed(
            "in-toto statement",
            format!("unknown _type {:?}", statement.type_),
        ));
    }
    let bound = statement
        .subject
        .iter()
        .any(|s| s.digest.get("sha256").is_some_and(|h| h == subject.hex()));
    if !bound {
        let signed = statement
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256"))
            .map(|h| format!("sha256:{h}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SignatureError::DigestMismatch {
            signed: if signed.is_empty() {
                "no sha256 subject".into()
            } else {
                signed
            },
            admitted: subject.to_string(),
        });
    }
    Ok((statement.predicate_type, statement.predicate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(hex: &str) -> Vec<u8> {
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "img", "digest": {"sha256": hex}}],
            "predicateType": COSIGN_SIGN_PREDICATE,
            "predicate": {}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn statement_about_another_digest_is_refused() {
        let admitted = Digest::of(b"admitted");
        let other = Digest::of(b"other");
        let err = bind_statement(IN_TOTO_PAYLOAD_TYPE, &statement(other.hex()), &admitted);
        assert!(matches!(err, Err(SignatureError::DigestMismatch { .. })));
        let ok = bind_statement(IN_TOTO_PAYLOAD_TYPE, &statement(admitted.hex()), &admitted);
        assert_eq!(ok.unwrap().0, COSIGN_SIGN_PREDICATE);
    }

    #[test]
    fn other_payload_types_are_refused() {
        let d = Digest::of(b"x");
        assert!(bind_statement("application/json", &statement(d.hex()), &d).is_err());
    }
}
