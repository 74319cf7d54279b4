//! Role-based access control, default deny.
//!
//! A [`Binding`] gives a [`Subject`] (a user, or a SPIFFE identity such as an
//! agent's node SVID) one built-in [`Role`] within a [`Scope`] (the whole
//! cluster, one namespace, or workloads matching a pattern). A role is a set
//! of [`Verb`] x [`Resource`] rules. Nothing is allowed without a binding
//! that grants it.
//!
//! [`authorize`] and [`authorize_list`] are the only constructors of a
//! [`Permit`], typed by verb and resource (`Permit<List, Alerts>`). The
//! server's store methods take the permit they need, so skipping the check
//! is a compile error, and a list permit carries the [`ScopeFilter`] that
//! limits what the caller sees. [`check_grant`] refuses a new binding
//! unless the granter holds every permission it would confer, at least as
//! widely scoped.

mod roles;
mod scope;

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

pub use roles::{ROLES, Role, Rule};
pub use scope::{Scope, ScopeError, ScopeFilter, Target, namespace_of};

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 5] = [
        Verb::Get,
        Verb::List,
        Verb::Create,
        Verb::Update,
        Verb::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }
}

/// What a request acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    Workloads,
    /// Profiles and their modes (promotion is `update`).
    Profiles,
    Alerts,
    Silences,
    AlertRoutes,
    Findings,
    Images,
    /// Workload identity entries and node identities.
    Identities,
    /// Enforcement, image and access policies.
    Policies,
    Nodes,
    Compliance,
    Audit,
    Users,
    Tokens,
    RoleBindings,
    Metrics,
    /// The agents' channel: reports up (`create`), updates down (`get`).
    AgentStream,
}

impl Resource {
    pub const ALL: [Resource; 17] = [
        Resource::Workloads,
        Resource::Profiles,
        Resource::Alerts,
        Resource::Silences,
        Resource::AlertRoutes,
        Resource::Findings,
        Resource::Images,
        Resource::Identities,
        Resource::Policies,
        Resource::Nodes,
        Resource::Compliance,
        Resource::Audit,
        Resource::Users,
        Resource::Tokens,
        Resource::RoleBindings,
        Resource::Metrics,
        Resource::AgentStream,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Workloads => "workloads",
            Resource::Profiles => "profiles",
            Resource::Alerts => "alerts",
            Resource::Silences => "silences",
            Resource::AlertRoutes => "alert-routes",
            Resource::Findings => "findings",
            Resource::Images => "images",
            Resource::Identities => "identities",
            Resource::Policies => "policies",
            Resource::Nodes => "nodes",
            Resource::Compliance => "compliance",
            Resource::Audit => "audit",
            Resource::Users => "users",
            Resource::Tokens => "tokens",
            Resource::RoleBindings => "role-bindings",
            Resource::Metrics => "metrics",
            Resource::AgentStream => "agent-stream",
        }
    }

    /// Objects of this resource live in a namespace (and may belong to a
    /// workload); namespace- and workload-scoped bindings apply to them.
    /// Everything else is cluster-wide: only cluster bindings reach it.
    /// A role binding lives where its scope is, so a namespace admin can
    /// manage the bindings of its namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Resource::Workloads
                | Resource::Profiles
                | Resource::Alerts
                | Resource::Silences
                | Resource::Compliance
                | Resource::RoleBindings
        )
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Subject {
    /// A user or service account of the control plane (password or token).
    User(String),
    /// A SPIFFE ID proven by an mTLS client certificate.
    Spiffe(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(name) => write!(f, "user:{name}"),
            Subject::Spiffe(id) => f.write_str(id),
        }
    }
}

/// Which subjects a binding applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum SubjectMatcher {
    User(String),
    /// One SPIFFE ID exactly, or every ID under a path when it ends in `/*`
    /// (`spiffe://example.org/bulwark/node/*`).
    Spiffe(String),
}

impl SubjectMatcher {
    pub fn matches(&self, subject: &Subject) -> bool {
        match (self, subject) {
            (SubjectMatcher::User(a), Subject::User(b)) => a == b,
            (SubjectMatcher::Spiffe(pattern), Subject::Spiffe(id)) => {
                match pattern.strip_suffix('*') {
                    Some(prefix) if prefix.ends_with('/') => {
                        id.len() > prefix.len() && id.starts_with(prefix)
                    }
                    _ => pattern == id,
                }
            }
            _ => false,
        }
    }
}

/// One role given to one subject within one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub subject: SubjectMatcher,
    pub role: String,
    pub scope: Scope,
}

/// An authenticated caller and every binding that may apply to it.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: Subject,
    pub bindings: Vec<Binding>,
}

impl Principal {
    /// The caller's bindings whose role grants `verb` on `resource`.
    fn granting(&self, verb: Verb, resource: Resource) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| {
            b.subject.matches(&self.subject)
                && Role::by_name(&b.role).is_some_and(|r| r.grants(verb, resource))
                && (resource.is_namespaced() || b.scope == Scope::Cluster)
        })
    }
}

/// A verb at the type level (see [`Permit`]).
pub trait VerbKind {
    const VERB: Verb;
}

/// A resource at the type level (see [`Permit`]).
pub trait ResourceKind {
    const RESOURCE: Resource;
}

/// Verbs as types.
pub mod verbs {
    macro_rules! verb {
        ($($name:ident),*) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl super::VerbKind for $name {
                const VERB: super::Verb = super::Verb::$name;
            }
        )*};
    }
    verb!(Get, List, Create, Update, Delete);
}

