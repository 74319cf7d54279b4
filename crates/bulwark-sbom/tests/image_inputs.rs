//! Scanning images written in code (bulwark-image's `testutil`): whiteouts
//! and opaque directories, malformed and hostile package files inside
//! layers, and an image pulled from a real registry (Debian's
//! docker-registry on loopback) with basic auth.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use std::io::Write;

use bulwark_image::testutil::{LayoutBuilder, RegistryAuth, TarBuilder, TestRegistry};
use bulwark_image::{Compression, Image, OpenOptions};
use bulwark_sbom::catalog::Limits;
use bulwark_sbom::{Ecosystem, Sbom};
use common::scan_layout;

fn package_json(name: &str, version: &str) -> Vec<u8> {
    format!(r#"{{"name":"{name}","version":"{version}"}}"#).into_bytes()
}

fn names(sbom: &Sbom) -> Vec<(String, usize)> {
    sbom.packages
        .iter()
        .map(|p| (p.name.clone(), p.layer.index))
        .collect()
}

#[test]
fn whiteouts_and_opaque_directories_remove_packages_of_lower_layers() {
    let base = TarBuilder::new()
        .file(
            "app/node_modules/a/package.json",
            &package_json("a", "1.0.0"),
        )
        .file(
            "app/node_modules/b/package.json",
            &package_json("b", "1.0.0"),
        )
        .file(
            "srv/node_modules/c/package.json",
            &package_json("c", "1.0.0"),
        )
        .file(
            "srv/node_modules/d/package.json",
            &package_json("d", "1.0.0"),
        )
        .finish();
    let upper = TarBuilder::new()
        .whiteout("app/node_modules", "a")
        .opaque("srv/node_modules")
        .file(
            "srv/node_modules/e/package.json",
            &package_json("e", "2.0.0"),
        )
        .finish();
    let sbom = scan_layout(vec![base, upper], Limits::default());
    assert_eq!(names(&sbom), [("b".into(), 0), ("e".into(), 1)]);
}

#[test]
fn replaced_file_reports_the_upper_version_only() {
    let base = TarBuilder::new()
        .file(
            "app/node_modules/a/package.json",
            &package_json("a", "1.0.0"),
        )
        .finish();
    let upper = TarBuilder::new()
        .file(
            "app/node_modules/a/package.json",
            &package_json("a", "1.0.1"),
        )
        .finish();
    let sbom = scan_layout(vec![base, upper], Limits::default());
    let got: Vec<_> = sbom
        .packages
        .iter()
        .map(|p| (p.version.as_str(), p.layer.index))
        .collect();
    assert_eq!(got, [("1.0.1", 1)]);
}

fn zip_bomb_jar() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    w.start_file("lib/inner.jar", options).unwrap();
    w.write_all(&vec![0u8; 16 << 20]).unwrap();
    w.start_file("META-INF/maven/org.acme/app/pom.properties", options)
        .unwrap();
    w.write_all(b"groupId=org.acme\nartifactId=app\nversion=1.2.3\n")
        .unwrap();
    w.finish().unwrap().into_inner()
}

#[test]
fn hostile_package_files_in_layers_are_warnings_and_the_rest_is_kept() {
    let huge = format!(
        r#"{{"name":"huge","version":"1.0.0","pad":"{}"}}"#,
        "x".repeat(64 << 10)
    );
    let layer = TarBuilder::new()
        .file("var/lib/dpkg/status", b"Package: ok\nStatus: install ok installed\nVersion: 1.0\n\nPackage: cut\nStatus: install ok inst")
        .file("app/node_modules/huge/package.json", huge.as_bytes())
        .file("app/node_modules/broken/package.json", b"{\"name\": \"broken\", \"vers")
        .file(b"app/node_modules/caf\xe9/package.json".as_slice(), &package_json("cafe", "0.1.0"))
        .file("usr/lib/python3/dist-packages/bogus.dist-info/METADATA", b"\x00\xff garbage without fields")
        .file("opt/app/app.jar", &zip_bomb_jar())
        .file("var/lib/rpm/Packages", b"\x00\x06\x15\x61 berkeley db bytes")
        .file_mode("usr/bin/fake-elf", b"\x7fELF\x02\x01 truncated", 0o755)
        .file_mode("usr/bin/script", b"#!/bin/sh\n", 0o755)
        .finish();
    let limits = Limits {
        metadata_bytes: 16 << 10,
        archive_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    let sbom = scan_layout(vec![layer], limits);
    let got: Vec<_> = sbom
        .packages
        .iter()
        .map(|p| (p.ecosystem, p.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Ecosystem::Deb, "ok"),
            (Ecosystem::Npm, "cafe"),
            (Ecosystem::Maven, "org.acme:app")
        ],
        "{:#?}",
        sbom.warnings
    );
    let warning = |path: &str| {
        sbom.warnings
            .iter()
            .find(|w| w.path == path)
            .unwrap_or_else(|| panic!("no warning for {path}: {:#?}", sbom.warnings))
            .message
            .clone()
    };
    assert!(warning("/var/lib/dpkg/status").contains("cut: no Version field"));
    assert!(
        warning("/app/node_modules/huge/package.json").contains("over the limit of 16384 bytes")
    );
    assert!(warning("/app/node_modules/broken/package.json").contains("not valid package.json"));
    assert!(
        warning("/usr/lib/python3/dist-packages/bogus.dist-info/METADATA")
            .contains("no Name field")
    );
    assert!(warning("/opt/app/app.jar").contains("expands past 1048576 bytes"));
    assert!(
        warning("/var/lib/rpm/Packages").contains("Berkeley DB rpm database found and NOT read")
    );
    assert!(warning("/usr/bin/fake-elf").contains("ELF"));
    assert!(!sbom.warnings.iter().any(|w| w.path == "/usr/bin/script"));
}

#[test]
fn registry_image_with_basic_auth_is_cataloged() {
    let registry = TestRegistry::start(RegistryAuth::basic("sbom", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    LayoutBuilder::new(dir.path())
        .layer(
            TarBuilder::new()
                .file("etc/os-release", b"ID=alpine\nVERSION_ID=3.18.4\n")
                .file(
                    "lib/apk/db/installed",
                    b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n",
                )
                .finish(),
            Compression::Gzip,
        )
        .name("v1")
        .write();
    let (image, reference) = common::push_and_open(&registry, dir.path(), "v1", "sbom/alpine:v1");
    let sbom = bulwark_sbom::scan(&image, &reference, Limits::default()).unwrap();
    assert_eq!(sbom.source.kind, "registry");
    assert!(
        sbom.source
            .digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    let musl = &sbom.packages[0];
    assert_eq!(
        musl.purl,
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
    );
    assert_eq!(sbom.osv_ecosystem(musl).as_deref(), Some("Alpine:v3.18"));

    let anonymous = OpenOptions {
        registry: bulwark_image::registry::RegistryOptions {
            credentials: None,
            auth_files: vec![dir.path().join("no-auth.json")],
            ..registry.options()
        },
        ..OpenOptions::default()
    };
    let err = Image::open(&reference, &anonymous).unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
}
