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

const API: &str = "spiffe://example.org/api";
const WEB: &str = "spiffe://example.org/web";

/// Whether `from` may connect to `to` on `port`, and why.
fn conn(s: &PolicySet, from: &str, to: &str, port: u16, layer: Layer) -> Verdict {
    let (from, to) = (id(from), id(to));
    s.connection(
        Hop {
            from: &from,
            to: &to,
            port,
        },
        layer,
    )
}

fn req(s: &PolicySet, from: &str, method: &str, path: &str) -> Verdict {
    let (from, to) = (id(from), id(API));
    s.request(
        Hop {
            from: &from,
            to: &to,
            port: 8443,
        },
        method,
        path,
    )
}

fn tcp_only() -> PolicySet {
    let doc = DOC.split("  http:").next().unwrap();
    PolicySet::new(PolicySet::parse("p.yaml", doc).unwrap())
}

#[test]
fn allowed_peer_on_the_right_port() {
    let v = conn(&tcp_only(), WEB, API, 8443, Layer::Tcp);
    assert!(v.allowed);
    assert_eq!(v.policy.as_deref(), Some("web-to-api"));
}

#[test]
fn default_deny_names_both_identities() {
    let s = tcp_only();
    let v = conn(&s, "spiffe://example.org/evil", API, 8443, Layer::Tcp);
    assert!(!v.allowed);
    assert!(
        v.reason.contains("spiffe://example.org/evil")
            && v.reason.contains(API)
            && v.reason.contains("default deny"),
        "{}",
        v.reason
    );
    assert!(!conn(&s, WEB, API, 9000, Layer::Tcp).allowed);
    assert!(!conn(&s, WEB, "spiffe://example.org/db", 8443, Layer::Tcp).allowed);
    assert!(
        !conn(
            &PolicySet::default(),
            "spiffe://a/c",
            "spiffe://a/b",
            1,
            Layer::Http
        )
        .allowed
    );
}

#[test]
fn a_policy_is_directional_the_callee_may_not_call_back() {
    let v = conn(&tcp_only(), API, WEB, 8443, Layer::Tcp);
    assert!(!v.allowed, "{}", v.reason);
}

#[test]
fn prefix_patterns_match_whole_segments_in_the_same_trust_domain() {
    let s = tcp_only();
    let ok = |from: &str| conn(&s, from, API, 8443, Layer::Tcp).allowed;
    assert!(ok("spiffe://example.org/batch/nightly"));
    assert!(!ok("spiffe://example.org/batch"));
    assert!(!ok("spiffe://example.org/batchjob"));
    assert!(!ok("spiffe://evil.org/batch/nightly"));
}

#[test]
fn http_rules_check_method_and_path() {
    let s = set();
    assert!(req(&s, WEB, "GET", "/v1/items?x=1").allowed);
    assert!(req(&s, WEB, "GET", "/healthz").allowed);
    assert!(!req(&s, WEB, "POST", "/v1/items").allowed);
    assert!(!req(&s, WEB, "GET", "/admin").allowed);
    assert!(!req(&s, WEB, "GET", "/healthz/x").allowed);
    let v = req(&s, "spiffe://example.org/evil", "GET", "/v1/items");
    assert!(
        !v.allowed && v.reason.contains("default deny"),
        "{}",
        v.reason
    );
}

#[test]
fn a_policy_with_http_rules_does_not_open_a_tcp_only_connection() {
    let s = set();
    let v = conn(&s, WEB, API, 8443, Layer::Tcp);
    assert!(!v.allowed);
    assert!(
        v.reason.contains("web-to-api") && v.reason.contains("--http"),
        "{}",
        v.reason
    );
    let v = conn(&s, WEB, API, 8443, Layer::Http);
    assert!(v.allowed, "{}", v.reason);
}

#[test]
fn path_traversal_and_encoding_tricks_are_denied() {
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
        let v = req(&s, WEB, "GET", path);
        assert!(!v.allowed, "{path}");
        assert!(v.reason.contains("refused"), "{path}: {}", v.reason);
    }
}

#[test]
fn policy_without_http_rules_allows_every_request() {
    assert!(req(&tcp_only(), WEB, "DELETE", "/anything").allowed);
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
