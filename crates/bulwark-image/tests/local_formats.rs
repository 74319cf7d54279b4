//! Opening and walking images from local sources written in code: OCI
//! layouts, OCI archives, docker archives and root filesystems, with
//! whiteouts, compression variants and layer attribution.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

mod common;

use bulwark_image::testutil::{DockerArchiveBuilder, LayoutBuilder, TarBuilder};
use bulwark_image::{Compression, EntryKind, Image, ImageInput, OpenOptions, SourceKind};
use common::{open, survivors, tar_dir, walk};

fn three_layers() -> Vec<(Vec<u8>, Compression)> {
    let base = TarBuilder::new()
        .dir("etc")
        .file("etc/os-release", b"ID=debian\n")
        .dir("var/lib/dpkg")
        .file("var/lib/dpkg/status", b"Package: base\n")
        .dir("opt/app")
        .file("opt/app/a", b"a")
        .file("opt/app/b", b"b")
        .file("tmp/gone", b"x")
        .finish();
    let middle = TarBuilder::new()
        .file("var/lib/dpkg/status", b"Package: base\n\nPackage: extra\n")
        .whiteout("tmp", "gone")
        .opaque("opt/app")
        .file("opt/app/c", b"c")
        .finish();
    let top = TarBuilder::new()
        .symlink("etc/alias", "../var/lib/dpkg/status")
        .whiteout("", "opt")
        .finish();
    vec![
        (base, Compression::Gzip),
        (middle, Compression::Zstd),
        (top, Compression::None),
    ]
}

fn expected_survivors() -> Vec<(usize, String, String)> {
    vec![
        (0, "etc/os-release".into(), "ID=debian\n".into()),
        (
            1,
            "var/lib/dpkg/status".into(),
            "Package: base\n\nPackage: extra\n".into(),
        ),
    ]
}

fn layout(dir: &std::path::Path) {
    let mut b = LayoutBuilder::new(dir).name("v1");
    for (tar, c) in three_layers() {
        b = b.layer(tar, c);
    }
    b.write();
}

#[test]
fn oci_layout_walks_all_compressions_and_honours_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    let image = open(tmp.path()).unwrap();
    assert_eq!(image.source_kind(), &SourceKind::OciLayout);
    assert!(image.manifest_digest().is_some());
    assert_eq!(image.layers().len(), 3);
    assert_eq!(image.config().os, "linux");
    let (rec, walked) = walk(&image).unwrap();
    assert_eq!(survivors(&walked), expected_survivors());
    let compressions: Vec<_> = walked.layers.iter().map(|l| l.compression).collect();
    assert_eq!(
        compressions,
        vec![
            Some(Compression::Gzip),
            Some(Compression::Zstd),
            Some(Compression::None)
        ]
    );
    assert!(
        rec.seen
            .contains(&(1, "tmp/gone".into(), EntryKind::Whiteout))
    );
    assert!(rec.seen.contains(&(1, "opt/app".into(), EntryKind::Opaque)));
    assert!(rec.seen.contains(&(2, "opt".into(), EntryKind::Whiteout)));
    assert!(rec.seen.contains(&(
        2,
        "etc/alias".into(),
        EntryKind::Symlink(b"../var/lib/dpkg/status".to_vec())
    )));
    for (summary, layer) in walked.layers.iter().zip(image.layers()) {
        assert_eq!(summary.diff_id, layer.diff_id);
        assert_eq!(summary.digest, layer.digest);
    }
}

#[test]
fn oci_archive_reads_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    layout(&dir);
    let archive = tmp.path().join("image.tar");
    tar_dir(&dir, &archive);
    let input = ImageInput::detect(archive.to_str().unwrap()).unwrap();
    assert!(matches!(input, ImageInput::OciArchive { .. }), "{input:?}");
    let image = Image::open_input(&input, &OpenOptions::default()).unwrap();
    assert_eq!(image.source_kind(), &SourceKind::OciArchive);
    let (_, walked) = walk(&image).unwrap();
    assert_eq!(survivors(&walked), expected_survivors());
}

#[test]
fn docker_archive_reads_layers_by_member_and_verifies_diff_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("docker.tar");
    let mut b = DockerArchiveBuilder::new("example/app:1");
    for (tar, _) in three_layers() {
        b = b.layer(tar);
    }
    b.write(&path);
    let image = open(&path).unwrap();
    assert_eq!(image.source_kind(), &SourceKind::DockerArchive);
    assert_eq!(image.repo_tags(), ["example/app:1"]);
    assert!(image.manifest_digest().is_none());
    assert!(image.config_digest().is_some());
    let (_, walked) = walk(&image).unwrap();
    assert_eq!(survivors(&walked), expected_survivors());
    let named = Image::open(
        &format!("docker-archive:{}:example/app:1", path.display()),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(named.layers().len(), 3);
}

#[test]
fn named_image_in_layout_is_selected_and_unknown_name_lists_available() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    let ok = Image::open(
        &format!("oci:{}:v1", tmp.path().display()),
        &OpenOptions::default(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let err = Image::open(
        &format!("oci:{}:v2", tmp.path().display()),
        &OpenOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("v1") && err.contains("\"v2\""), "{err}");
}

#[test]
fn rootfs_directory_is_one_layer_without_following_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=test\n").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", root.join("etc/shadow-link")).unwrap();
    std::fs::write(root.join(".wh.literal"), "not a whiteout here").unwrap();
    let image = open(root).unwrap();
    assert_eq!(image.source_kind(), &SourceKind::RootFs);
    let (rec, walked) = walk(&image).unwrap();
    let paths: Vec<&str> = rec.seen.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [".wh.literal", "etc", "etc/os-release", "etc/shadow-link"]
    );
    assert_eq!(rec.seen[3].2, EntryKind::Symlink(b"/etc/shadow".to_vec()));
    assert_eq!(
        survivors(&walked),
        vec![
            (0, ".wh.literal".into(), "not a whiteout here".into()),
            (0, "etc/os-release".into(), "ID=test\n".into())
        ]
    );
}

#[test]
fn walk_only_reads_every_layer_and_counts_entries() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path());
    let image = open(tmp.path()).unwrap();
    let walked = image.walk_only().unwrap();
    let entries: Vec<u64> = walked.layers.iter().map(|l| l.entries).collect();
    assert_eq!(entries, [8, 4, 2]);
}

#[test]
fn multi_platform_index_picks_the_requested_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let [amd, arm] = common::two_platforms(tmp.path());
    bulwark_image::testutil::write_index(tmp.path(), &[amd, arm]);
    for (platform, want) in [("linux/arm64", "arm64"), ("linux/amd64", "amd64")] {
        let options = OpenOptions {
            platform: Some(platform.parse().unwrap()),
            ..OpenOptions::default()
        };
        let image = Image::open(tmp.path().to_str().unwrap(), &options).unwrap();
        let (_, walked) = walk(&image).unwrap();
        assert_eq!(walked.kept[0].value, want.as_bytes());
    }
    let options = OpenOptions {
        platform: Some("linux/s390x".parse().unwrap()),
        ..OpenOptions::default()
    };
    let err = Image::open(tmp.path().to_str().unwrap(), &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64/v8"),
        "{err}"
    );
}

#[test]
fn unknown_argument_is_a_one_line_error_naming_it() {
    let err = Image::open("/no/such/./Dir", &OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/no/such/./Dir: no such file"), "{err}");
    assert!(!err.contains('\n'));
}
