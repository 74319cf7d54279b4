//! Who may sign: a public key, or a keyless identity (certificate SAN and
//! OIDC issuer) vouched for by Fulcio in the trusted root.

use super::{PublicKey, SignatureError};

/// How a certificate identity is matched.
#[derive(Clone, Debug)]
pub enum IdentityMatch {
    /// The SAN (email or URI) equals this string.
    Exact(String),
    /// The whole SAN matches this regular expression (anchored: `^(?:re)$`).
    Regex(regex::Regex),
}

impl IdentityMatch {
    /// An anchored regex matcher; the pattern is wrapped in `^(?:...)$` so
    /// `.*@example.com` cannot match `x@example.com.attacker.net`.
    pub fn regex(pattern: &str) -> Result<IdentityMatch, SignatureError> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(IdentityMatch::Regex)
            .map_err(|e| SignatureError::malformed("identity regex", e))
    }

    pub fn matches(&self, san: &str) -> bool {
        match self {
            IdentityMatch::Exact(want) => san == want,
            IdentityMatch::Regex(re) => re.is_match(san),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            IdentityMatch::Exact(s) => format!("identity {s:?}"),
            IdentityMatch::Regex(re) => format!("identity matching {}", re.as_str()),
        }
    }
}

/// One trusted signer.
#[derive(Clone, Debug)]
pub enum Authority {
    /// Signatures made with this key. Without `ignore_tlog`, a Rekor entry
    /// or RFC 3161 timestamp must be present and verify.
    Key {
        name: String,
        key: PublicKey,
        ignore_tlog: bool,
    },
    /// Signatures made with a Fulcio certificate for `identity` issued to
    /// a token from `issuer`; always with a verified Rekor entry or TSA.
    Keyless {
        name: String,
        identity: IdentityMatch,
        issuer: String,
    },
}

impl Authority {
    pub fn name(&self) -> &str {
        match self {
            Authority::Key { name, .. } | Authority::Keyless { name, .. } => name,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Authority::Key { name, key, .. } => format!("{name} (key {})", key.fingerprint()),
            Authority::Keyless {
                name,
                identity,
                issuer,
            } => format!("{name} ({} from {issuer})", identity.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_identities_are_anchored() {
        let m = IdentityMatch::regex(r".*@example\.com").unwrap();
        assert!(m.matches("dev@example.com"));
        assert!(!m.matches("dev@example.com.attacker.net"));
        assert!(!m.matches("prefix dev@example.comx"));
    }
}
