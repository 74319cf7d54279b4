use super::*;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;

struct Bundles(Vec<(TrustDomain, String, JwtPublicKey)>);

impl JwtBundleSource for Bundles {
    fn jwt_authorities(&self, td: &TrustDomain) -> Option<Vec<(String, JwtPublicKey)>> {
        let keys: Vec<_> = self
            .0
            .iter()
            .filter(|(t, _, _)| t == td)
            .map(|(_, kid, key)| (kid.clone(), key.clone()))
            .collect();
        (!keys.is_empty()).then_some(keys)
    }
}

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn id() -> SpiffeId {
    SpiffeId::new("spiffe://example.org/web").unwrap()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn setup() -> (JwtSigner, Bundles) {
    let signer = JwtSigner::generate().unwrap();
    let bundles = Bundles(vec![(td(), signer.kid().to_owned(), signer.public_key())]);
    (signer, bundles)
}

fn sign_raw(signer: &JwtSigner, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string()),
        b64url(claims.to_string())
    );
    let sig = signer
        .key
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64url(sig.as_ref()))
}

fn claims() -> Value {
    json!({"sub": "spiffe://example.org/web", "aud": ["db"], "exp": 1_800_000_300u64})
}

#[test]
fn issued_token_validates_and_carries_claims() {
    let (signer, bundles) = setup();
    let svid = signer
        .issue(
            &id(),
            &["db".into(), "cache".into()],
            Duration::from_secs(300),
            now(),
        )
        .unwrap();
    let verified = validate_jwt_svid(&svid.token, "cache", &bundles, now()).unwrap();
    assert_eq!(verified.spiffe_id(), &id());
    assert_eq!(verified.claims()["aud"], json!(["db", "cache"]));
    assert_eq!(verified.claims()["exp"], json!(1_800_000_300u64));
}

#[test]
fn wrong_audience_is_rejected() {
    let (signer, bundles) = setup();
    let svid = signer
        .issue(&id(), &["db".into()], Duration::from_secs(300), now())
        .unwrap();
    assert!(matches!(
        validate_jwt_svid(&svid.token, "other", &bundles, now()),
        Err(JwtSvidError::WrongAudience { .. })
    ));
}

#[test]
fn expired_token_is_rejected() {
    let (signer, bundles) = setup();
    let svid = signer
        .issue(&id(), &["db".into()], Duration::from_secs(300), now())
        .unwrap();
    let later = now() + Duration::from_secs(300);
    assert!(matches!(
        validate_jwt_svid(&svid.token, "db", &bundles, later),
        Err(JwtSvidError::Expired { .. })
    ));
}

#[test]
fn tampered_claims_fail_the_signature() {
    let (signer, bundles) = setup();
    let svid = signer
        .issue(&id(), &["db".into()], Duration::from_secs(300), now())
        .unwrap();
    let parts: Vec<&str> = svid.token.split('.').collect();
    let forged =
        json!({"sub": "spiffe://example.org/admin", "aud": ["db"], "exp": 1_900_000_000u64});
    let token = format!("{}.{}.{}", parts[0], b64url(forged.to_string()), parts[2]);
    assert!(matches!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::BadSignature { .. })
    ));
}

#[test]
fn alg_none_and_hmac_are_refused() {
    let (signer, bundles) = setup();
    for alg in ["none", "HS256", "EdDSA"] {
        let header = json!({"alg": alg, "kid": signer.kid()});
        let token = sign_raw(&signer, &header, &claims());
        assert!(
            matches!(
                validate_jwt_svid(&token, "db", &bundles, now()),
                Err(JwtSvidError::UnsupportedAlgorithm(_))
            ),
            "{alg}"
        );
    }
}

#[test]
fn extra_header_members_are_refused() {
    let (signer, bundles) = setup();
    let header = json!({"alg": "ES256", "kid": signer.kid(), "jku": "https://evil.example/keys"});
    let token = sign_raw(&signer, &header, &claims());
    assert_eq!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::ForbiddenHeader("jku".into()))
    );
}

#[test]
fn bad_typ_and_missing_kid_are_refused() {
    let (signer, bundles) = setup();
    let token = sign_raw(
        &signer,
        &json!({"alg": "ES256", "kid": signer.kid(), "typ": "at+jwt"}),
        &claims(),
    );
    assert!(matches!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::BadType(_))
    ));
    let token = sign_raw(&signer, &json!({"alg": "ES256"}), &claims());
    assert_eq!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::MissingKeyId)
    );
}

#[test]
fn key_of_another_trust_domain_is_not_used() {
    let (signer, _) = setup();
    let other = Bundles(vec![(
        TrustDomain::new("other.org").unwrap(),
        signer.kid().to_owned(),
        signer.public_key(),
    )]);
    let svid = signer
        .issue(&id(), &["db".into()], Duration::from_secs(300), now())
        .unwrap();
    assert!(matches!(
        validate_jwt_svid(&svid.token, "db", &other, now()),
        Err(JwtSvidError::UntrustedTrustDomain(_))
    ));
}

#[test]
fn unknown_kid_and_missing_claims_are_refused() {
    let (signer, bundles) = setup();
    let token = sign_raw(&signer, &json!({"alg": "ES256", "kid": "nope"}), &claims());
    assert!(matches!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::UnknownKeyId { .. })
    ));
    let header = json!({"alg": "ES256", "kid": signer.kid()});
    let no_exp = json!({"sub": "spiffe://example.org/web", "aud": "db"});
    assert_eq!(
        validate_jwt_svid(&sign_raw(&signer, &header, &no_exp), "db", &bundles, now()),
        Err(JwtSvidError::MissingClaim("exp"))
    );
    let bad_sub =
        json!({"sub": "spiffe://example.org/../admin", "aud": "db", "exp": 1_900_000_000u64});
    assert!(matches!(
        validate_jwt_svid(&sign_raw(&signer, &header, &bad_sub), "db", &bundles, now()),
        Err(JwtSvidError::BadSubject { .. })
    ));
}

#[test]
fn algorithm_must_fit_the_key() {
    let (signer, bundles) = setup();
    let token = sign_raw(
        &signer,
        &json!({"alg": "RS256", "kid": signer.kid()}),
        &claims(),
    );
    assert!(matches!(
        validate_jwt_svid(&token, "db", &bundles, now()),
        Err(JwtSvidError::KeyMismatch { .. })
    ));
}

#[test]
fn rsa_tokens_from_other_issuers_validate() {
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = rsa.public_key();
    let components: RsaPublicKeyComponents<Vec<u8>> = public.into();
    let key = JwtPublicKey::Rsa {
        n: components.n,
        e: components.e,
    };
    let bundles = Bundles(vec![(td(), "rsa1".into(), key)]);
    for (alg, padding) in [
        (
            "RS256",
            &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding,
        ),
        ("PS384", &signature::RSA_PSS_SHA384),
    ] {
        let header = json!({"alg": alg, "kid": "rsa1", "typ": "JOSE"});
        let input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims().to_string())
        );
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        let token = format!("{input}.{}", b64url(&sig));
        let verified = validate_jwt_svid(&token, "db", &bundles, now()).unwrap();
        assert_eq!(verified.spiffe_id(), &id(), "{alg}");
    }
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let (_, bundles) = setup();
    for token in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", "W10.e30.AA"] {
        assert!(
            validate_jwt_svid(token, "db", &bundles, now()).is_err(),
            "{token}"
        );
    }
    let huge = "a".repeat(MAX_TOKEN_LEN + 1);
    assert!(matches!(
        validate_jwt_svid(&huge, "db", &bundles, now()),
        Err(JwtSvidError::TooLong { .. })
    ));
}
