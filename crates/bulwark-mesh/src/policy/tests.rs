use super::*;

const DOC: &str = "apiVersion: bulwark.dev/v1alpha1
kind: AccessPolicy
metadata:
  name: web-to-api
spec:
  to: spiffe://example.org/api
  from: [spiffe://example.org/web, spiffe://example.org/batch/*]
  ports: [8443]
  http:
    - methods: [GET]
      paths: [/v1/*, /healthz]
";

fn id(s: &str) -> SpiffeId {
    SpiffeId::new(s).unwrap()
}

fn set() -> PolicySet {
    PolicySet::new(PolicySet::parse("p.yaml", DOC).unwrap())
}

#[test]
fn allowed_peer_on_the_right_port() {
    let v = set().connection(
        &id("spiffe://example.org/api"),
        &id("spiffe://example.org/web"),
        8443,
    );
    assert!(v.allowed);
    assert_eq!(v.policy.as_deref(), Some("web-to-api"));
}

#[test]
fn default_deny_names_both_identities() {
    let v = set().connection(
        &id("spiffe://example.org/api"),
        &id("spiffe://example.org/evil"),
        8443,
    );
    assert!(!v.allowed);
    assert!(
        v.reason.contains("spiffe://example.org/evil") && v.reason.contains("default deny"),
        "{}",
        v.reason
    );
    assert!(
        !set()
            .connection(
                &id("spiffe://example.org/api"),
                &id("spiffe://example.org/web"),
                9000
            )
            .allowed
    );
    assert!(
        !set()
            .connection(
                &id("spiffe://example.org/db"),
                &id("spiffe://example.org/web"),
                8443
            )
            .allowed
    );
    assert!(
        !PolicySet::default()
            .connection(&id("spiffe://a/b"), &id("spiffe://a/c"), 1)
            .allowed
    );
}

#[test]
fn prefix_patterns_match_whole_segments_in_the_same_trust_domain() {
    let api = id("spiffe://example.org/api");
    let s = set();
    assert!(
        s.connection(&api, &id("spiffe://example.org/batch/nightly"), 8443)
            .allowed
    );
    assert!(
        !s.connection(&api, &id("spiffe://example.org/batch"), 8443)
            .allowed
    );
    assert!(
        !s.connection(&api, &id("spiffe://example.org/batchjob"), 8443)
            .allowed
    );
    assert!(
        !s.connection(&api, &id("spiffe://evil.org/batch/nightly"), 8443)
            .allowed
    );
}

#[test]
fn http_rules_check_method_and_path() {
    let (api, web) = (
        id("spiffe://example.org/api"),
        id("spiffe://example.org/web"),
    );
    let s = set();
    assert!(s.request(&api, &web, 8443, "GET", "/v1/items?x=1").allowed);
    assert!(s.request(&api, &web, 8443, "GET", "/healthz").allowed);
    assert!(!s.request(&api, &web, 8443, "POST", "/v1/items").allowed);
    assert!(!s.request(&api, &web, 8443, "GET", "/admin").allowed);
    assert!(!s.request(&api, &web, 8443, "GET", "/healthz/x").allowed);
}

#[test]
fn path_traversal_and_encoding_tricks_are_denied() {
    let (api, web) = (
        id("spiffe://example.org/api"),
        id("spiffe://example.org/web"),
    );
    let s = set();
    for path in [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/%2Fadmin",
        "/v1//admin",
        "/v1/./x",
        "v1/x",
        "/v1\\..\\admin",
    ] {
        let v = s.request(&api, &web, 8443, "GET", path);
        assert!(!v.allowed, "{path}");
        assert!(v.reason.contains("refused"), "{path}: {}", v.reason);
    }
}

#[test]
fn policy_without_http_rules_allows_every_request() {
    let doc = DOC.split("  http:").next().unwrap();
    let s = PolicySet::new(PolicySet::parse("p.yaml", doc).unwrap());
    let (api, web) = (
        id("spiffe://example.org/api"),
        id("spiffe://example.org/web"),
    );
    assert!(s.request(&api, &web, 8443, "DELETE", "/anything").allowed);
}

#[test]
fn invalid_documents_are_refused_with_the_reason() {
    let bad = |from: &str, to: &str| {
        PolicySet::parse("p.yaml", &DOC.replace(from, to))
            .unwrap_err()
            .to_string()
    };
    assert!(bad("spiffe://example.org/web,", "spiffe://example.org/../web,").contains("from"));
    assert!(bad("to: spiffe://example.org/api", "to: api").contains("to:"));
    assert!(bad("methods: [GET]", "methods: [get]").contains("upper case"));
    assert!(bad("kind: AccessPolicy", "kind: Pod").contains("apiVersion/kind"));
    assert!(bad("ports:", "port:").contains("port"));
    assert!(
        bad(
            "from: [spiffe://example.org/web, spiffe://example.org/batch/*]",
            "from: []"
        )
        .contains("from is empty")
    );
}
