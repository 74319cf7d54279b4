//! Vectors for the SPIFFE ID rules of `standards/SPIFFE-ID.md` §2 (spiffe/spiffe
//! at 665a28f, in `../shared/data/spiffe.tar.zst`). The cases are written from
//! the rules themselves; every byte value is tried in the trust domain and in a
//! path segment.

use super::*;

fn err(input: &str) -> SpiffeIdError {
    match SpiffeId::new(input) {
        Ok(id) => panic!("{input:?} was accepted as {id}"),
        Err(e) => e,
    }
}

#[test]
fn accepts_canonical_ids_and_splits_them() {
    let id = SpiffeId::new("spiffe://example.org/ns/prod/sa/web").unwrap();
    assert_eq!(id.trust_domain_name(), "example.org");
    assert_eq!(id.path(), "/ns/prod/sa/web");
    assert_eq!(
        id.segments().collect::<Vec<_>>(),
        ["ns", "prod", "sa", "web"]
    );
    assert!(!id.is_trust_domain_id());
    assert!(id.is_member_of(&TrustDomain::new("example.org").unwrap()));
    assert!(!id.is_member_of(&TrustDomain::new("example.com").unwrap()));

    let td_only = SpiffeId::new("spiffe://example.org").unwrap();
    assert!(td_only.is_trust_domain_id());
    assert_eq!(td_only.path(), "");
    assert_eq!(td_only.segments().count(), 0);
}

#[test]
fn accepts_every_allowed_character() {
    SpiffeId::new("spiffe://a-b_c.d0123456789/a.b-c_D/Z9/..a/a..").unwrap();
    SpiffeId::new("spiffe://1.2.3.4/x").unwrap(); // dotted quads are plain names
    SpiffeId::new("spiffe://td/.hidden/...").unwrap(); // only `.` and `..` alone are forbidden
}

#[test]
fn rejects_wrong_or_missing_scheme() {
    for input in [
        "example.org/a",
        "http://example.org/a",
        "spiffe:/example.org/a",
        "spiffe:example.org",
        "SPIFFE://example.org/a",
        "Spiffe://example.org/a",
        " spiffe://example.org/a",
        "spiffe//example.org",
    ] {
        assert!(
            matches!(err(input), SpiffeIdError::WrongScheme { .. }),
            "{input}"
        );
    }
    assert_eq!(err(""), SpiffeIdError::Empty);
}

#[test]
fn rejects_empty_trust_domain() {
    for input in ["spiffe://", "spiffe:///path", "spiffe://?q", "spiffe://#f"] {
        assert!(
            matches!(err(input), SpiffeIdError::MissingTrustDomain { .. }),
            "{input}"
        );
    }
}

#[test]
fn rejects_upper_case_trust_domain() {
    assert!(matches!(
        err("spiffe://Example.org/a"),
        SpiffeIdError::UpperCaseTrustDomain { ch: 'E', .. }
    ));
    assert!(TrustDomain::new("EXAMPLE").is_err());
}

#[test]
fn rejects_userinfo_and_port() {
    assert!(matches!(
        err("spiffe://user@example.org/a"),
        SpiffeIdError::UserInfo { .. }
    ));
    assert!(matches!(
        err("spiffe://user:pass@example.org/a"),
        SpiffeIdError::Port { .. } | SpiffeIdError::UserInfo { .. }
    ));
    assert!(matches!(
        err("spiffe://example.org:8443/a"),
        SpiffeIdError::Port { .. }
    ));
    assert!(matches!(
        err("spiffe://[::1]/a"),
        SpiffeIdError::TrustDomainChar { ch: '[', .. }
    ));
}

#[test]
fn rejects_percent_encoding_anywhere() {
    for input in [
        "spiffe://ex%61mple.org/a",
        "spiffe://example.org/%2e%2e/admin",
        "spiffe://example.org/a%2Fb",
    ] {
        assert!(
            matches!(err(input), SpiffeIdError::PercentEncoded { .. }),
            "{input}"
        );
    }
}

#[test]
fn rejects_query_and_fragment() {
    for input in [
        "spiffe://example.org?x=1",
        "spiffe://example.org#frag",
        "spiffe://example.org/a?x=1",
        "spiffe://example.org/a#frag",
        "spiffe://example.org/a/b?",
    ] {
        assert!(
            matches!(err(input), SpiffeIdError::QueryOrFragment { .. }),
            "{input}"
        );
    }
}

#[test]
fn rejects_empty_segments_and_trailing_slash() {
    for input in [
        "spiffe://example.org/",
        "spiffe://example.org//a",
        "spiffe://example.org/a//b",
        "spiffe://example.org/a/",
    ] {
        assert!(
            matches!(err(input), SpiffeIdError::EmptySegment { .. }),
            "{input}"
        );
    }
}

