//! Policy decision table: one image world (a signed base, an app built on
//! it, images with problems) and the decision each policy must reach, with
//! the rules that must fail. Images are built in memory with our own
//! cosign-format signer; no shared data is used.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use std::collections::BTreeMap;

use bulwark_core::Severity;
use bulwark_trust::evidence::{self, Finding, ImageEvidence, MemoryStore, Needs, SetuidFile};
use bulwark_trust::gate::{Enricher, Gate, GateOptions};
use bulwark_trust::policy::{Outcome, PolicySet, Unmatched, evaluate};
use bulwark_trust::signature::{KeyKind, SigningKey, media_types};
use bulwark_trust::{Digest, ImageRef};
use serde_json::json;

struct World {
    store: MemoryStore,
    release: SigningKey,
    ci: SigningKey,
    base_key: SigningKey,
    app_digest: Digest,
}

fn r(s: &str) -> ImageRef {
    s.parse().unwrap()
}

fn config(user: &str, diff_ids: &[&Digest], env: &[&str]) -> serde_json::Value {
    json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": user, "Env": env, "Healthcheck": {"Test": ["CMD", "/bin/true"]}},
        "history": [{"created_by": "COPY app /app"}],
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}
    })
}

fn sign_legacy(store: &MemoryStore, key: &SigningKey, image: &ImageRef, digest: &Digest) {
    let (payload, ann) = key.simple_signing_layer(image, digest).unwrap();
    store.put_cosign_tag(
        image,
        digest,
        "sig",
        vec![(media_types::SIMPLE_SIGNING, payload, ann)],
    );
}

fn world() -> World {
    let store = MemoryStore::new();
    let release = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let ci = SigningKey::generate(KeyKind::Ed25519).unwrap();
    let base_key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let (l1, l2, l3) = (
        Digest::of(b"base-1"),
        Digest::of(b"base-2"),
        Digest::of(b"app-1"),
    );

    let base = r("registry.example/base/debian:12");
    let base_digest = store.put_image(
        &base,
        config("root", &[&l1, &l2], &[]),
        &[b"b1".to_vec(), b"b2".to_vec()],
    );
    sign_legacy(&store, &base_key, &base, &base_digest);
    let unsigned_base = r("registry.example/base/alpine:3");
    store.put_image(
        &unsigned_base,
        config("root", &[&l1], &[]),
        &[b"b1".to_vec()],
    );

    let app = r("registry.example/team/app:1.0");
    let app_digest = store.put_image(
        &app,
        config("1000", &[&l1, &l2, &l3], &[]),
        &[b"x".to_vec()],
    );
    sign_legacy(&store, &release, &app, &app_digest);
    let bundle = ci
        .dsse_bundle(
            &app,
            &app_digest,
            bulwark_trust::signature::COSIGN_SIGN_PREDICATE,
            json!({}),
        )
        .unwrap();
    store.put_bundle_referrer(&app, &app_digest, 100, bundle);
    let sbom = ci
        .dsse_bundle(
            &app,
            &app_digest,
            "https://cyclonedx.org/bom",
            json!({"components": []}),
        )
        .unwrap();
    store.put_cosign_tag(&app, &app_digest, "att", vec![]);
    store.put_bundle_referrer(&app, &app_digest, 100, sbom);

    // Root user, a secret in ENV, not on the base, unsigned.
    let bad = r("registry.example/team/bad:1");
    store.put_image(
        &bad,
        config("root", &[&Digest::of(b"other")], &["API_TOKEN=s3cr3t"]),
        &[b"y".to_vec()],
    );
    // Signed by release, but the signature names another image's digest.
    let swapped = r("registry.example/team/swapped:1");
    let swapped_digest = store.put_image(&swapped, config("1000", &[&l1], &[]), &[b"z".to_vec()]);
    let (payload, ann) = release.simple_signing_layer(&swapped, &app_digest).unwrap();
    store.put_cosign_tag(
        &swapped,
        &swapped_digest,
        "sig",
        vec![(media_types::SIMPLE_SIGNING, payload, ann)],
    );
    let elsewhere = r("quay.example/team/app:1.0");
    let d = store.put_image(&elsewhere, config("1000", &[&l1], &[]), &[b"q".to_vec()]);
    sign_legacy(&store, &release, &elsewhere, &d);

    World {
        store,
        release,
        ci,
        base_key,
        app_digest,
    }
}

