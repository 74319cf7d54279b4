//! `bulwark verify` against a real OCI layout written by the test: the
//! decision, the per-rule reasons, exit codes, and one-line errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod trust_support;

use std::process::{Command, Output};

use trust_support::*;

fn bulwark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .output()
        .expect("run bulwark")
}

struct Env {
    dir: tempfile::TempDir,
    world: World,
}

fn setup(mode: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let world = world();
    write_layout(&world.store, &dir.path().join("layout"));
    std::fs::write(dir.path().join("policy.yaml"), policy(&world.key, mode)).unwrap();
    Env { dir, world }
}

impl Env {
    fn verify(&self, image: &str, extra: &[&str]) -> Output {
        let layout = self.dir.path().join("layout");
        let policy = self.dir.path().join("policy.yaml");
        let mut args = vec![
            "verify",
            image,
            "--policy",
            policy.to_str().unwrap(),
            "--layout",
            layout.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        bulwark(&args)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn signed_image_is_allowed_with_reasons() {
    let env = setup("enforce");
    let out = env.verify(SIGNED, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("ALLOW  {SIGNED}@{}", env.world.signed_digest)),
        "{text}"
    );
    assert!(
        text.contains("pass  prod/signatures/release (Enforce): signature verified by release"),
        "{text}"
    );
    assert!(
        text.contains("pass  prod/config/non-root (Enforce) [CIS 4.1]: USER 1000"),
        "{text}"
    );
}

#[test]
fn unsigned_and_root_images_are_denied_with_exit_1() {
    let env = setup("enforce");
    let out = env.verify(UNSIGNED, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAIL  prod/signatures/release"),
        "{}",
        stdout(&out)
    );
    let out = env.verify(ROOTY, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "deny");
    let failed: Vec<_> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] == false)
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        failed,
        vec!["config/non-root"],
        "signed by bundle referrer, but runs as root"
    );
    assert_eq!(v["signatures"][0]["format"], "bundle");
}

#[test]
fn warn_mode_exits_0_and_says_warn() {
    let env = setup("warn");
    let out = env.verify(UNSIGNED, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("WARN"), "{}", stdout(&out));
}

#[test]
fn bad_inputs_give_one_line_errors_and_exit_2() {
    let env = setup("enforce");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "verify",
                "Not A Ref",
                "--policy",
                "/nonexistent",
                "--layout",
                "/nonexistent",
            ],
            "image reference",
        ),
        (
            vec![
                "verify",
                SIGNED,
                "--policy",
                "/nonexistent/policy.yaml",
                "--layout",
                "/tmp",
            ],
            "read policy /nonexistent/policy.yaml",
        ),
    ];
    for (args, want) in cases {
        let out = bulwark(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("bulwark: ")
                && err.contains(want)
                && err.trim_end().lines().count() == 1,
            "{err}"
        );
    }
    let out = env.verify("registry.example/team/missing:1", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registry.example/team/missing:1: not found")
    );
    std::fs::write(env.dir.path().join("policy.yaml"), "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: x}\nspec: {mode: sometimes}\n").unwrap();
    let out = env.verify(SIGNED, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("policy document 0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tampered_layout_blob_is_refused() {
    let env = setup("enforce");
    // Flip a byte of the signed image's signature payload blob: the layout
    // store refuses content that does not match its digest.
    let blobs = env.dir.path().join("layout/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(b"{\"critical\"") {
            bytes[2] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let out = env.verify(SIGNED, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL  prod/signatures/release"));
}
