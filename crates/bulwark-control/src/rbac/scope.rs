//! Where a binding applies ([`Scope`]), what a request touches
//! ([`Target`]), and what a list may return ([`ScopeFilter`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The namespace of a workload id: `k8s:NS/OWNER` is in `NS`; every other
/// workload (`image:REPO`, `container:ID`, a SPIFFE ID) is in `default`.
pub fn namespace_of(workload: &str) -> &str {
    workload
        .strip_prefix("k8s:")
        .and_then(|rest| rest.split_once('/'))
        .map(|(ns, _)| ns)
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default")
}

/// Where a binding applies. Text form: `cluster`, `namespace:NS`,
/// `workload:PATTERN` (a workload id, or a prefix ending in `*`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Scope {
    Cluster,
    Namespace(String),
    Workload(String),
}

/// What a request touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Something cluster-wide, or a namespaced resource as a whole.
    Cluster,
    /// One namespace, or one workload in it.
    Namespaced {
        namespace: String,
        workload: Option<String>,
    },
}

impl Target {
    /// A workload (and its namespace).
    pub fn workload(workload: &str) -> Target {
        Target::Namespaced {
            namespace: namespace_of(workload).to_owned(),
            workload: Some(workload.to_owned()),
        }
    }

    pub fn namespace(namespace: &str) -> Target {
        Target::Namespaced {
            namespace: namespace.to_owned(),
            workload: None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cluster => f.write_str("cluster-wide"),
            Target::Namespaced {
                namespace,
                workload: None,
            } => write!(f, "in namespace {namespace}"),
            Target::Namespaced {
                workload: Some(w), ..
            } => write!(f, "of workload {w}"),
        }
    }
}

/// A scope that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scope {input:?}: {problem}")]
pub struct ScopeError {
    pub input: String,
    pub problem: &'static str,
}

const MAX_SCOPE_LEN: usize = 512;

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Scope, ScopeError> {
        let err = |problem| ScopeError {
            input: s.escape_debug().to_string(),
            problem,
        };
        if s.len() > MAX_SCOPE_LEN {
            return Err(err("longer than 512 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err("contains whitespace or control characters"));
        }
        if s == "cluster" {
            return Ok(Scope::Cluster);
        }
        if let Some(ns) = s.strip_prefix("namespace:") {
            if ns.is_empty() || ns.contains(['*', '/']) {
                return Err(err("a namespace is a non-empty name without '*' or '/'"));
            }
            return Ok(Scope::Namespace(ns.to_owned()));
        }
        if let Some(pattern) = s.strip_prefix("workload:") {
            let body = pattern.strip_suffix('*').unwrap_or(pattern);
            if body.contains('*') || (body.is_empty() && pattern.is_empty()) {
                return Err(err(
                    "a workload pattern is an id, or a prefix ending in '*'",
                ));
            }
            return Ok(Scope::Workload(pattern.to_owned()));
        }
        Err(err("expected cluster, namespace:NS or workload:PATTERN"))
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Scope, ScopeError> {
        s.parse()
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Cluster => f.write_str("cluster"),
            Scope::Namespace(ns) => write!(f, "namespace:{ns}"),
            Scope::Workload(p) => write!(f, "workload:{p}"),
        }
    }
}

/// Does `pattern` (an id, or a prefix ending in `*`) match `workload`?
fn pattern_matches(pattern: &str, workload: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => workload.starts_with(prefix),
        None => pattern == workload,
    }
}

/// The one namespace every workload matching `pattern` is in, if there is one.
fn pattern_namespace(pattern: &str) -> Option<&str> {
    let Some(prefix) = pattern.strip_suffix('*') else {
        return Some(namespace_of(pattern));
    };
    if let Some(rest) = prefix.strip_prefix("k8s:") {
        return rest
            .split_once('/')
            .map(|(ns, _)| ns)
            .filter(|ns| !ns.is_empty());
    }
    // A prefix that could still grow into `k8s:...` spans namespaces.
    if prefix.is_empty() || "k8s:".starts_with(prefix) {
        return None;
    }
    Some("default")
}

impl Scope {
    /// Does a binding with this scope reach `target`?
    pub fn covers(&self, target: &Target) -> bool {
        match (self, target) {
            (Scope::Cluster, _) => true,
            (Scope::Namespace(ns), Target::Namespaced { namespace, .. }) => ns == namespace,
            (
                Scope::Workload(pattern),
                Target::Namespaced {
                    workload: Some(w), ..
                },
            ) => pattern_matches(pattern, w),
            _ => false,
        }
    }

    /// Is every target `other` covers also covered by `self`?
    pub fn contains(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Cluster, _) => true,
            (Scope::Namespace(a), Scope::Namespace(b)) => a == b,
            (Scope::Namespace(a), Scope::Workload(p)) => pattern_namespace(p) == Some(a),
            (Scope::Workload(p), Scope::Workload(q)) => match q.strip_suffix('*') {
                None => pattern_matches(p, q),
                Some(q_prefix) => p
                    .strip_suffix('*')
                    .is_some_and(|p_prefix| q_prefix.starts_with(p_prefix)),
            },
            _ => false,
        }
    }

    /// The target a binding with this scope is stored under.
    pub fn as_target(&self) -> Target {
        match self {
            Scope::Cluster => Target::Cluster,
            Scope::Namespace(ns) => Target::namespace(ns),
            Scope::Workload(p) => Target::Namespaced {
                namespace: pattern_namespace(p).unwrap_or("").to_owned(),
                workload: Some(p.clone()),
            },
        }
    }
}

/// What a list permit lets the caller see: everything (`cluster`), or
/// objects in these namespaces, or of workloads matching these patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeFilter {
    pub cluster: bool,
    pub namespaces: BTreeSet<String>,
    pub workloads: BTreeSet<String>,
}

impl ScopeFilter {
    pub(crate) fn from_scopes(scopes: Vec<Scope>) -> ScopeFilter {
        let mut filter = ScopeFilter::default();
        for scope in scopes {
            match scope {
                Scope::Cluster => filter.cluster = true,
                Scope::Namespace(ns) => {
                    filter.namespaces.insert(ns);
                }
                Scope::Workload(p) => {
                    filter.workloads.insert(p);
                }
            }
        }
        filter
    }

    /// May the caller see an object in `namespace` (of `workload`)?
    pub fn allows(&self, namespace: &str, workload: Option<&str>) -> bool {
        self.cluster
            || self.namespaces.contains(namespace)
            || workload.is_some_and(|w| self.workloads.iter().any(|p| pattern_matches(p, w)))
    }

    /// Workload patterns as SQL `LIKE` patterns (`%`/`_` escaped with `\`),
    /// for stores that filter in the database.
    pub fn workload_like_patterns(&self) -> Vec<String> {
        self.workloads
            .iter()
            .map(|p| {
                let (body, wild) = match p.strip_suffix('*') {
                    Some(prefix) => (prefix, true),
                    None => (p.as_str(), false),
                };
                let mut like = String::with_capacity(body.len() + 1);
                for c in body.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        like.push('\\');
                    }
                    like.push(c);
                }
                if wild {
                    like.push('%');
                }
                like
            })
            .collect()
    }
}
