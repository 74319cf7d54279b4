//! Registration entries: declarative YAML documents that map what the kernel
//! says about a caller (selectors) to a SPIFFE ID.
//!
//! ```yaml
//! apiVersion: bulwark.dev/v1alpha1
//! kind: WorkloadIdentity
//! metadata:
//!   name: web
//! spec:
//!   spiffeId: spiffe://example.org/web
//!   selectors:            # every selector given must match
//!     uid: 1000
//!     binaryPath: /usr/bin/web
//!     container:
//!       imageDigest: sha256:4f...
//!       labels: {app: web}
//!   ttl: 1h               # X.509-SVID lifetime (default 1h)
//!   jwtTtl: 5m            # JWT-SVID lifetime (default 5m)
//!   hint: internal        # optional, unique among a caller's SVIDs
//!   dnsNames: [web.internal]
//! ```
//!
//! Unknown fields are errors (a typo must not widen who gets an identity),
//! and an entry without any selector is refused (it would match everyone).

use std::collections::BTreeMap;
use std::time::Duration;

use bulwark_core::document::{self, DocumentError, DocumentKind};
use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use serde::Deserialize;

pub const API_VERSION: &str = "bulwark.dev/v1alpha1";
pub const KIND: &str = "WorkloadIdentity";
pub const DEFAULT_X509_TTL: Duration = Duration::from_secs(3600);
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(300);
/// Longest hint the Workload API allows.
const MAX_HINT_LEN: usize = 1024;

/// The documents this module reads.
pub const DOCUMENT: DocumentKind = DocumentKind {
    api_version: API_VERSION,
    kind: KIND,
};

/// Why a registration document was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// Not YAML, another kind, or unknown fields.
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("{source_name}: no {KIND} document in it")]
    Empty { source_name: String },
    #[error("{source_name}: entry {name:?}: {reason}")]
    Invalid {
        source_name: String,
        name: String,
        reason: String,
    },
    #[error("entry name {name:?} is used by both {first} and {second}")]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    spiffe_id: String,
    selectors: Selectors,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    jwt_ttl: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    dns_names: Vec<String>,
}

/// What a caller must be to get an entry's identity. Every field that is
/// set must match; unset fields are not looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selectors {
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// Path of the caller's executable as the kernel reports it
    /// (`/proc/PID/exe`, inside the caller's mount namespace).
    #[serde(default)]
    pub binary_path: Option<String>,
    /// SHA-256 (hex) of the caller's executable.
    #[serde(default)]
    pub binary_sha256: Option<String>,
    /// The caller's cgroup path (from `/proc/PID/cgroup`), exactly.
    #[serde(default)]
    pub cgroup: Option<String>,
    #[serde(default)]
    pub container: Option<ContainerSelectors>,
}

/// Selectors on the container the caller runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSelectors {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pod_namespace: Option<String>,
}

/// What the kernel (and the container runtime's state) says about a caller.
/// Built by `crate::attest`; nothing in it comes from the caller itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadAttributes {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub binary_path: Option<String>,
    pub binary_sha256: Option<String>,
    pub cgroups: Vec<String>,
    pub container: Option<ContainerAttributes>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerAttributes {
    pub id: String,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub pod_namespace: Option<String>,
}

/// A validated registration entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Where it was read from (file name), for messages.
    pub source: String,
    pub spiffe_id: SpiffeId,
    pub selectors: Selectors,
    pub x509_ttl: Duration,
    pub jwt_ttl: Duration,
    pub hint: Option<String>,
    pub dns_names: Vec<String>,
}

impl Entry {
    /// Parses one or more `---`-separated documents.
    pub fn parse_all(source_name: &str, yaml: &str) -> Result<Vec<Entry>, EntryError> {
        document::parse_documents(source_name, yaml, DOCUMENT)?
            .into_iter()
            .map(|(metadata, spec)| Entry::from_spec(source_name, metadata.name, spec))
            .collect()
    }

    fn from_spec(source_name: &str, name: String, spec: Spec) -> Result<Entry, EntryError> {
        let invalid = |reason: String| EntryError::Invalid {
            source_name: source_name.to_owned(),
            name: name.clone(),
            reason,
        };
        let spiffe_id =
            SpiffeId::new(spec.spiffe_id.as_str()).map_err(|e| invalid(e.to_string()))?;
        if spiffe_id.is_trust_domain_id() {
            return Err(invalid(format!(
                "{spiffe_id} has no path; a workload ID needs one"
            )));
        }
        check_selectors(&spec.selectors).map_err(invalid)?;
        let x509_ttl = parse_ttl(spec.ttl.as_deref(), DEFAULT_X509_TTL).map_err(invalid)?;
        let jwt_ttl = parse_ttl(spec.jwt_ttl.as_deref(), DEFAULT_JWT_TTL).map_err(invalid)?;
        if let Some(hint) = &spec.hint
            && (hint.is_empty() || hint.len() > MAX_HINT_LEN)
        {
            return Err(invalid(format!("hint must be 1..={MAX_HINT_LEN} bytes")));
        }
        Ok(Entry {
            name,
            source: source_name.to_owned(),
            spiffe_id,
            selectors: spec.selectors,
            x509_ttl,
            jwt_ttl,
            hint: spec.hint,
            dns_names: spec.dns_names,
        })
    }

