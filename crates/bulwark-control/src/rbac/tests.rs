use proptest::prelude::*;

use super::resources::{Alerts, Audit, Profiles, RoleBindings, Users};
use super::verbs::{Create, Get, List, Update};
use super::*;

fn user(name: &str, bindings: &[(&str, &str)]) -> Principal {
    Principal {
        subject: Subject::User(name.into()),
        bindings: bindings
            .iter()
            .map(|(role, scope)| Binding {
                subject: SubjectMatcher::User(name.into()),
                role: (*role).into(),
                scope: scope.parse().unwrap_or(Scope::Cluster),
            })
            .collect(),
    }
}

/// The expected permissions of each role bound cluster-wide, written out
/// independently of `roles.rs`: one line per role and resource, verbs as
/// `g`et `l`ist `c`reate `u`pdate `d`elete (`-` = denied). A resource not
/// listed for a role is denied entirely.
const TABLE: &str = "
admin               *                glcud
security-operator   workloads        gl-u-
security-operator   profiles         gl-u-
security-operator   alerts           gl---
security-operator   silences         glcud
security-operator   alert-routes     glcud
security-operator   findings         gl---
security-operator   images           glcud
security-operator   identities       glcud
security-operator   policies         glcud
security-operator   nodes            gl---
security-operator   compliance       gl---
security-operator   metrics          gl---
auditor             workloads        gl---
auditor             profiles         gl---
auditor             alerts           gl---
auditor             silences         gl---
auditor             alert-routes     gl---
auditor             findings         gl---
auditor             images           gl---
auditor             identities       gl---
auditor             policies         gl---
auditor             nodes            gl---
auditor             compliance       gl---
auditor             audit            gl---
auditor             users            gl---
auditor             tokens           gl---
auditor             role-bindings    gl---
auditor             metrics          gl---
namespace-admin     workloads        glcud
namespace-admin     profiles         glcud
namespace-admin     alerts           glcud
namespace-admin     silences         glcud
namespace-admin     compliance       glcud
namespace-admin     role-bindings    glcud
namespace-developer workloads        gl---
namespace-developer profiles         gl---
namespace-developer alerts           gl---
namespace-developer silences         glc--
namespace-developer compliance       gl---
viewer              workloads        gl---
viewer              profiles         gl---
viewer              alerts           gl---
viewer              silences         gl---
viewer              alert-routes     gl---
viewer              findings         gl---
viewer              images           gl---
viewer              identities       gl---
viewer              policies         gl---
viewer              nodes            gl---
viewer              compliance       gl---
agent               agent-stream     gc---
scanner             images           --c--
";

fn expected(role: &str, resource: Resource, verb: Verb) -> bool {
    let letter = match verb {
        Verb::Get => 'g',
        Verb::List => 'l',
        Verb::Create => 'c',
        Verb::Update => 'u',
        Verb::Delete => 'd',
    };
    TABLE.lines().any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        matches!(cols.as_slice(), [r, res, verbs]
            if *r == role && (*res == "*" || *res == resource.as_str()) && verbs.contains(letter))
    })
}