/// Resources as types.
pub mod resources {
    macro_rules! resource {
        ($($name:ident),*) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl super::ResourceKind for $name {
                const RESOURCE: super::Resource = super::Resource::$name;
            }
        )*};
    }
    resource!(
        Workloads,
        Profiles,
        Alerts,
        Silences,
        AlertRoutes,
        Findings,
        Images,
        Identities,
        Policies,
        Nodes,
        Compliance,
        Audit,
        Users,
        Tokens,
        RoleBindings,
        Metrics,
        AgentStream
    );
}

/// Proof that the caller may do `V` on `R`. Only [`authorize`],
/// [`authorize_list`] and [`check_grant`] make one. For lists, the filter
/// says which namespaces and workloads the caller may see.
pub struct Permit<V, R> {
    actor: Subject,
    filter: ScopeFilter,
    _kind: PhantomData<fn() -> (V, R)>,
}

impl<V: VerbKind, R: ResourceKind> Permit<V, R> {
    fn new(actor: Subject, filter: ScopeFilter) -> Self {
        Permit {
            actor,
            filter,
            _kind: PhantomData,
        }
    }

    pub fn actor(&self) -> &Subject {
        &self.actor
    }

    /// What the caller may see: every scope of every binding that granted
    /// this permit.
    pub fn filter(&self) -> &ScopeFilter {
        &self.filter
    }

    pub fn verb(&self) -> Verb {
        V::VERB
    }

    pub fn resource(&self) -> Resource {
        R::RESOURCE
    }
}

impl<V: VerbKind, R: ResourceKind> fmt::Debug for Permit<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("actor", &self.actor)
            .field("verb", &V::VERB)
            .field("resource", &R::RESOURCE)
            .field("filter", &self.filter)
            .finish()
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{subject} may not {verb} {resource} {target}")]
pub struct Denied {
    pub subject: Subject,
    pub verb: Verb,
    pub resource: Resource,
    pub target: String,
}

/// Whether `principal` may do `verb` on `resource` at `target`, without a
/// permit: for showing or hiding actions, never for allowing them.
pub fn is_allowed(principal: &Principal, verb: Verb, resource: Resource, target: &Target) -> bool {
    principal
        .granting(verb, resource)
        .any(|b| b.scope.covers(target))
}

/// Refuses a caller that holds `verb` on `resource` nowhere, before a
/// handler looks up where the object lives (so a caller without any grant
/// learns nothing about which objects exist). Not a permit: the handler
/// still authorises against the object's target.
pub fn holds_anywhere(principal: &Principal, verb: Verb, resource: Resource) -> Result<(), Denied> {
    if principal.granting(verb, resource).next().is_some() {
        Ok(())
    } else {
        Err(Denied {
            subject: principal.subject.clone(),
            verb,
            resource,
            target: "anywhere".into(),
        })
    }
}

/// Checks that `principal` may do `V` on `R` at `target`.
pub fn authorize<V: VerbKind, R: ResourceKind>(
    principal: &Principal,
    target: &Target,
) -> Result<Permit<V, R>, Denied> {
    let scopes: Vec<Scope> = principal
        .granting(V::VERB, R::RESOURCE)
        .filter(|b| b.scope.covers(target))
        .map(|b| b.scope.clone())
        .collect();
    if scopes.is_empty() {
        return Err(Denied {
            subject: principal.subject.clone(),
            verb: V::VERB,
            resource: R::RESOURCE,
            target: target.to_string(),
        });
    }
    Ok(Permit::new(
        principal.subject.clone(),
        ScopeFilter::from_scopes(scopes),
    ))
}

/// Checks that `principal` may list `R` anywhere; the permit's filter says
/// where.
pub fn authorize_list<R: ResourceKind>(
    principal: &Principal,
) -> Result<Permit<verbs::List, R>, Denied> {
    let scopes: Vec<Scope> = principal
        .granting(Verb::List, R::RESOURCE)
        .map(|b| b.scope.clone())
        .collect();
    if scopes.is_empty() {
        return Err(Denied {
            subject: principal.subject.clone(),
            verb: Verb::List,
            resource: R::RESOURCE,
            target: "anywhere".into(),
        });
    }
    Ok(Permit::new(
        principal.subject.clone(),
        ScopeFilter::from_scopes(scopes),
    ))
}

/// Why a binding may not be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(
        "{subject} may not grant role {role} {scope}: it does not hold {verb} {resource} there \
         (no one can grant what they do not hold)"
    )]
    Escalation {
        subject: Subject,
        role: String,
        scope: Scope,
        verb: Verb,
        resource: Resource,
    },
}

/// Checks that `principal` may bind `role` within `scope`: it needs
/// `create role-bindings` there, and must itself hold every permission of
/// the role, at a scope at least as wide (cluster-wide for cluster
/// resources).
pub fn check_grant(
    principal: &Principal,
    role: &str,
    scope: &Scope,
) -> Result<Permit<verbs::Create, resources::RoleBindings>, GrantError> {
    let granted = Role::by_name(role).ok_or_else(|| GrantError::UnknownRole(role.to_owned()))?;
    let permit =
        authorize::<verbs::Create, resources::RoleBindings>(principal, &scope.as_target())?;
    // Every rule of the role counts, even ones a narrow scope makes inert:
    // granting `admin` within a namespace needs `admin`'s cluster rights.
    for (verb, resource) in granted.permissions() {
        let held = principal
            .granting(verb, resource)
            .any(|b| b.scope.contains(scope));
        if !held {
            return Err(GrantError::Escalation {
                subject: principal.subject.clone(),
                role: role.to_owned(),
                scope: scope.clone(),
                verb,
                resource,
            });
        }
    }
    Ok(permit)
}

#[cfg(test)]
mod tests;
