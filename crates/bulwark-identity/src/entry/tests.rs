use super::*;

fn doc(spec: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: web\nspec:\n  spiffeId: spiffe://example.org/web\n{spec}"
    )
}

fn parse(spec: &str) -> Result<Vec<Entry>, EntryError> {
    Entry::parse_all("web.yaml", &doc(spec))
}

fn attrs() -> WorkloadAttributes {
    WorkloadAttributes {
        pid: 42,
        uid: 1000,
        gid: 1000,
        binary_path: Some("/usr/bin/web".into()),
        binary_sha256: None,
        cgroups: vec!["/bulwark/web".into()],
        container: Some(ContainerAttributes {
            id: "abc".into(),
            image: Some("registry.test/web:1".into()),
            image_digest: Some("sha256:0123".into()),
            labels: [("app".to_string(), "web".to_string())].into(),
            pod_namespace: None,
        }),
    }
}

#[test]
fn parses_a_full_entry() {
    let e = &parse(
        "  selectors:\n    uid: 1000\n    container:\n      imageDigest: sha256:0123\n      labels: {app: web}\n  ttl: 30m\n  jwtTtl: 2m\n  hint: internal\n  dnsNames: [web.internal]\n",
    )
    .unwrap()[0];
    assert_eq!(e.spiffe_id.as_str(), "spiffe://example.org/web");
    assert_eq!(e.x509_ttl, Duration::from_secs(1800));
    assert_eq!(e.jwt_ttl, Duration::from_secs(120));
    assert_eq!(e.hint.as_deref(), Some("internal"));
    assert!(e.matches(&attrs()));
}

#[test]
fn every_given_selector_must_match() {
    let e = &parse("  selectors:\n    uid: 1000\n    binaryPath: /usr/bin/web\n").unwrap()[0];
    assert!(e.matches(&attrs()));
    let mut other = attrs();
    other.uid = 0;
    assert!(!e.matches(&other));
    let mut other = attrs();
    other.binary_path = Some("/usr/bin/evil".into());
    assert!(!e.matches(&other));
}

#[test]
fn container_selectors_need_a_container() {
    let e = &parse("  selectors:\n    container:\n      labels: {app: web}\n").unwrap()[0];
    assert!(e.matches(&attrs()));
    let mut host = attrs();
    host.container = None;
    assert!(!e.matches(&host));
    let mut relabelled = attrs();
    relabelled
        .container
        .as_mut()
        .unwrap()
        .labels
        .insert("app".into(), "db".into());
    assert!(!e.matches(&relabelled));
}

#[test]
fn entry_without_selectors_is_refused() {
    let err = parse("  selectors: {}\n").unwrap_err();
    assert!(err.to_string().contains("match every caller"), "{err}");
    let err = parse("  selectors:\n    container: {}\n").unwrap_err();
    assert!(
        err.to_string().contains("container selector is empty"),
        "{err}"
    );
}

#[test]
fn selector_typo_is_an_error_not_a_wildcard() {
    let err = parse("  selectors:\n    uuid: 1000\n").unwrap_err();
    assert!(err.to_string().contains("uuid"), "{err}");
}

#[test]
fn invalid_ids_kinds_and_ttls_are_refused() {
    let bad_id = doc("  selectors: {uid: 1}\n")
        .replace("spiffe://example.org/web", "spiffe://example.org/../admin");
    assert!(Entry::parse_all("x.yaml", &bad_id).is_err());
    let td_only =
        doc("  selectors: {uid: 1}\n").replace("spiffe://example.org/web", "spiffe://example.org");
    assert!(
        Entry::parse_all("x.yaml", &td_only)
            .unwrap_err()
            .to_string()
            .contains("no path")
    );
    let wrong_kind = doc("  selectors: {uid: 1}\n").replace("WorkloadIdentity", "Pod");
    assert!(matches!(
        Entry::parse_all("x.yaml", &wrong_kind),
        Err(EntryError::Document(
            bulwark_core::document::DocumentError::WrongKind { .. }
        ))
    ));
    assert!(parse("  selectors: {uid: 1}\n  ttl: 0s\n").is_err());
    assert!(parse("  selectors: {uid: 1}\n  ttl: 1w\n").is_err());
    assert!(parse("  selectors: {binarySha256: ABC}\n").is_err());
    assert!(parse("  selectors: {binaryPath: bin/web}\n").is_err());
}

#[test]
fn several_documents_and_first_match_wins_as_default() {
    let yaml = format!(
        "{}---\n{}",
        doc("  selectors: {uid: 1000}\n"),
        doc("  selectors: {gid: 1000}\n")
            .replace("name: web", "name: web2")
            .replace("example.org/web", "example.org/web-admin")
    );
    let entries = Entry::parse_all("multi.yaml", &yaml).unwrap();
    let ids: Vec<_> = identities_for(&entries, &attrs())
        .iter()
        .map(|e| e.spiffe_id.to_string())
        .collect();
    assert_eq!(
        ids,
        ["spiffe://example.org/web", "spiffe://example.org/web-admin"]
    );
    assert!(check_unique_names(&entries).is_ok());
    let dup = [entries[0].clone(), entries[0].clone()];
    assert!(matches!(
        check_unique_names(&dup),
        Err(EntryError::DuplicateName { .. })
    ));
}

#[test]
fn ttl_grammar() {
    assert_eq!(
        parse_ttl(Some("90s"), Duration::ZERO),
        Ok(Duration::from_secs(90))
    );
    assert_eq!(
        parse_ttl(Some("2d"), Duration::ZERO),
        Ok(Duration::from_secs(172_800))
    );
    assert_eq!(
        parse_ttl(None, Duration::from_secs(5)),
        Ok(Duration::from_secs(5))
    );
    for bad in ["", "h", "1", "1.5h", "-1h", "1hh"] {
        assert!(parse_ttl(Some(bad), Duration::ZERO).is_err(), "{bad}");
    }
}