fn indent(pem: &str) -> String {
    pem.lines()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn authorities(w: &World) -> String {
    format!(
        "  authorities:\n    - name: release\n      key:\n        ignoreTlog: true\n        pem: |\n{}\n    - name: ci\n      key:\n        ignoreTlog: true\n        pem: |\n{}\n    - name: base\n      key:\n        ignoreTlog: true\n        pem: |\n{}\n",
        indent(&w.release.public_key_pem().unwrap()),
        indent(&w.ci.public_key_pem().unwrap()),
        indent(&w.base_key.public_key_pem().unwrap()),
    )
}

fn policy(w: &World, body: &str) -> PolicySet {
    let text = format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: p\nspec:\n{}{}",
        authorities(w),
        body
    );
    PolicySet::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn evidence_for(w: &World, set: &PolicySet, image: &str) -> ImageEvidence {
    evidence::collect(&w.store, &r(image), &set.trusted_bases()).unwrap()
}

fn decide(w: &World, set: &PolicySet, image: &str, ns: Option<&str>) -> (Outcome, Vec<String>) {
    let ev = evidence_for(w, set, image);
    let v = evaluate(set, &ev, ns, None);
    let failed = v
        .rules()
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.rule.clone())
        .collect();
    (v.outcome(), failed)
}

const APP: &str = "registry.example/team/app:1.0";

#[test]
fn signature_rules_and_across_rules_threshold_within() {
    let w = world();
    let rows: Vec<(&str, String, &str, Outcome, Vec<&str>)> = vec![
        ("one legacy signature", "  signatures:\n    - {name: rel, authorities: [release]}\n".into(), APP, Outcome::Allow, vec![]),
        ("bundle referrer signature", "  signatures:\n    - {name: ci, authorities: [ci]}\n".into(), APP, Outcome::Allow, vec![]),
        ("threshold 2 of release+ci", "  signatures:\n    - {name: two, authorities: [release, ci], threshold: 2}\n".into(), APP, Outcome::Allow, vec![]),
        ("threshold 2 of release+base", "  signatures:\n    - {name: two, authorities: [release, base], threshold: 2}\n".into(), APP, Outcome::Deny, vec!["signatures/two"]),
        ("AND: second rule unsatisfied", "  signatures:\n    - {name: rel, authorities: [release]}\n    - {name: b, authorities: [base]}\n".into(), APP, Outcome::Deny, vec!["signatures/b"]),
        ("attestation present", "  attestations:\n    - {name: sbom, authorities: [ci], predicateType: 'https://cyclonedx.org/bom'}\n".into(), APP, Outcome::Allow, vec![]),
        ("attestation of another type", "  attestations:\n    - {name: slsa, authorities: [ci], predicateType: 'https://slsa.dev/provenance/v1'}\n".into(), APP, Outcome::Deny, vec!["attestations/slsa"]),
        ("unsigned image", "  signatures:\n    - {name: rel, authorities: [release]}\n".into(), "registry.example/team/bad:1", Outcome::Deny, vec!["signatures/rel"]),
        ("signature for a swapped digest", "  signatures:\n    - {name: rel, authorities: [release]}\n".into(), "registry.example/team/swapped:1", Outcome::Deny, vec!["signatures/rel"]),
    ];
    for (what, body, image, want, failing) in rows {
        let set = policy(&w, &body);
        let (got, failed) = decide(&w, &set, image, None);
        assert_eq!(got, want, "{what}: failed rules {failed:?}");
        assert_eq!(failed, failing, "{what}");
    }
}