#[test]
fn every_role_verb_and_resource_matches_the_table() {
    let mut checked = 0;
    for role in ROLES {
        let p = user("u", &[(role.name, "cluster")]);
        for resource in Resource::ALL {
            for verb in Verb::ALL {
                let target = if resource.is_namespaced() {
                    Target::workload("k8s:prod/web")
                } else {
                    Target::Cluster
                };
                assert_eq!(
                    is_allowed(&p, verb, resource, &target),
                    expected(role.name, resource, verb),
                    "role {} {verb} {resource}",
                    role.name
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ROLES.len() * Resource::ALL.len() * Verb::ALL.len());
}

#[test]
fn namespace_binding_reaches_only_its_namespace_and_no_cluster_resource() {
    let p = user("dev", &[("namespace-developer", "namespace:team-a")]);
    for resource in Resource::ALL {
        for verb in Verb::ALL {
            let inside = Target::workload("k8s:team-a/api");
            let outside = Target::workload("k8s:team-b/api");
            assert!(
                !is_allowed(&p, verb, resource, &outside),
                "{verb} {resource}"
            );
            assert!(!is_allowed(&p, verb, resource, &Target::Cluster));
            let want = resource.is_namespaced() && expected("namespace-developer", resource, verb);
            assert_eq!(
                is_allowed(&p, verb, resource, &inside),
                want,
                "{verb} {resource}"
            );
        }
    }
    // An admin role bound to one namespace still never reaches users or the audit log.
    let p = user("nsadmin", &[("admin", "namespace:team-a")]);
    assert!(authorize::<Get, Audit>(&p, &Target::Cluster).is_err());
    assert!(authorize::<Create, Users>(&p, &Target::Cluster).is_err());
    assert!(authorize::<Update, Profiles>(&p, &Target::workload("k8s:team-a/api")).is_ok());
}

#[test]
fn default_deny_without_bindings_or_for_other_subjects() {
    let nobody = user("nobody", &[]);
    let mut someone_elses = user("mallory", &[]);
    someone_elses.bindings = user("alice", &[("admin", "cluster")]).bindings;
    for p in [&nobody, &someone_elses] {
        for resource in Resource::ALL {
            for verb in Verb::ALL {
                assert!(!is_allowed(p, verb, resource, &Target::Cluster));
            }
        }
        assert!(authorize_list::<Alerts>(p).is_err());
    }
}

#[test]
fn unknown_role_in_a_binding_grants_nothing() {
    let p = user("u", &[("superuser", "cluster")]);
    assert!(authorize::<Get, Alerts>(&p, &Target::Cluster).is_err());
}

#[test]
fn workload_scope_matches_prefix_patterns_only() {
    let p = user("u", &[("viewer", "workload:k8s:prod/web*")]);
    assert!(authorize::<Get, Alerts>(&p, &Target::workload("k8s:prod/web-1")).is_ok());
    assert!(authorize::<Get, Alerts>(&p, &Target::workload("k8s:prod/db")).is_err());
    assert!(authorize::<Get, Alerts>(&p, &Target::namespace("prod")).is_err());
    let permit = authorize_list::<Alerts>(&p).map(|p| p.filter().clone());
    let filter = permit.unwrap_or_default();
    assert!(!filter.cluster);
    assert!(filter.allows("prod", Some("k8s:prod/web-2")));
    assert!(!filter.allows("prod", Some("k8s:prod/api")));
    assert!(!filter.allows("prod", None));
}

#[test]
fn list_permit_filter_is_the_union_of_scopes() {
    let p = user(
        "u",
        &[
            ("viewer", "namespace:a"),
            ("namespace-developer", "namespace:b"),
            ("agent", "cluster"),
        ],
    );
    let filter = authorize_list::<Alerts>(&p)
        .map(|p| p.filter().clone())
        .unwrap_or_default();
    assert!(!filter.cluster, "the agent role grants no alerts");
    assert_eq!(filter.namespaces.len(), 2);
    assert!(filter.allows("a", None) && filter.allows("b", None) && !filter.allows("c", None));
}

#[test]
fn spiffe_prefix_binding_matches_ids_below_it_only() {
    let m = SubjectMatcher::Spiffe("spiffe://example.org/bulwark/node/*".into());
    assert!(m.matches(&Subject::Spiffe(
        "spiffe://example.org/bulwark/node/host-1".into()
    )));
    assert!(!m.matches(&Subject::Spiffe(
        "spiffe://example.org/bulwark/node/".into()
    )));
    assert!(!m.matches(&Subject::Spiffe(
        "spiffe://example.org/bulwark/nodes/host-1".into()
    )));
    assert!(!m.matches(&Subject::Spiffe("spiffe://evil.org/bulwark/node/x".into())));
    assert!(!m.matches(&Subject::User("spiffe://example.org/bulwark/node/x".into())));
    let exact = SubjectMatcher::Spiffe("spiffe://example.org/a".into());
    assert!(!exact.matches(&Subject::Spiffe("spiffe://example.org/ab".into())));
}

#[test]
fn user_named_like_a_spiffe_id_is_not_that_identity() {
    let binding = Binding {
        subject: SubjectMatcher::Spiffe("spiffe://example.org/bulwark/node/*".into()),
        role: "agent".into(),
        scope: Scope::Cluster,
    };
    let forged = Principal {
        subject: Subject::User("spiffe://example.org/bulwark/node/x".into()),
        bindings: vec![binding],
    };
    assert!(!is_allowed(
        &forged,
        Verb::Create,
        Resource::AgentStream,
        &Target::Cluster
    ));
}

// === escalation ===

#[test]
fn no_one_can_grant_a_role_they_do_not_hold() {
    let op = user("op", &[("security-operator", "cluster")]);
    for role in ROLES {
        assert!(
            check_grant(&op, role.name, &Scope::Cluster).is_err(),
            "security-operator has no create role-bindings, may not grant {}",
            role.name
        );
    }
    let ns_admin = user("na", &[("namespace-admin", "namespace:team-a")]);
    let grant = |role: &str, scope: &str| {
        check_grant(&ns_admin, role, &scope.parse().unwrap_or(Scope::Cluster))
    };
    assert!(grant("namespace-developer", "namespace:team-a").is_ok());
    assert!(grant("namespace-admin", "namespace:team-a").is_ok());
    assert!(grant("namespace-developer", "workload:k8s:team-a/api*").is_ok());
    assert!(matches!(
        grant("admin", "namespace:team-a"),
        Err(GrantError::Escalation { .. })
    ));
    assert!(matches!(
        grant("security-operator", "namespace:team-a"),
        Err(GrantError::Escalation { .. })
    ));
    assert!(matches!(
        grant("viewer", "namespace:team-a"),
        Err(GrantError::Escalation { .. })
    ));
    assert!(matches!(
        grant("namespace-developer", "namespace:team-b"),
        Err(GrantError::Denied(_))
    ));
    assert!(matches!(
        grant("namespace-developer", "cluster"),
        Err(GrantError::Denied(_))
    ));
    // A pattern that could reach other namespaces is not "within team-a".
    assert!(grant("namespace-developer", "workload:k8s:*").is_err());
    assert!(grant("namespace-developer", "workload:*").is_err());
    assert!(matches!(
        grant("nonexistent", "namespace:team-a"),
        Err(GrantError::UnknownRole(_))
    ));
}

#[test]
fn workload_scoped_granter_grants_only_within_its_pattern() {
    let scope = |text: &str| -> Scope { text.parse().expect("a valid scope") };
    let api_admin = user("wa", &[("namespace-admin", "workload:k8s:team-a/api*")]);
    let grant = |role: &str, at: &str| check_grant(&api_admin, role, &scope(at));
    // Within its pattern: a narrower pattern or one workload.
    assert!(grant("namespace-developer", "workload:k8s:team-a/api-v2*").is_ok());
    assert!(grant("namespace-developer", "workload:k8s:team-a/api").is_ok());
    assert!(grant("namespace-admin", "workload:k8s:team-a/api*").is_ok());
    // Anything wider or elsewhere: the namespace, a wider pattern, a
    // sibling workload, another namespace, the cluster.
    for at in [
        "namespace:team-a",
        "workload:k8s:team-a/*",
        "workload:k8s:team-a/ap*",
        "workload:k8s:team-a/web",
        "workload:k8s:team-b/api*",
        "cluster",
    ] {
        assert!(
            grant("namespace-developer", at).is_err(),
            "a workload-scoped admin granted namespace-developer at {at}"
        );
    }
    // A role with cluster-wide rules is never its to give.
    assert!(matches!(
        grant("viewer", "workload:k8s:team-a/api"),
        Err(GrantError::Escalation { .. })
    ));
    // A developer holds no create role-bindings at all.
    let dev = user("d", &[("namespace-developer", "namespace:team-a")]);
    assert!(matches!(
        check_grant(
            &dev,
            "namespace-developer",
            &scope("workload:k8s:team-a/api")
        ),
        Err(GrantError::Denied(_))
    ));
}

#[test]
fn admin_can_grant_everything_everywhere() {
    let admin = user("root", &[("admin", "cluster")]);
    for role in ROLES {
        for scope in ["cluster", "namespace:x", "workload:image:nginx"] {
            let scope: Scope = scope.parse().unwrap_or(Scope::Cluster);
            assert!(
                check_grant(&admin, role.name, &scope).is_ok(),
                "{}",
                role.name
            );
        }
    }
    let permit = check_grant(&admin, "viewer", &Scope::Cluster);
    assert!(matches!(permit, Ok(p) if p.resource() == Resource::RoleBindings));
}

#[test]
fn typed_permits_carry_verb_resource_and_actor() {
    let p = user("alice", &[("auditor", "cluster")]);
    let permit = authorize::<List, Audit>(&p, &Target::Cluster);
    assert!(
        matches!(&permit, Ok(p) if p.verb() == Verb::List && p.resource() == Resource::Audit
        && p.actor() == &Subject::User("alice".into()))
    );
    assert!(authorize::<Create, RoleBindings>(&p, &Target::Cluster).is_err());
}

// === scopes ===

#[test]
fn scope_text_round_trips_and_rejects_bad_input() {
    for s in [
        "cluster",
        "namespace:prod",
        "workload:image:nginx",
        "workload:k8s:prod/*",
    ] {
        assert_eq!(s.parse::<Scope>().map(|s| s.to_string()).as_deref(), Ok(s));
    }
    for bad in [
        "",
        "namespace:",
        "namespace:a/b",
        "namespace:*",
        "workload:",
        "workload:a*b",
        "workload:a\nb",
        "global",
        "namespace:a b",
    ] {
        assert!(bad.parse::<Scope>().is_err(), "{bad:?}");
    }
}

#[test]
fn namespace_of_workload_ids() {
    assert_eq!(namespace_of("k8s:prod/web"), "prod");
    assert_eq!(namespace_of("k8s:/web"), "default");
    assert_eq!(namespace_of("k8s:noslash"), "default");
    assert_eq!(namespace_of("image:docker.io/library/nginx"), "default");
}

#[test]
fn like_patterns_escape_wildcards() {
    let f = ScopeFilter::from_scopes(vec![
        Scope::Workload("a_b%*".into()),
        Scope::Workload("exact".into()),
    ]);
    let mut got = f.workload_like_patterns();
    got.sort();
    assert_eq!(got, vec![r"a\_b\%%".to_string(), "exact".to_string()]);
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::Cluster),
        "[ab]".prop_map(Scope::Namespace),
        "(k8s:[ab]/[xy]|image:[xy])\\*?".prop_map(Scope::Workload),
    ]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Cluster),
        "[ab]".prop_map(|ns| Target::namespace(&ns)),
        "(k8s:[ab]/[xy]z?|image:[xy]z?)".prop_map(|w| Target::workload(&w)),
    ]
}

