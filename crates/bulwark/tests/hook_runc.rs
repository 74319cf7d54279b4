//! The image stage of the OCI runtime hook with real runc containers
//! (`bulwark-testkit`): `bulwark verify --oci-hook` runs as the
//! `createRuntime` hook, reads the image from the container's annotations,
//! and a container whose image fails the policy does not start.
//! Images, signatures and the layout are made by the test (no shared data).
//! Needs root and runc (scripts/apt-packages.txt).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod trust_support;

use bulwark_testkit::{Container, Hook, HookPoint};
use trust_support::*;

struct Env {
    dir: tempfile::TempDir,
    world: World,
}

fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let world = world();
    write_layout(&world.store, &dir.path().join("layout"));
    std::fs::write(
        dir.path().join("policy.yaml"),
        policy(&world.key, "enforce"),
    )
    .unwrap();
    Env { dir, world }
}

impl Env {
    fn hook(&self) -> Hook {
        let bin = env!("CARGO_BIN_EXE_bulwark");
        let p = |x: &str| self.dir.path().join(x).to_str().unwrap().to_string();
        Hook::new(bin).args([
            bin.to_string(),
            "verify".into(),
            "--oci-hook".into(),
            "--policy".into(),
            p("policy.yaml"),
            "--layout".into(),
            p("layout"),
        ])
    }
}

#[test]
fn container_with_a_signed_image_starts() {
    let env = setup();
    let out = Container::builder("trust-signed")
        .args(["echo", "started"])
        .image(SIGNED, Some(&env.world.signed_digest.to_string()))
        .hook(HookPoint::CreateRuntime, env.hook())
        .run()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, "started\n");
}

#[test]
fn container_with_an_unsigned_image_does_not_start() {
    let env = setup();
    let err = Container::builder("trust-unsigned")
        .args(["echo", "started"])
        .image(UNSIGNED, None)
        .hook(HookPoint::CreateRuntime, env.hook())
        .run()
        .expect_err("runc must refuse to create the container");
    let text = err.to_string();
    assert!(
        text.contains("runc create") || text.contains("runc"),
        "{text}"
    );
    assert!(
        text.contains("signatures/release"),
        "the hook's reason reaches runc's error: {text}"
    );
}

#[test]
fn container_whose_digest_annotation_is_swapped_does_not_start() {
    let env = setup();
    // Claims the signed image's name, but a different digest: the unsigned image's.
    let unsigned = bulwark_trust::evidence::ArtifactStore::manifest(
        &env.world.store,
        &UNSIGNED.parse().unwrap(),
    )
    .unwrap()
    .digest;
    let err = Container::builder("trust-swapped")
        .args(["echo", "started"])
        .image(SIGNED, Some(&unsigned.to_string()))
        .hook(HookPoint::CreateRuntime, env.hook())
        .run();
    assert!(err.is_err(), "a swapped digest must not start");
}

#[test]
fn container_without_an_image_annotation_does_not_start() {
    let env = setup();
    let err = Container::builder("trust-anonymous")
        .args(["echo", "started"])
        .hook(HookPoint::CreateRuntime, env.hook())
        .run()
        .expect_err("no image annotation: refused");
    assert!(err.to_string().contains("no image annotation"), "{err}");
}
