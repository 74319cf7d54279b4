//! `kind: AccessPolicy` documents and their evaluation (pure).
//!
//! ```yaml
//! apiVersion: bulwark.dev/v1alpha1
//! kind: AccessPolicy
//! metadata:
//!   name: web-to-api
//! spec:
//!   to: spiffe://example.org/api            # the identity being called
//!   from:                                   # who may call it
//!     - spiffe://example.org/web            # exactly this ID
//!     - spiffe://example.org/batch/*        # any ID below spiffe://example.org/batch/
//!   ports: [8443]                           # optional: ports of `to` (default: any)
//!   http:                                   # optional: per-request rules (default: any request)
//!     - methods: [GET, POST]                # optional (default: any)
//!       paths: [/v1/*, /healthz]            # optional: exact, or prefix with a trailing *
//! ```
//!
//! A policy is written on identities, not on proxies or addresses, and the
//! same documents are enforced at both ends of a [`Hop`]: the caller's proxy
//! checks it before it opens the connection (outbound), the callee's proxy
//! when it accepts it (inbound). Nothing is allowed unless a policy allows it
//! (default deny, on both sides). Identities are the verified SPIFFE IDs of
//! the two ends, never addresses; `ports` is the port the callee's inbound
//! listener is dialled on.
//!
//! A policy with `http` rules allows only the requests it names, so it can
//! only be enforced where requests are parsed ([`Layer::Http`]): at the TCP
//! layer it does not allow the connection. Paths are compared after refusing
//! `..`, `.`, empty segments and percent-encoded slashes or dots, so
//! `/v1/../admin` can not slip past a `/v1/*` rule.

use std::fmt;

use bulwark_core::document::{self, DocumentError, DocumentKind};
use bulwark_core::spiffe::SpiffeId;
use serde::Deserialize;

pub const API_VERSION: &str = "bulwark.dev/v1alpha1";
pub const KIND: &str = "AccessPolicy";

/// The documents this module reads.
pub const DOCUMENT: DocumentKind = DocumentKind {
    api_version: API_VERSION,
    kind: KIND,
};

/// Why a policy document was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML, another kind, or unknown fields.
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("{source_name}: policy {name:?}: {reason}")]
    Invalid {
        source_name: String,
        name: String,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    to: String,
    from: Vec<String>,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    http: Option<Vec<HttpRuleDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpRuleDoc {
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Who may be a peer: one ID, or every ID under a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerPattern {
    Exact(SpiffeId),
    /// `spiffe://td/a/*`: IDs in `td` whose path starts with `/a/`.
    Below(SpiffeId),
}

impl PeerPattern {
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(base) = text.strip_suffix("/*") {
            let id = SpiffeId::new(base).map_err(|e| e.to_string())?;
            return Ok(PeerPattern::Below(id));
        }
        SpiffeId::new(text)
            .map(PeerPattern::Exact)
            .map_err(|e| e.to_string())
    }

    pub fn matches(&self, id: &SpiffeId) -> bool {
        match self {
            PeerPattern::Exact(want) => want == id,
            PeerPattern::Below(base) => {
                id.trust_domain_name() == base.trust_domain_name()
                    && id.path().len() > base.path().len()
                    && id.path().starts_with(base.path())
                    && id.path().as_bytes()[base.path().len()] == b'/'
            }
        }
    }
}

/// A method + path rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
    /// Exact paths or `prefix*`; empty means any.
    pub paths: Vec<String>,
}

impl HttpRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.methods.is_empty() || self.methods.iter().any(|m| m == method);
        let path_ok = self.paths.is_empty()
            || self.paths.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            });
        method_ok && path_ok
    }
}

/// One validated AccessPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub name: String,
    pub to: SpiffeId,
    pub from: Vec<PeerPattern>,
    pub ports: Vec<u16>,
    /// `None`: every request of an allowed connection is allowed.
    pub http: Option<Vec<HttpRule>>,
}

impl AccessPolicy {
    fn admits(&self, hop: Hop<'_>) -> bool {
        self.to == *hop.to
            && (self.ports.is_empty() || self.ports.contains(&hop.port))
            && self.from.iter().any(|p| p.matches(hop.from))
    }
}

/// One connection through the mesh, as both proxies see it: `from` calls
/// `to` on `port` (the port of `to`'s inbound listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop<'a> {
    pub from: &'a SpiffeId,
    pub to: &'a SpiffeId,
    pub port: u16,
}

/// How much of a connection the proxy sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Bytes only: a policy with `http` rules cannot be enforced.
    Tcp,
    /// HTTP/1.1 requests, each authorised.
    Http,
}

/// What was decided, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The policy that allowed it (none when denied).
    pub policy: Option<String>,
    pub reason: String,
}

impl Verdict {
    fn deny(reason: String) -> Self {
        Verdict {
            allowed: false,
            policy: None,
            reason,
        }
    }

