//! Which programs a workload may run.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{PathPattern, PolicyError, check_len};

/// A SHA-256 digest, written as 64 lowercase hex characters (an optional
/// `sha256:` prefix is accepted and dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    pub fn parse(value: &str) -> Result<Self, PolicyError> {
        let hex_part = value.strip_prefix("sha256:").unwrap_or(value);
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|e| PolicyError::Invalid {
            field: "sha256".into(),
            problem: format!("{value:?} is not 64 hex characters: {e}"),
        })?;
        Ok(Sha256Digest(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = PolicyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sha256Digest::parse(&value)
    }
}

impl From<Sha256Digest> for String {
    fn from(d: Sha256Digest) -> String {
        d.to_string()
    }
}

/// One allowed program (or directory of programs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRule {
    pub path: PathPattern,
    /// When given, the file must also have this content; otherwise the content
    /// it had when the container was registered (the image's) is what counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
}

/// Exec allowlist. A program runs only if it is, by identity (device and
/// inode, unchanged since registration) or by content (SHA-256), one of the
/// files the rules name, as the image had them. Paths only say *which* files
/// of the image are meant; symlinks, hardlinks, `/proc/self/root`, renames and
/// copies are judged by what the file is, not by the name used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecPolicy {
    /// `false` turns exec enforcement off for the workload.
    #[serde(default = "yes")]
    pub enforce: bool,
    #[serde(default)]
    pub allow: Vec<ExecRule>,
    /// Also allow the ELF interpreter (`PT_INTERP`, e.g. `ld-linux`) and the
    /// `#!` interpreter of each allowed file: the kernel opens them for
    /// execution as part of running the allowed program.
    #[serde(default = "yes")]
    pub allow_interpreters: bool,
}

fn yes() -> bool {
    true
}

impl Default for ExecPolicy {
    fn default() -> Self {
        ExecPolicy {
            enforce: true,
            allow: Vec::new(),
            allow_interpreters: true,
        }
    }
}

impl ExecPolicy {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        check_len("spec.exec.allow", self.allow.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_accepts_prefix_and_rejects_short_values() {
        let hex = "ab".repeat(32);
        let d = Sha256Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        assert!(Sha256Digest::parse("abcd").is_err());
        assert!(Sha256Digest::parse(&"zz".repeat(32)).is_err());
    }
}
