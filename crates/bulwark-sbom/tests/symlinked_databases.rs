//! Package databases and os-release reached through symbolic links, in
//! images written in code: the catalogers must see each file where a process
//! in the container would, whichever way a hostile image routes it, and
//! nothing may resolve outside the image root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use bulwark_image::Compression;
use bulwark_image::testutil::{LayoutBuilder, RegistryAuth, TarBuilder, TestRegistry};
use bulwark_sbom::Sbom;
use bulwark_sbom::catalog::Limits;

fn scan(layers: Vec<Vec<u8>>) -> Sbom {
    common::scan_layout(layers, Limits::default())
}

fn status(packages: &[&str]) -> Vec<u8> {
    packages
        .iter()
        .map(|n| {
            format!("Package: {n}\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n")
        })
        .collect::<String>()
        .into_bytes()
}

/// (name, layer, paths) of every package.
fn packages(sbom: &Sbom) -> Vec<(String, usize, Vec<String>)> {
    sbom.packages
        .iter()
        .map(|p| (p.name.clone(), p.layer.index, p.paths.clone()))
        .collect()
}

/// The SBOM warns that `path` was read as the fixed location `fixed`.
fn assert_read_as(sbom: &Sbom, path: &str, fixed: &str) {
    assert!(
        sbom.warnings
            .iter()
            .any(|w| w.path == path && w.message.contains(fixed)),
        "{:?}",
        sbom.warnings
    );
}

const OS_RELEASE: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\n";

#[test]
fn dpkg_status_hidden_behind_a_same_layer_symlink_is_cataloged_where_it_lands() {
    // `x -> /var/lib/dpkg`, then `x/status`: the runtime writes
    // /var/lib/dpkg/status, replacing the base layer's.
    let sbom = scan(vec![
        TarBuilder::new()
            .file("var/lib/dpkg/status", &status(&["base-files"]))
            .finish(),
        TarBuilder::new()
            .symlink("x", "/var/lib/dpkg")
            .file("x/status", &status(&["base-files", "backdoor"]))
            .finish(),
    ]);
    assert_eq!(
        packages(&sbom),
        [
            ("backdoor".into(), 1, vec!["/var/lib/dpkg/status".into()]),
            ("base-files".into(), 0, vec!["/var/lib/dpkg/status".into()]),
        ]
    );
}

#[test]
fn dpkg_directory_linked_elsewhere_is_read_where_the_link_leads() {
    // The database sits at opt/db/status and the link comes after it, even
    // in a later layer: dpkg in the container still reads it.
    let sbom = scan(vec![
        TarBuilder::new()
            .file("opt/db/status", &status(&["openssl"]))
            .file("etc/os-release", OS_RELEASE)
            .finish(),
        TarBuilder::new()
            .dir("var/lib/")
            .symlink("var/lib/dpkg", "../../opt/db")
            .finish(),
    ]);
    assert_eq!(
        packages(&sbom),
        [("openssl".into(), 0, vec!["/opt/db/status".into()])]
    );
    assert_eq!(
        sbom.packages[0].purl,
        "pkg:deb/debian/openssl@1.0-1?arch=amd64&distro=debian-12"
    );
    assert_read_as(&sbom, "/opt/db/status", "/var/lib/dpkg/status");
}

#[test]
fn linked_status_file_and_status_d_entries_are_read_where_they_lead() {
    let sbom = scan(vec![
        TarBuilder::new()
            .file("srv/real-status", &status(&["zlib1g"]))
            .file("srv/libc6", &status(&["libc6"]))
            .symlink("var/lib/dpkg/status", "/srv/real-status")
            .symlink("var/lib/dpkg/status.d/libc6", "../../../../srv/libc6")
            .finish(),
    ]);
    let names: Vec<String> = sbom.packages.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["libc6", "zlib1g"]);
}

#[test]
fn symlinks_that_climb_out_of_the_root_are_resolved_inside_it() {
    // The host's own /var/lib/dpkg/status must never be what is read.
    let sbom = scan(vec![
        TarBuilder::new()
            .file("db/status", &status(&["inside"]))
            .symlink("var/lib/dpkg", "../../../../../../../../db")
            .symlink("etc/os-release", "/../../../../etc/../usr/lib/os-release")
            .file("usr/lib/os-release", OS_RELEASE)
            .finish(),
    ]);
    assert_eq!(
        packages(&sbom),
        [("inside".into(), 0, vec!["/db/status".into()])]
    );
    assert_eq!(sbom.distro.as_ref().unwrap().id, "debian");
}

#[test]
fn symlink_loop_at_a_package_database_location_is_no_database() {
    let sbom = scan(vec![
        TarBuilder::new()
            .symlink("var/lib/dpkg", "dpkg2")
            .symlink("var/lib/dpkg2", "dpkg")
            .file("etc/os-release", OS_RELEASE)
            .finish(),
    ]);
    assert!(sbom.packages.is_empty());
}