    fn allow(policy: &AccessPolicy, reason: &str) -> Self {
        Verdict {
            allowed: true,
            policy: Some(policy.name.clone()),
            reason: reason.to_owned(),
        }
    }
}

/// All loaded policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    policies: Vec<AccessPolicy>,
}

impl PolicySet {
    pub fn new(policies: Vec<AccessPolicy>) -> Self {
        PolicySet { policies }
    }

    pub fn policies(&self) -> &[AccessPolicy] {
        &self.policies
    }

    /// Parses `---`-separated AccessPolicy documents.
    pub fn parse(source_name: &str, yaml: &str) -> Result<Vec<AccessPolicy>, PolicyError> {
        document::parse_documents(source_name, yaml, DOCUMENT)?
            .into_iter()
            .map(|(metadata, spec)| validate(source_name, metadata.name, spec))
            .collect()
    }

    /// May the connection of `hop` be opened? At [`Layer::Http`] a policy
    /// with request rules allows the connection (its requests are checked one
    /// by one); at [`Layer::Tcp`] it does not, since nothing would enforce them.
    pub fn connection(&self, hop: Hop<'_>, layer: Layer) -> Verdict {
        let mut admitting = self.policies.iter().filter(|p| p.admits(hop));
        let Some(first) = admitting.clone().next() else {
            return Verdict::deny(format!(
                "no AccessPolicy lets {} connect to {} on port {} (default deny)",
                hop.from, hop.to, hop.port
            ));
        };
        if layer == Layer::Http {
            return Verdict::allow(first, "connection allowed; each request is checked");
        }
        match admitting.find(|p| p.http.is_none()) {
            Some(p) => Verdict::allow(p, "connection allowed"),
            None => Verdict::deny(format!(
                "AccessPolicy {} lets {} send only some HTTP requests to {} on port {}, and this \
                 listener does not parse HTTP (run the proxy with --http): refused",
                first.name, hop.from, hop.to, hop.port
            )),
        }
    }

    /// May this request be sent over the connection of `hop`?
    pub fn request(&self, hop: Hop<'_>, method: &str, path: &str) -> Verdict {
        if let Some(reason) = unsafe_path(path) {
            return Verdict::deny(format!("request path {path:?} refused: {reason}"));
        }
        let found = self.policies.iter().find(|p| {
            p.admits(hop)
                && p.http
                    .as_ref()
                    .is_none_or(|rules| rules.iter().any(|r| r.matches(method, path)))
        });
        match found {
            Some(p) => Verdict::allow(p, "request allowed"),
            None => Verdict::deny(format!(
                "no AccessPolicy lets {} send {method} {path} to {} on port {} (default deny)",
                hop.from, hop.to, hop.port
            )),
        }
    }
}

/// Why a request path is not compared at all (traversal and encoding tricks).
fn unsafe_path(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("it is not an absolute path");
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f")
        || lower.contains("%2e")
        || lower.contains("%5c")
        || path.contains('\\')
    {
        return Some("it contains an encoded slash, dot or backslash");
    }
    let body = path.split(['?', '#']).next().unwrap_or("");
    if body.split('/').skip(1).any(|s| s == "." || s == "..") {
        return Some("it contains a `.` or `..` segment");
    }
    if body.contains("//") {
        return Some("it contains an empty segment");
    }
    None
}

fn validate(source_name: &str, name: String, spec: Spec) -> Result<AccessPolicy, PolicyError> {
    let invalid = |reason: String| PolicyError::Invalid {
        source_name: source_name.to_owned(),
        name: name.clone(),
        reason,
    };
    let to = SpiffeId::new(spec.to.as_str()).map_err(|e| invalid(format!("to: {e}")))?;
    if spec.from.is_empty() {
        return Err(invalid("from is empty: name who may connect".into()));
    }
    let from = spec
        .from
        .iter()
        .map(|f| PeerPattern::parse(f).map_err(|e| invalid(format!("from {f:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let http = spec
        .http
        .map(|rules| {
            rules
                .into_iter()
                .map(|r| http_rule(r).map_err(&invalid))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(AccessPolicy {
        name,
        to,
        from,
        ports: spec.ports,
        http,
    })
}

fn http_rule(doc: HttpRuleDoc) -> Result<HttpRule, String> {
    for m in &doc.methods {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("method {m:?} must be upper case, like GET"));
        }
    }
    for p in &doc.paths {
        if !p.starts_with('/') || p[..p.len().saturating_sub(1)].contains('*') {
            return Err(format!(
                "path {p:?} must start with / and may only end with *"
            ));
        }
    }
    Ok(HttpRule {
        methods: doc.methods,
        paths: doc.paths,
    })
}

impl fmt::Display for PeerPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerPattern::Exact(id) => write!(f, "{id}"),
            PeerPattern::Below(id) => write!(f, "{id}/*"),
        }
    }
}

#[cfg(test)]
mod tests;
