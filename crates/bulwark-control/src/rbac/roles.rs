//! The built-in roles. Each is a list of rules; a rule grants every listed
//! verb on every listed resource.

use super::{Resource, Verb};

/// Verbs on resources.
#[derive(Debug)]
pub struct Rule {
    pub verbs: &'static [Verb],
    pub resources: &'static [Resource],
}

/// A named set of rules.
#[derive(Debug)]
pub struct Role {
    pub name: &'static str,
    pub description: &'static str,
    pub rules: &'static [Rule],
}

use Resource as R;
use Verb as V;

const READ: &[Verb] = &[V::Get, V::List];
const WRITE: &[Verb] = &[V::Create, V::Update, V::Delete];

/// Every built-in role, most powerful first.
pub const ROLES: &[Role] = &[
    Role {
        name: "admin",
        description: "everything, including users, role bindings and the agents' channel",
        rules: &[Rule {
            verbs: &Verb::ALL,
            resources: &Resource::ALL,
        }],
    },
    Role {
        name: "security-operator",
        description: "reads the platform's state; promotes workloads, manages policies, \
                      identities, silences and alert routes, scans images",
        rules: &[
            Rule {
                verbs: READ,
                resources: &[
                    R::Workloads,
                    R::Profiles,
                    R::Alerts,
                    R::Silences,
                    R::AlertRoutes,
                    R::Findings,
                    R::Images,
                    R::Identities,
                    R::Policies,
                    R::Nodes,
                    R::Compliance,
                    R::Metrics,
                ],
            },
            Rule {
                verbs: WRITE,
                resources: &[
                    R::Silences,
                    R::AlertRoutes,
                    R::Policies,
                    R::Identities,
                    R::Images,
                ],
            },
            Rule {
                verbs: &[V::Update],
                resources: &[R::Profiles, R::Workloads],
            },
        ],
    },
    Role {
        name: "auditor",
        description: "reads everything, including the audit log, users and bindings; changes nothing",
        rules: &[Rule {
            verbs: READ,
            resources: &[
                R::Workloads,
                R::Profiles,
                R::Alerts,
                R::Silences,
                R::AlertRoutes,
                R::Findings,
                R::Images,
                R::Identities,
                R::Policies,
                R::Nodes,
                R::Compliance,
                R::Audit,
                R::Users,
                R::Tokens,
                R::RoleBindings,
                R::Metrics,
            ],
        }],
    },
    Role {
        name: "namespace-admin",
        description: "everything on the workloads of its scope, and role bindings within it",
        rules: &[Rule {
            verbs: &Verb::ALL,
            resources: &[
                R::Workloads,
                R::Profiles,
                R::Alerts,
                R::Silences,
                R::Compliance,
                R::RoleBindings,
            ],
        }],
    },
    Role {
        name: "namespace-developer",
        description: "reads the workloads, profiles, alerts and compliance of its scope; silences its alerts",
        rules: &[
            Rule {
                verbs: READ,
                resources: &[
                    R::Workloads,
                    R::Profiles,
                    R::Alerts,
                    R::Silences,
                    R::Compliance,
                ],
            },
            Rule {
                verbs: &[V::Create],
                resources: &[R::Silences],
            },
        ],
    },
    Role {
        name: "viewer",
        description: "reads workloads, profiles, alerts, findings, images, policies, nodes and compliance",
        rules: &[Rule {
            verbs: READ,
            resources: &[
                R::Workloads,
                R::Profiles,
                R::Alerts,
                R::Silences,
                R::AlertRoutes,
                R::Findings,
                R::Images,
                R::Identities,
                R::Policies,
                R::Nodes,
                R::Compliance,
            ],
        }],
    },
    Role {
        name: "agent",
        description: "a node's agent: reports events and alerts, receives profile and policy updates",
        rules: &[Rule {
            verbs: &[V::Create, V::Get],
            resources: &[R::AgentStream],
        }],
    },
    Role {
        name: "scanner",
        description: "a CI pipeline or node scanner: uploads image scans (pushing the same digest \
                      again replaces its findings); reads nothing",
        rules: &[Rule {
            verbs: &[V::Create],
            resources: &[R::Images],
        }],
    },
];

impl Role {
    pub fn by_name(name: &str) -> Option<&'static Role> {
        ROLES.iter().find(|r| r.name == name)
    }

    pub fn grants(&self, verb: Verb, resource: Resource) -> bool {
        self.rules
            .iter()
            .any(|r| r.verbs.contains(&verb) && r.resources.contains(&resource))
    }

    /// Every (verb, resource) this role grants.
    pub fn permissions(&self) -> impl Iterator<Item = (Verb, Resource)> + '_ {
        Verb::ALL.into_iter().flat_map(move |v| {
            Resource::ALL
                .into_iter()
                .filter(move |r| self.grants(v, *r))
                .map(move |r| (v, r))
        })
    }
}
