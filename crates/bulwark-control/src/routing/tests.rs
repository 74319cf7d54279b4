use super::*;

fn meta<'a>(workload: Option<&'a str>, severity: Severity, rule: Option<&'a str>) -> AlertMeta<'a> {
    AlertMeta {
        alert_id: "a-1",
        severity,
        namespace: workload.map_or("default", namespace_of),
        workload,
        rule,
    }
}

fn rule(
    name: &str,
    sev: Severity,
    ns: Option<&str>,
    wl: Option<&str>,
    sinks: &[&str],
) -> RouteRule {
    RouteRule {
        name: name.into(),
        min_severity: sev,
        namespace: ns.map(Into::into),
        workload: wl.map(Into::into),
        sinks: sinks.iter().map(|s| (*s).into()).collect(),
    }
}

#[test]
fn routes_by_severity_namespace_and_workload_to_the_union_of_sinks() {
    let rules = vec![
        rule("crit-pager", Severity::Critical, None, None, &["pager"]),
        rule(
            "prod-high",
            Severity::High,
            Some("prod"),
            None,
            &["webhook", "syslog"],
        ),
        rule("web", Severity::Low, None, Some("k8s:prod/web*"), &["file"]),
    ];
    let got = route(
        &rules,
        &meta(Some("k8s:prod/web-1"), Severity::Critical, None),
    );
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        ["file", "pager", "syslog", "webhook"]
    );
    let got = route(&rules, &meta(Some("k8s:prod/db"), Severity::Medium, None));
    assert!(got.is_empty());
    let got = route(&rules, &meta(Some("k8s:dev/web"), Severity::High, None));
    assert!(
        got.is_empty(),
        "k8s:dev/web is neither in prod nor k8s:prod/web*"
    );
    let got = route(&rules, &meta(None, Severity::Critical, None));
    assert_eq!(got.into_iter().collect::<Vec<_>>(), ["pager"]);
}

#[test]
fn silences_match_every_set_field_until_they_expire() {
    let s = Silence {
        id: "s1".into(),
        matcher: SilenceMatcher {
            workload: Some("image:nginx".into()),
            rule: Some("reverse-shell".into()),
            ..SilenceMatcher::default()
        },
        expires_at: 1_000,
    };
    let silences = [s];
    let hit = meta(Some("image:nginx"), Severity::High, Some("reverse-shell"));
    assert_eq!(
        silenced_by(&silences, &hit, 999).map(|s| s.id.as_str()),
        Some("s1")
    );
    assert!(
        silenced_by(&silences, &hit, 1_000).is_none(),
        "expired at 1000"
    );
    let other_rule = meta(Some("image:nginx"), Severity::High, Some("shell"));
    assert!(silenced_by(&silences, &other_rule, 0).is_none());
    let no_workload = meta(None, Severity::High, Some("reverse-shell"));
    assert!(silenced_by(&silences, &no_workload, 0).is_none());
}

#[test]
fn silence_needs_a_matcher_and_clean_fields() {
    assert!(SilenceMatcher::default().validate().is_err());
    let bad = [
        SilenceMatcher {
            namespace: Some("a/b".into()),
            ..Default::default()
        },
        SilenceMatcher {
            workload: Some("a*b".into()),
            ..Default::default()
        },
        SilenceMatcher {
            rule: Some("x\r\ny".into()),
            ..Default::default()
        },
        SilenceMatcher {
            alert_id: Some(String::new()),
            ..Default::default()
        },
    ];
    for m in bad {
        assert!(m.validate().is_err(), "{m:?}");
    }
    let ok = SilenceMatcher {
        workload: Some("k8s:prod/*".into()),
        ..Default::default()
    };
    assert!(ok.validate().is_ok());
}

#[test]
fn silence_target_is_as_narrow_as_its_matcher() {
    let by_workload = SilenceMatcher {
        workload: Some("k8s:a/web".into()),
        ..Default::default()
    };
    assert_eq!(by_workload.target(), Target::workload("k8s:a/web"));
    let by_ns = SilenceMatcher {
        namespace: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(by_ns.target(), Target::namespace("a"));
    let by_rule = SilenceMatcher {
        rule: Some("r".into()),
        ..Default::default()
    };
    assert_eq!(by_rule.target(), Target::Cluster);
    let everything = SilenceMatcher {
        workload: Some("*".into()),
        ..Default::default()
    };
    assert!(!Scope::Namespace("a".into()).covers(&everything.target()));
}

#[test]
fn route_rule_validation_names_the_field() {
    let r = rule("x\n", Severity::Low, None, None, &["s"]);
    assert!(matches!(
        r.validate(),
        Err(RoutingError::Invalid { field: "name", .. })
    ));
    let r = rule("x", Severity::Low, None, None, &[]);
    assert!(matches!(
        r.validate(),
        Err(RoutingError::Invalid { field: "sinks", .. })
    ));
    let r = rule("x", Severity::Low, None, Some("a b"), &["s"]);
    assert!(r.validate().is_err());
}
