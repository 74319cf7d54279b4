//! `bulwark image-walk`: the walk-only baseline command, over a local
//! layout and a real registry with credentials, and its one-line errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

use std::process::Command;

use bulwark_image::Compression;
use bulwark_image::testutil::{LayoutBuilder, RegistryAuth, TarBuilder, TestRegistry};

fn bulwark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
}

fn layout(dir: &std::path::Path) {
    LayoutBuilder::new(dir)
        .name("v1")
        .layer(
            TarBuilder::new().file("a", b"1").file("b", b"2").finish(),
            Compression::Gzip,
        )
        .layer(
            TarBuilder::new().whiteout("", "a").finish(),
            Compression::Zstd,
        )
        .write();
}

#[test]
fn image_walk_prints_a_json_summary_of_every_layer() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    let out = bulwark()
        .arg("image-walk")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], 3);
    assert_eq!(v["layers"][1]["compression"], "zstd");
    assert!(
        v["manifest_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn image_walk_pulls_from_a_registry_with_credentials_on_stdin() {
    let registry = TestRegistry::start(RegistryAuth::token("dave", "pw"));
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    registry.push_oci_layout(tmp.path(), Some("v1"), "cli/app:1");
    let mut child = bulwark()
        .args([
            "image-walk",
            "--insecure",
            "--username",
            "dave",
            "--password-stdin",
        ])
        .arg(format!("{}/cli/app:1", registry.host()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);
}

#[test]
fn image_walk_errors_are_one_line_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    // Tamper with the first layer blob.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("index.json")).unwrap()).unwrap();
    let manifest_hex = index["manifests"][0]["digest"].as_str().unwrap()[7..].to_owned();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("blobs/sha256").join(manifest_hex)).unwrap(),
    )
    .unwrap();
    let layer_hex = &manifest["layers"][0]["digest"].as_str().unwrap()[7..];
    let blob = tmp.path().join("blobs/sha256").join(layer_hex);
    let other = TarBuilder::new().file("a", b"9").file("b", b"2").finish();
    std::fs::write(
        &blob,
        bulwark_image::testutil::compress(&other, Compression::Gzip),
    )
    .unwrap();
    for (args, needle) in [
        (
            vec!["image-walk".to_owned(), tmp.path().display().to_string()],
            "digest mismatch",
        ),
        (
            vec!["image-walk".into(), "/definitely/missing".into()],
            "no such file",
        ),
        (
            vec![
                "image-walk".into(),
                "--platform".into(),
                "linux".into(),
                "x".into(),
            ],
            "invalid platform",
        ),
    ] {
        let out = bulwark().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        // The error is on the first line (clap adds a usage hint after its own).
        assert!(
            stderr.lines().next().unwrap().contains(needle),
            "{args:?}: {stderr}"
        );
    }
}
