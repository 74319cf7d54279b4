//! `bulwark sbom` end to end: the real Debian fixture image (built by
//! bulwark-sbom's `tests/fixtures/build-images.sh`, cached under
//! `target/sbom-fixtures`) as CycloneDX and SPDX documents validated against
//! the official schemas, `-o FILE`, and one-line errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod sbom_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sbom_fixture::{fixture, workspace};

fn bulwark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .output()
        .unwrap()
}

fn python() -> PathBuf {
    let venv = workspace().join(".cache/venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn validate(kind: &str, file: &Path) {
    let script = workspace().join("crates/bulwark-sbom/tests/validate_sbom.py");
    let out = Command::new(python())
        .arg(script)
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind} document does not validate (scripts/install-deps.sh installs the validator):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn real_image_cyclonedx_and_spdx_validate_against_the_official_schemas() {
    let image = fixture().join("debian.tar");
    let dir = tempfile::tempdir().unwrap();
    for (format, kind) in [("cyclonedx", "cyclonedx"), ("spdx", "spdx")] {
        let file = dir.path().join(format!("sbom.{format}.json"));
        let out = bulwark(&[
            "sbom",
            image.to_str().unwrap(),
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "with -o nothing goes to stdout");
        validate(kind, &file);
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let entries = doc
            .get("components")
            .or(doc.get("packages"))
            .unwrap()
            .as_array()
            .unwrap()
            .len();
        assert!(entries > 150, "{format}: {entries} entries");
    }
}

#[test]
fn json_on_stdout_and_table_header() {
    let oci = fixture().join("oci");
    let out = bulwark(&["sbom", oci.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success());
    let sbom: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sbom["schema"], "bulwark.sbom/v1");
    assert_eq!(sbom["distro"]["id"], "debian");
    let out = bulwark(&["sbom", oci.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("Debian GNU/Linux 12 (bookworm), 6 layers"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "no progress when stderr is not a terminal"
    );
}

#[test]
fn bad_input_is_one_line_exit_2_and_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"this is not an image").unwrap();
    let target = dir.path().join("out.json");
    let out = bulwark(&[
        "sbom",
        junk.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("bulwark: cannot open image "),
        "{stderr}"
    );
    assert!(stderr.contains("junk.tar"), "{stderr}");
    assert!(!target.exists());
    let out = bulwark(&["sbom", "x", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bulwark(&["sbom", "x", "--username", "u"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--username needs --password"));
}