#[test]
fn status_written_below_a_lower_layer_link_replaces_the_link_with_a_directory() {
    // overlayfs: layer 1's real var/lib/dpkg hides layer 0's link, so the
    // container's dpkg reads layer 1's status and opt/db is just a file.
    let sbom = scan(vec![
        TarBuilder::new()
            .file("opt/db/status", &status(&["old"]))
            .symlink("var/lib/dpkg", "/opt/db")
            .finish(),
        TarBuilder::new()
            .file("var/lib/dpkg/status", &status(&["new"]))
            .finish(),
    ]);
    assert_eq!(
        packages(&sbom),
        [("new".into(), 1, vec!["/var/lib/dpkg/status".into()])]
    );
}

#[test]
fn os_release_linked_to_an_unusual_path_still_names_the_distribution() {
    let sbom = scan(vec![
        TarBuilder::new()
            .file("opt/release-info", b"ID=alpine\nVERSION_ID=3.19.1\n")
            .symlink("etc/os-release", "/opt/release-info")
            .file(
                "lib/apk/db/installed",
                b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n",
            )
            .finish(),
    ]);
    assert_eq!(sbom.distro.as_ref().unwrap().id, "alpine");
    assert_eq!(
        sbom.packages[0].purl,
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    );
}

#[test]
fn merged_usr_images_are_cataloged_once_without_extra_work() {
    // lib -> usr/lib: the apk database written at its real path is found
    // through the ordinary pattern; no alias, no warning.
    let sbom = scan(vec![
        TarBuilder::new()
            .symlink("lib", "usr/lib")
            .symlink("bin", "usr/bin")
            .file("usr/lib/os-release", b"ID=alpine\nVERSION_ID=3.21.0\n")
            .symlink("etc/os-release", "../usr/lib/os-release")
            .file(
                "usr/lib/apk/db/installed",
                b"P:busybox\nV:1.37.0-r8\nA:x86_64\no:busybox\n\n",
            )
            .finish(),
    ]);
    assert_eq!(sbom.packages.len(), 1);
    assert_eq!(sbom.distro.as_ref().unwrap().id, "alpine");
    assert!(sbom.warnings.is_empty(), "{:?}", sbom.warnings);
}

#[test]
fn executable_dpkg_status_behind_a_linked_directory_is_still_read() {
    // chmod +x does not hide the database: the file is read both as a
    // possible binary (it is not ELF) and as the status file it stands for.
    let sbom = scan(vec![
        TarBuilder::new()
            .file_mode("opt/db/status", &status(&["hidden"]), 0o755)
            .symlink("var/lib/dpkg", "/opt/db")
            .finish(),
    ]);
    assert_eq!(
        packages(&sbom),
        [("hidden".into(), 0, vec!["/opt/db/status".into()])]
    );
}

#[test]
fn a_file_named_like_a_database_but_not_linked_is_not_cataloged() {
    let sbom = scan(vec![
        TarBuilder::new()
            .file("opt/db/status", &status(&["decoy"]))
            .file("srv/installed", b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n")
            .finish(),
    ]);
    assert!(sbom.packages.is_empty(), "{:?}", packages(&sbom));
    assert!(sbom.warnings.is_empty(), "{:?}", sbom.warnings);
}

#[test]
fn linked_dpkg_directory_from_a_registry_is_read_in_one_walk_each_blob_fetched_once() {
    // The status file comes before the link that makes it the database (in
    // the tar, and a layer below): cataloged on the side during the one
    // walk, not read again.
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    LayoutBuilder::new(dir.path())
        .layer(
            TarBuilder::new()
                .file("opt/db/status", &status(&["openssl"]))
                .file("etc/os-release", OS_RELEASE)
                .finish(),
            Compression::Gzip,
        )
        .layer(
            TarBuilder::new()
                .dir("var/lib/")
                .symlink("var/lib/dpkg", "../../opt/db")
                .finish(),
            Compression::Gzip,
        )
        .name("v1")
        .write();
    let (image, reference) = common::push_and_open(&registry, dir.path(), "v1", "sbom/linked:v1");
    let sbom = bulwark_sbom::scan(&image, &reference, Limits::default()).unwrap();
    assert_eq!(
        packages(&sbom),
        [("openssl".into(), 0, vec!["/opt/db/status".into()])]
    );
    assert_read_as(&sbom, "/opt/db/status", "/var/lib/dpkg/status");
    for layer in image.layers() {
        let digest = layer.digest.as_ref().unwrap().to_string();
        assert_eq!(
            registry.blob_fetches(&digest),
            1,
            "{digest}: {:?}",
            registry.requests()
        );
    }
}
