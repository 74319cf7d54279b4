//! Identifiers for containers and workloads.
//!
//! Both are validated on construction so that a value read from a label, a
//! cgroup path or a network peer can never smuggle control characters (log
//! forging) or path separators (container ids end up in file names) into the
//! rest of the system.

use std::fmt;

use serde::{Deserialize, Serialize};

const MAX_ID_LEN: usize = 512;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} bytes long, the limit is {MAX_ID_LEN}")]
    TooLong { kind: &'static str, len: usize },
    #[error("{kind} {value:?} contains the forbidden character {ch:?}")]
    ForbiddenChar {
        kind: &'static str,
        value: String,
        ch: char,
    },
}

fn validate(kind: &'static str, value: &str, forbid_slash: bool) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            len: value.len(),
        });
    }
    let bad = value
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || (forbid_slash && *c == '/'));
    match bad {
        Some(ch) => Err(IdError::ForbiddenChar {
            kind,
            value: value.escape_debug().to_string(),
            ch,
        }),
        None => Ok(()),
    }
}

/// A container as the runtime names it (for runc/containerd/docker usually
/// 64 hex characters; other runtimes use other shapes). Never contains `/`,
/// whitespace or control characters, so it is safe in file names and logs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        validate("container id", &value, true)?;
        Ok(ContainerId(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, as `docker ps` shows them.
    pub fn short(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(12)
            .map_or(self.0.len(), |(i, _)| i);
        &self.0[..end]
    }
}

/// The identity a set of containers shares: all replicas of one service, across
/// image versions and nodes. A SPIFFE ID once identity is assigned, before that
/// a derived key such as `image:docker.io/library/nginx`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkloadId(String);

impl WorkloadId {
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        validate("workload id", &value, false)?;
        Ok(WorkloadId(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                <$t>::new(value)
            }
        }
        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.0
            }
        }
        impl std::str::FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::new(s)
            }
        }
    };
}

string_id_impls!(ContainerId);
string_id_impls!(WorkloadId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_rejects_path_separators_and_newlines() {
        assert!(ContainerId::new("../../etc").is_err());
        assert!(ContainerId::new("abc\ndef").is_err());
        assert!(ContainerId::new("").is_err());
        assert!(ContainerId::new("a".repeat(513)).is_err());
    }

    #[test]
    fn container_id_short_form_is_twelve_chars() {
        let id = ContainerId::new("0123456789abcdef0123").map_err(|e| e.to_string());
        assert_eq!(id.as_ref().map(|i| i.short()), Ok("0123456789ab"));
    }

    #[test]
    fn workload_id_allows_spiffe_ids_but_not_log_forging() {
        assert!(WorkloadId::new("spiffe://example.org/ns/web").is_ok());
        let err = WorkloadId::new("web\r\n{\"forged\":1}");
        assert!(matches!(err, Err(IdError::ForbiddenChar { ch: '\r', .. })));
    }

    #[test]
    fn deserialising_validates() {
        let bad: Result<ContainerId, _> = serde_json::from_str("\"a/b\"");
        assert!(bad.is_err());
        let good: Result<WorkloadId, _> = serde_json::from_str("\"image:nginx\"");
        assert!(good.is_ok());
    }
}