    /// True if the caller described by `attrs` gets this entry's identity.
    pub fn matches(&self, attrs: &WorkloadAttributes) -> bool {
        self.selectors.matches(attrs)
    }

    pub fn is_in(&self, td: &TrustDomain) -> bool {
        self.spiffe_id.is_member_of(td)
    }
}

impl Selectors {
    pub fn matches(&self, a: &WorkloadAttributes) -> bool {
        same(self.uid, Some(a.uid))
            && same(self.gid, Some(a.gid))
            && same(self.binary_path.as_deref(), a.binary_path.as_deref())
            && same(self.binary_sha256.as_deref(), a.binary_sha256.as_deref())
            && self.cgroup.as_ref().is_none_or(|c| a.cgroups.contains(c))
            && self
                .container
                .as_ref()
                .is_none_or(|c| a.container.as_ref().is_some_and(|ac| c.matches(ac)))
    }

    /// Whether matching needs the executable's hash (costly: read the binary).
    pub fn needs_binary_hash(&self) -> bool {
        self.binary_sha256.is_some()
    }
}

impl ContainerSelectors {
    fn matches(&self, a: &ContainerAttributes) -> bool {
        same(self.id.as_deref(), Some(a.id.as_str()))
            && same(self.image_digest.as_deref(), a.image_digest.as_deref())
            && same(self.image.as_deref(), a.image.as_deref())
            && same(self.pod_namespace.as_deref(), a.pod_namespace.as_deref())
            && self.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
    }

    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.image_digest.is_none()
            && self.image.is_none()
            && self.pod_namespace.is_none()
            && self.labels.is_empty()
    }
}

/// A set selector must equal the attribute; an unset one matches anything.
fn same<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
    match want {
        None => true,
        Some(w) => have == Some(w),
    }
}

fn check_selectors(s: &Selectors) -> Result<(), String> {
    if s.container
        .as_ref()
        .is_some_and(ContainerSelectors::is_empty)
    {
        return Err(
            "container selector is empty; name an id, image, imageDigest, label or podNamespace"
                .into(),
        );
    }
    let container_empty = s
        .container
        .as_ref()
        .is_none_or(ContainerSelectors::is_empty);
    if s.uid.is_none()
        && s.gid.is_none()
        && s.binary_path.is_none()
        && s.binary_sha256.is_none()
        && s.cgroup.is_none()
        && container_empty
    {
        return Err("no selectors: an entry without selectors would match every caller".into());
    }
    if let Some(h) = &s.binary_sha256
        && (h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    {
        return Err(format!(
            "binarySha256 {h:?} is not 64 lower-case hex digits"
        ));
    }
    if let Some(p) = &s.binary_path
        && !p.starts_with('/')
    {
        return Err(format!("binaryPath {p:?} must be absolute"));
    }
    Ok(())
}

/// `90s`, `15m`, `1h`, `2d`; at least one second.
pub fn parse_ttl(text: Option<&str>, default: Duration) -> Result<Duration, String> {
    let Some(text) = text else {
        return Ok(default);
    };
    let bad = || format!("duration {text:?} is not a number followed by s, m, h or d");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(format!("duration {text:?} must be at least 1s"));
    }
    Ok(Duration::from_secs(secs))
}

/// The identities a caller gets: every matching entry in `entries` order,
/// one per SPIFFE ID (the first is the caller's default identity).
pub fn identities_for<'e>(entries: &'e [Entry], attrs: &WorkloadAttributes) -> Vec<&'e Entry> {
    let mut out: Vec<&Entry> = Vec::new();
    for e in entries.iter().filter(|e| e.matches(attrs)) {
        if out.iter().any(|o| o.spiffe_id == e.spiffe_id) {
            continue;
        }
        out.push(e);
    }
    out
}

/// Checks that entry names are unique across all loaded sources.
pub fn check_unique_names(entries: &[Entry]) -> Result<(), EntryError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for e in entries {
        if let Some(first) = seen.insert(e.name.as_str(), e.source.as_str()) {
            return Err(EntryError::DuplicateName {
                name: e.name.clone(),
                first: first.to_owned(),
                second: e.source.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
