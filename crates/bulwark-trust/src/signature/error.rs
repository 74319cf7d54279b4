//! Errors of signature verification.

/// Why a signature was not accepted. Every variant names what was wrong;
/// the policy layer adds which image and which rule.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("media type {0:?} is not a signature format this verifier accepts")]
    MediaType(String),
    #[error("bundle media type {inner:?} does not match the declared {declared:?}")]
    MediaTypeMismatch { declared: String, inner: String },
    #[error("malformed {what}: {problem}")]
    Malformed { what: &'static str, problem: String },
    #[error("public key: {0}")]
    Key(String),
    #[error("signature does not verify with key {key}")]
    BadSignature { key: String },
    #[error("signature is over {signed}, not the admitted digest {admitted}")]
    DigestMismatch { signed: String, admitted: String },
    #[error("sigstore verification failed: {0}")]
    Sigstore(String),
    #[error("certificate identity {found:?} does not match {wanted}")]
    Identity { found: String, wanted: String },
    #[error("{0} needs a trusted root (trusted_root.json) and none is configured")]
    NoTrustRoot(&'static str),
    #[error(
        "no transparency log entry or timestamp for key {key}: set ignoreTlog for keys used without Rekor"
    )]
    NoTlog { key: String },
    #[error("the signature is made with a certificate, the authority is the key {key}")]
    CertificateForKey { key: String },
    #[error("the signature carries no certificate, the authority is keyless")]
    KeyForKeyless,
    #[error("trusted root: {0}")]
    TrustRoot(String),
}

impl SignatureError {
    pub(crate) fn malformed(what: &'static str, problem: impl ToString) -> Self {
        SignatureError::Malformed {
            what,
            problem: problem.to_string(),
        }
    }
}