#[test]
fn dot_segment_traversal_is_rejected_not_normalised() {
    for input in [
        "spiffe://example.org/.",
        "spiffe://example.org/..",
        "spiffe://example.org/a/../admin",
        "spiffe://example.org/./a",
        "spiffe://example.org/a/.",
    ] {
        assert!(
            matches!(err(input), SpiffeIdError::DotSegment { .. }),
            "{input}"
        );
    }
}

#[test]
fn every_byte_in_the_trust_domain() {
    for b in 0u8..=255 {
        let ch = char::from(b);
        let input = format!("spiffe://tr{ch}ust/path");
        let allowed = b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
        // `/` ends the trust domain and turns the rest into a valid path.
        let valid = allowed || b == b'/';
        assert_eq!(
            SpiffeId::new(input.as_str()).is_ok(),
            valid,
            "byte {b:#04x} in {input:?}"
        );
        assert_eq!(
            TrustDomain::new(format!("tr{ch}ust")).is_ok(),
            allowed,
            "byte {b:#04x} in a bare trust domain"
        );
    }
}

#[test]
fn every_byte_in_a_path_segment() {
    for b in 0u8..=255 {
        let ch = char::from(b);
        let input = format!("spiffe://trustdomain/pa{ch}th");
        let valid = b.is_ascii_alphanumeric() || b"._-/".contains(&b);
        assert_eq!(
            SpiffeId::new(input.as_str()).is_ok(),
            valid,
            "byte {b:#04x} in {input:?}"
        );
    }
}

#[test]
fn non_ascii_is_rejected() {
    assert!(SpiffeId::new("spiffe://exämple.org/a").is_err());
    assert!(SpiffeId::new("spiffe://example.org/ä").is_err());
    assert!(SpiffeId::new("spiffe://example.org/a\u{202e}b").is_err());
}

#[test]
fn length_limits() {
    let td = "a".repeat(MAX_TRUST_DOMAIN_LEN);
    assert!(TrustDomain::new(td.as_str()).is_ok());
    assert!(matches!(
        TrustDomain::new(format!("{td}a")),
        Err(SpiffeIdError::TrustDomainTooLong { len: 256, .. })
    ));

    let prefix = "spiffe://example.org/";
    let max = format!("{prefix}{}", "p".repeat(MAX_SPIFFE_ID_LEN - prefix.len()));
    assert_eq!(max.len(), MAX_SPIFFE_ID_LEN);
    assert!(SpiffeId::new(max.as_str()).is_ok());
    assert!(matches!(
        SpiffeId::new(format!("{max}p")),
        Err(SpiffeIdError::TooLong { len: 2049 })
    ));
}

#[test]
fn trust_domain_builds_ids() {
    let td = TrustDomain::new("example.org").unwrap();
    assert_eq!(td.id().as_str(), "spiffe://example.org");
    assert_eq!(td.id(), SpiffeId::new("spiffe://example.org").unwrap());
    assert_eq!(
        td.member(&["ns", "prod"]).unwrap().as_str(),
        "spiffe://example.org/ns/prod"
    );
    assert!(td.member(&["..", "x"]).is_err());
    assert!(td.member(&["a/b"]).is_ok()); // a `/` in a segment is just two segments
    assert_eq!(td.id().trust_domain(), td);
}

#[test]
fn serde_validates_and_round_trips() {
    let id: SpiffeId = serde_json::from_str("\"spiffe://example.org/web\"").unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        "\"spiffe://example.org/web\""
    );
    assert!(serde_json::from_str::<SpiffeId>("\"spiffe://example.org/../web\"").is_err());
    assert!(serde_json::from_str::<TrustDomain>("\"Example.org\"").is_err());
}

#[test]
fn error_messages_name_the_input() {
    let msg = err("spiffe://example.org/a/../b").to_string();
    assert!(msg.contains("spiffe://example.org/a/../b"), "{msg}");
    assert!(msg.contains(".."), "{msg}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_and_accepts_only_canonical_text(input in "(spiffe://)?[ -~]{0,48}") {
            if let Ok(id) = SpiffeId::new(input.as_str()) {
                prop_assert_eq!(id.as_str(), input.as_str());
                prop_assert!(!id.path().ends_with('/'));
                prop_assert!(id.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
            }
        }

        #[test]
        fn well_formed_ids_round_trip(
            td in "[a-z0-9._-]{1,20}",
            segments in proptest::collection::vec("[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,10}", 0..5),
        ) {
            let td = TrustDomain::new(td).unwrap();
            let id = td.member(&segments).unwrap();
            let reparsed = SpiffeId::new(id.to_string()).unwrap();
            prop_assert_eq!(&reparsed, &id);
            prop_assert_eq!(reparsed.segments().collect::<Vec<_>>(), segments);
            prop_assert_eq!(reparsed.trust_domain(), td);
        }
    }
}