proptest! {
    /// Containment is sound: whatever the inner scope covers, the outer does.
    #[test]
    fn contains_implies_covers(outer in arb_scope(), inner in arb_scope(), target in arb_target()) {
        if outer.contains(&inner) && inner.covers(&target) {
            prop_assert!(outer.covers(&target), "{outer} contains {inner} but misses {target}");
        }
    }

    /// Nothing is allowed without a binding that explicitly grants it there.
    #[test]
    fn allowed_only_with_an_explicit_grant(
        roles in proptest::collection::vec((0..ROLES.len(), arb_scope()), 0..4),
        verb in 0..5usize, resource in 0..17usize, target in arb_target(),
    ) {
        let p = Principal {
            subject: Subject::User("u".into()),
            bindings: roles.iter().map(|(i, scope)| Binding {
                subject: SubjectMatcher::User("u".into()),
                role: ROLES[*i].name.into(),
                scope: scope.clone(),
            }).collect(),
        };
        let (verb, resource) = (Verb::ALL[verb], Resource::ALL[resource]);
        let allowed = is_allowed(&p, verb, resource, &target);
        let explicit = roles.iter().any(|(i, scope)| {
            ROLES[*i].grants(verb, resource)
                && scope.covers(&target)
                && (resource.is_namespaced() || *scope == Scope::Cluster)
        });
        prop_assert_eq!(allowed, explicit);
    }
}