#[test]
fn modes_registries_digests_and_selection() {
    let w = world();
    let pinned = format!("registry.example/team/app@{}", w.app_digest);
    let rows: Vec<(&str, &str, String, Option<&str>, Outcome, Vec<&str>)> = vec![
        (
            "warn mode",
            "  mode: warn\n  signatures:\n    - {name: b, authorities: [base]}\n",
            APP.into(),
            None,
            Outcome::Warn,
            vec!["signatures/b"],
        ),
        (
            "audit mode",
            "  mode: audit\n  signatures:\n    - {name: b, authorities: [base]}\n",
            APP.into(),
            None,
            Outcome::Allow,
            vec!["signatures/b"],
        ),
        (
            "trusted registry",
            "  trustedRegistries: ['registry.example/team/*']\n",
            APP.into(),
            None,
            Outcome::Allow,
            vec![],
        ),
        (
            "untrusted registry",
            "  trustedRegistries: ['registry.example/team/*']\n",
            "quay.example/team/app:1.0".into(),
            None,
            Outcome::Deny,
            vec!["registry"],
        ),
        (
            "tag where a digest is required",
            "  requireDigest: true\n",
            APP.into(),
            None,
            Outcome::Deny,
            vec!["digest"],
        ),
        (
            "digest where a digest is required",
            "  requireDigest: true\n",
            pinned,
            None,
            Outcome::Allow,
            vec![],
        ),
        (
            "no policy selects",
            "  images: ['quay.example/**']\n",
            APP.into(),
            None,
            Outcome::Deny,
            vec![],
        ),
        (
            "namespace selected",
            "  namespaces: ['prod-*']\n  signatures:\n    - {name: b, authorities: [base]}\n",
            APP.into(),
            Some("prod-eu"),
            Outcome::Deny,
            vec!["signatures/b"],
        ),
        (
            "namespace not selected",
            "  namespaces: ['prod-*']\n",
            APP.into(),
            Some("dev"),
            Outcome::Deny,
            vec![],
        ),
    ];
    for (what, body, image, ns, want, failing) in rows {
        let set = policy(&w, body);
        let (got, failed) = decide(&w, &set, &image, ns);
        assert_eq!(got, want, "{what}: failed rules {failed:?}");
        assert_eq!(failed, failing, "{what}");
    }
    let set = policy(&w, "  images: ['quay.example/**']\n").with_unmatched(Unmatched::Allow);
    assert_eq!(decide(&w, &set, APP, None).0, Outcome::Allow);
}

#[test]
fn trusted_base_layers_must_prefix_and_be_signed() {
    let w = world();
    let signed =
        "  trustedBases:\n    - {image: 'registry.example/base/debian:12', authorities: [base]}\n";
    let set = policy(&w, signed);
    let ev = evidence_for(&w, &set, APP);
    let v = evaluate(&set, &ev, None, None);
    assert_eq!(v.outcome(), Outcome::Allow, "{:?}", v.rules());
    assert!(
        v.rules()[0].reason.contains("2 layers"),
        "{}",
        v.rules()[0].reason
    );

    // Same layers, but the base's signature must be by `release`: refused.
    let wrong_signer = policy(
        &w,
        "  trustedBases:\n    - {image: 'registry.example/base/debian:12', authorities: [release]}\n",
    );
    assert_eq!(
        decide(&w, &wrong_signer, APP, None),
        (Outcome::Deny, vec!["base".to_string()])
    );
    // An unsigned base whose single layer is a prefix: refused.
    let unsigned = policy(
        &w,
        "  trustedBases:\n    - {image: 'registry.example/base/alpine:3', authorities: [base]}\n",
    );
    assert_eq!(decide(&w, &unsigned, APP, None).0, Outcome::Deny);
    // An image not built on the base: refused.
    assert_eq!(
        decide(&w, &set, "registry.example/team/bad:1", None),
        (Outcome::Deny, vec!["base".to_string()])
    );
}

#[test]
fn findings_limits_and_cis_config_checks() {
    let w = world();
    let set = policy(
        &w,
        "  findings:\n    - {severity: critical, fixable: true, max: 0}\n  config:\n    nonRoot: true\n    healthcheck: true\n    noAddFromUrl: true\n    noSecrets: true\n    noSetuidAdded: true\n  trustedBases:\n    - {image: 'registry.example/base/debian:12', authorities: [base]}\n",
    );
    let mut ev = evidence_for(&w, &set, APP);
    // No scan result and no layer walk: both fail closed.
    let v = evaluate(&set, &ev, None, None);
    let failed: Vec<_> = v
        .rules()
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.rule.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["findings/critical-fixable", "config/no-setuid-added"]
    );

    let finding = |id: &str, sev, fix: Option<&str>| Finding {
        id: id.into(),
        package: "openssl".into(),
        severity: sev,
        fixed_version: fix.map(str::to_string),
    };
    // A scan or walk that failed: both fail closed, saying why.
    ev.findings = Some(Err("vulnerability DB holds no advisories".into()));
    ev.setuid_files = Some(Err("layer 1: diffID mismatch".into()));
    let v = evaluate(&set, &ev, None, None);
    let reasons: Vec<_> = v
        .rules()
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "vulnerability scan failed: vulnerability DB holds no advisories",
            "layers could not be inspected: layer 1: diffID mismatch"
        ]
    );

    ev.findings = Some(Ok(vec![
        finding("CVE-1", Severity::Critical, None),
        finding("CVE-2", Severity::High, Some("1.2")),
    ]));
    ev.setuid_files = Some(Ok(vec![SetuidFile {
        layer: 0,
        path: "usr/bin/su".into(),
        mode: 0o104755,
    }]));
    let v = evaluate(&set, &ev, None, None);
    assert_eq!(
        v.outcome(),
        Outcome::Allow,
        "{:?}",
        v.failures(bulwark_trust::policy::PolicyMode::Enforce)
    );

    ev.findings = Some(Ok(vec![finding(
        "CVE-3",
        Severity::Critical,
        Some("3.0.7"),
    )]));
    ev.setuid_files = Some(Ok(vec![SetuidFile {
        layer: 2,
        path: "app/escalate".into(),
        mode: 0o104755,
    }]));
    let v = evaluate(&set, &ev, None, None);
    let failed: Vec<_> = v
        .rules()
        .iter()
        .filter(|r| !r.passed)
        .map(|r| (r.rule.as_str(), r.cis))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("findings/critical-fixable", None),
            ("config/no-setuid-added", Some("4.8"))
        ]
    );

    let bad = evidence_for(&w, &set, "registry.example/team/bad:1");
    let v = evaluate(&set, &bad, None, None);
    let cis: Vec<_> = v
        .rules()
        .iter()
        .filter(|r| !r.passed)
        .filter_map(|r| r.cis)
        .collect();
    assert_eq!(cis, vec!["4.1", "4.10", "4.8"]);
}

