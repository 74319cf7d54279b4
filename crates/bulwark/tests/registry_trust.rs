//! `bulwark verify` and `bulwark admission` against a real registry on
//! loopback (Debian's docker-registry, distribution 2.8, started by
//! `bulwark-image`'s test support): cosign `.sig` tags and Sigstore bundle
//! referrers found through the OCI 1.1 tag-schema fallback, basic auth from
//! an auth file, tags pinned to the digests verified.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod trust_support;

use std::process::{Command, Output};

use base64::Engine as _;
use bulwark_image::registry::Client;
use bulwark_image::testutil::{RegistryAuth, TestRegistry};
use trust_support::*;

struct Env {
    registry: TestRegistry,
    dir: tempfile::TempDir,
    world: World,
}

fn setup(auth: RegistryAuth) -> Env {
    let registry = TestRegistry::start(auth);
    let world = world_at(&registry.host());
    push(&world.store, &Client::new(&registry.options()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        policy_for(&world.key, "enforce", &registry.host()),
    )
    .unwrap();
    let auth_file = dir.path().join("auth.json");
    let auths = match registry.auth().credentials() {
        Some(c) => {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            serde_json::json!({"auths": {registry.host(): {"auth": token}}})
        }
        None => serde_json::json!({"auths": {}}),
    };
    std::fs::write(&auth_file, auths.to_string()).unwrap();
    Env {
        registry,
        dir,
        world,
    }
}

impl Env {
    fn verify(&self, image: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .args([
                "verify",
                &at(&self.registry.host(), image),
                "--plain-http",
                "--format",
                "json",
                "--policy",
            ])
            .arg(self.dir.path().join("policy.yaml"))
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("auth.json"))
            .output()
            .unwrap()
    }
}

fn failed_rules(out: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] == false)
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn signatures_are_found_in_a_real_registry_with_basic_auth() {
    let env = setup(RegistryAuth::basic("ci", "s3cret"));
    let out = env.verify(SIGNED);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(failed_rules(&out).is_empty());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["digest"], env.world.signed_digest.to_string());
    assert_eq!(v["signatures"][0]["format"], "simple-signing");

    // Signed by a bundle referrer (found through the sha256-<hex> tag), but runs as root.
    let out = env.verify(ROOTY);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(failed_rules(&out), vec!["config/non-root"]);

    let out = env.verify(UNSIGNED);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(failed_rules(&out), vec!["signatures/release"]);
}

#[test]
fn wrong_registry_credentials_are_a_one_line_error() {
    let env = setup(RegistryAuth::basic("ci", "s3cret"));
    std::fs::write(env.dir.path().join("auth.json"), r#"{"auths": {}}"#).unwrap();
    let out = env.verify(SIGNED);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bulwark: ") && err.trim_end().lines().count() == 1,
        "{err}"
    );
}
