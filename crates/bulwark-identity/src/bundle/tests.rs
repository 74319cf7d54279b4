use super::*;
use crate::ca::{CaPolicy, TrustDomainCa};
use std::time::SystemTime;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn parse(json: &str) -> Result<TrustBundle, BundleError> {
    TrustBundle::parse_spiffe_json(td(), json.as_bytes())
}

#[test]
fn spiffe_json_round_trips() {
    let ca = TrustDomainCa::init(td(), CaPolicy::default(), SystemTime::now()).unwrap();
    let bundle = ca.bundle();
    let json = bundle.to_spiffe_json();
    assert!(json.contains("\"use\": \"x509-svid\""), "{json}");
    assert!(json.contains("\"spiffe_sequence\": 1"), "{json}");
    let back = parse(&json).unwrap();
    assert_eq!(back, bundle);
}

#[test]
fn x509_entries_carry_no_kid_and_jwt_entries_do() {
    let ca = TrustDomainCa::init(td(), CaPolicy::default(), SystemTime::now()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&ca.bundle().to_spiffe_json()).unwrap();
    for key in doc["keys"].as_array().unwrap() {
        match key["use"].as_str().unwrap() {
            "x509-svid" => {
                assert!(key.get("kid").is_none());
                assert_eq!(key["kty"], "EC");
                assert_eq!(key["x5c"].as_array().unwrap().len(), 1);
            }
            "jwt-svid" => assert!(key["kid"].is_string()),
            other => panic!("unexpected use {other}"),
        }
    }
}

#[test]
fn missing_keys_member_is_an_error_and_empty_keys_revoke() {
    assert!(matches!(
        parse("{\"spiffe_sequence\": 3}"),
        Err(BundleError::MissingKeys { .. })
    ));
    let empty = parse("{\"keys\": []}").unwrap();
    assert!(empty.x509_authorities().is_empty() && empty.jwt_authorities().is_empty());
    let mut set = BundleSet::new();
    set.insert(empty);
    assert!(crate::x509::X509BundleSource::x509_authorities(&set, &td()).is_none());
}

#[test]
fn unknown_types_and_uses_are_ignored() {
    let json = r#"{"keys": [
        {"kty": "oct", "use": "jwt-svid", "kid": "a", "k": "AAAA"},
        {"kty": "EC", "use": "future-svid", "crv": "P-256"},
        {"kty": "EC", "use": "x509-svid"}
    ]}"#;
    let b = parse(json).unwrap();
    assert!(b.x509_authorities().is_empty() && b.jwt_authorities().is_empty());
}

#[test]
fn jwt_key_without_kid_or_with_duplicate_kid_is_refused() {
    let key = r#"{"kty":"EC","use":"jwt-svid","crv":"P-256","x":"ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k","y":"tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM"KID}"#;
    let no_kid = format!("{{\"keys\": [{}]}}", key.replace("KID", ""));
    assert!(matches!(
        parse(&no_kid),
        Err(BundleError::Key { index: 0, .. })
    ));
    let with = key.replace("KID", ",\"kid\":\"k\"");
    let dup = format!("{{\"keys\": [{with},{with}]}}");
    let err = parse(&dup).unwrap_err();
    assert!(err.to_string().contains("duplicate kid"), "{err}");
}

#[test]
fn duplicate_members_and_garbage_are_refused() {
    assert!(parse("{\"keys\": [], \"keys\": []}").is_err());
    assert!(parse("not json").is_err());
    let bad_x5c = r#"{"keys": [{"kty":"EC","use":"x509-svid","x5c":["!!!"]}]}"#;
    assert!(matches!(parse(bad_x5c), Err(BundleError::Key { .. })));
}