#[test]
fn malformed_policies_are_refused_with_the_field_named() {
    let w = world();
    let cases = [
        (
            "  signatures:\n    - {name: x, authorities: [nobody]}\n",
            "unknown authority",
        ),
        (
            "  signatures:\n    - {name: x, authorities: [release], threshold: 2}\n",
            "threshold 2",
        ),
        (
            "  attestations:\n    - {name: x, authorities: [release]}\n",
            "predicateType is required",
        ),
        ("  bogusField: 1\n", "unknown field"),
    ];
    for (body, want) in cases {
        let text = format!(
            "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: p\nspec:\n{}{}",
            authorities(&w),
            body
        );
        let err = PolicySet::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    assert!(
        PolicySet::from_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n").is_err()
    );
    assert!(PolicySet::from_yaml("").is_err());
    let _ = BTreeMap::<String, String>::new();
}

/// Records which images the gate asked to read layers for, and what for.
#[derive(Default)]
struct RecordingEnricher(std::sync::Mutex<Vec<(String, Needs)>>);

impl Enricher for RecordingEnricher {
    fn enrich(&self, ev: &mut ImageEvidence, needs: Needs) {
        self.0
            .lock()
            .unwrap()
            .push((ev.reference.to_string(), needs));
        if needs.findings {
            ev.findings = Some(Ok(Vec::new()));
        }
        if needs.setuid_files {
            ev.setuid_files = Some(Ok(Vec::new()));
        }
    }
}

#[test]
fn layers_are_read_only_for_images_whose_policies_need_them() {
    let w = world();
    let text = format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: scanned\nspec:\n  images: ['registry.example/team/**']\n  findings:\n    - {{severity: high, max: 0}}\n---\napiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: walked\nspec:\n  images: ['registry.example/team/app*']\n  namespaces: [prod]\n  config:\n    noSetuidAdded: true\n---\napiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: plain\nspec:\n  images: ['quay.example/**']\n{}  signatures:\n    - {{name: release, authorities: [release]}}\n",
        authorities(&w)
    );
    let set = PolicySet::from_yaml(&text).unwrap();
    let enricher = std::sync::Arc::new(RecordingEnricher::default());
    let gate = Gate::new(
        std::sync::Arc::new(w.store),
        set,
        None,
        GateOptions::default(),
    )
    .with_enricher(enricher.clone());
    let both = Needs {
        findings: true,
        setuid_files: true,
    };
    let findings_only = Needs {
        findings: true,
        setuid_files: false,
    };
    assert!(gate.decide(&r(APP), Some("prod")).unwrap().allowed());
    assert!(gate.decide(&r(APP), Some("dev")).unwrap().allowed());
    assert!(
        gate.decide(&r("quay.example/team/app:1.0"), None)
            .unwrap()
            .allowed()
    );
    // Cached: not read again.
    assert!(gate.decide(&r(APP), Some("prod")).unwrap().allowed());
    let calls = enricher.0.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![(APP.to_string(), both), (APP.to_string(), findings_only)],
        "the quay image's policy needs no layers; cached verdicts read nothing"
    );
}
