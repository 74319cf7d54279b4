//! CycloneDX and SPDX output validates against the official JSON schemas
//! (shipped by the registry packages in scripts/python-requirements.txt,
//! checked by `validate_sbom.py` with Python `jsonschema`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_sbom::format::{Format, Producer, render};
use bulwark_sbom::inventory::{Inventory, OS_RELEASE, Survivor};
use bulwark_sbom::{Layer, Sbom, Source, catalog::Limits};

/// The venv `scripts/install-deps.sh` makes, or `python3` on PATH.
fn python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join(".cache/venv/bin/python3"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Runs the validator; `Ok(stdout)` when valid, `Err(output)` when not.
fn validate(kind: &str, document: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sbom.json");
    std::fs::write(&file, document).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_sbom.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(kind)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; run scripts/install-deps.sh",
                python().display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(text),
        Some(1) => Err(text),
        _ => panic!("schema validator unavailable (run scripts/install-deps.sh): {text}"),
    }
}

/// An SBOM with every ecosystem, built through the real catalogers.
fn sbom() -> Sbom {
    let mut inv = Inventory::new(Limits::default());
    let files: Vec<(&str, usize, &[u8])> = vec![
        ("etc/os-release", 0, b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
        ("var/lib/dpkg/status", 0, b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n"),
        ("lib/apk/db/installed", 0, b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n"),
        ("usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA", 1, b"Name: PyYAML\nVersion: 6.0.1\nLicense: MIT License with \"quotes\" & <tags>\n"),
        ("app/node_modules/@babel/core/package.json", 1, br#"{"name":"@babel/core","version":"7.23.2","license":"MIT"}"#),
        ("app/node_modules/lodash/package.json", 1, br#"{"name":"lodash","version":"4.17.21"}"#),
        ("src/Cargo.lock", 1, b"version = 3\n[[package]]\nname = \"serde\"\nversion = \"1.0.190\"\n"),
        ("var/lib/rpm/Packages", 1, b"\0\0\0\0"),
    ];
    let mut survivors = Vec::new();
    for (path, layer, bytes) in files {
        let kind = inv.wants(path, 0o644).unwrap();
        let file = inv.file(layer, path, kind, Ok(bytes));
        survivors.push(Survivor {
            path: path.into(),
            layer,
            file,
        });
    }
    let layers = (0..2)
        .map(|index| Layer {
            index,
            diff_id: format!("sha256:{}", format!("{index}").repeat(64)),
        })
        .collect();
    let source = Source {
        kind: "oci-layout".into(),
        reference: "target/images/debian:bookworm".into(),
        digest: Some(format!("sha256:{}", "e".repeat(64))),
        platform: Some("linux/amd64".into()),
    };
    let os_release = OS_RELEASE.map(String::from);
    inv.finish(source, layers, survivors, &os_release)
}

fn producer() -> Producer<'static> {
    Producer {
        tool: "bulwark",
        version: env!("CARGO_PKG_VERSION"),
        created: time::OffsetDateTime::now_utc(),
    }
}

#[test]
fn cyclonedx_output_validates_against_the_official_1_6_schema() {
    let sbom = sbom();
    assert_eq!(sbom.packages.len(), 7, "{:#?}", sbom.packages);
    assert_eq!(sbom.warnings.len(), 1);
    let doc = render(&sbom, Format::CycloneDx, &producer()).unwrap();
    let out =
        validate("cyclonedx", &doc).unwrap_or_else(|e| panic!("invalid CycloneDX:\n{e}\n{doc}"));
    assert!(out.contains("valid cyclonedx: 8 entries"), "{out}");
}

#[test]
fn spdx_output_validates_against_the_official_2_3_schema() {
    let doc = render(&sbom(), Format::Spdx, &producer()).unwrap();
    let out = validate("spdx", &doc).unwrap_or_else(|e| panic!("invalid SPDX:\n{e}\n{doc}"));
    assert!(out.contains("valid spdx: 9 entries"), "{out}");
}

#[test]
fn the_validator_rejects_documents_that_break_the_schemas() {
    let doc = render(&sbom(), Format::CycloneDx, &producer()).unwrap();
    let broken = doc.replace("\"type\": \"library\"", "\"type\": \"not-a-type\"");
    assert!(validate("cyclonedx", &broken).is_err());
    let doc = render(&sbom(), Format::Spdx, &producer()).unwrap();
    let broken = doc.replace("\"spdxVersion\": \"SPDX-2.3\",", "");
    assert!(validate("spdx", &broken).is_err());
}
