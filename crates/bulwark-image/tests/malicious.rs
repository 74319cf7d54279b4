//! The malicious corpus: hostile layers, layouts and archives built in
//! code, each test named after the behaviour it pins. Every case ends in a
//! clear error or is handled safely; nothing is ever written anywhere.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

mod common;

use std::path::Path;

use bulwark_image::testutil::{
    DockerArchiveBuilder, LayoutBuilder, TarBuilder, compress, write_blob, write_image, write_index,
};
use bulwark_image::{
    Compression, Entry, EntryKind, Image, ImageError, Limit, Limits, OpenOptions, VisitError,
    Visitor, media,
};
use common::{Recorder, survivors, walk};

fn one_layer(dir: &Path, tar: Vec<u8>, compression: Compression) -> Image {
    LayoutBuilder::new(dir).layer(tar, compression).write();
    common::open(dir).unwrap()
}

fn walk_tar(tar: Vec<u8>) -> Result<(Recorder, bulwark_image::Walked<Vec<u8>>), ImageError> {
    let tmp = tempfile::tempdir().unwrap();
    walk(&one_layer(tmp.path(), tar, Compression::Gzip))
}

fn with_limits(dir: &Path, limits: Limits) -> Image {
    Image::open(
        dir.to_str().unwrap(),
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn dotdot_name_climbing_above_the_root_is_an_unsafe_path_error() {
    let err = walk_tar(
        TarBuilder::new()
            .file("../../etc/passwd", b"root::0:0")
            .finish(),
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
    assert!(err.to_string().contains("../../etc/passwd"), "{err}");
}

#[test]
fn absolute_name_is_read_relative_to_the_image_root() {
    let (_, walked) = walk_tar(TarBuilder::new().file("/etc/passwd", b"root").finish()).unwrap();
    assert_eq!(
        survivors(&walked),
        vec![(0, "etc/passwd".into(), "root".into())]
    );
}

#[test]
fn hardlink_climbing_above_the_root_is_an_unsafe_path_error() {
    let err = walk_tar(
        TarBuilder::new()
            .hardlink("shadow", "../../etc/shadow")
            .finish(),
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
}

#[test]
fn hardlink_with_absolute_target_points_inside_the_root() {
    let (rec, _) = walk_tar(
        TarBuilder::new()
            .file("etc/shadow", b"x")
            .hardlink("copy", "/etc/shadow")
            .finish(),
    )
    .unwrap();
    assert_eq!(rec.seen[1].2, EntryKind::Hardlink("etc/shadow".into()));
}

#[test]
fn whiteout_naming_dotdot_is_rejected() {
    for name in ["etc/.wh...", ".wh..", "a/.wh."] {
        let err = walk_tar(TarBuilder::new().file(name, b"").finish()).unwrap_err();
        assert!(
            matches!(err, ImageError::UnsafePath { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn whiteout_with_traversal_components_is_normalised_before_it_is_interpreted() {
    // `.wh.../../x` is `x` once cleaned (as runtimes clean it): a plain file.
    let (rec, _) = walk_tar(TarBuilder::new().file(".wh.../../x", b"plain").finish()).unwrap();
    assert_eq!(rec.seen, vec![(0, "x".into(), EntryKind::File)]);
    let err = walk_tar(TarBuilder::new().file(".wh.../../../x", b"").finish()).unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
}

#[test]
fn whiteout_deletes_only_its_own_directory_entry_from_lower_layers() {
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(
            TarBuilder::new()
                .file("a/secret", b"lower")
                .file("b/secret", b"keep")
                .finish(),
            Compression::Gzip,
        )
        .layer(
            TarBuilder::new()
                .whiteout("a", "secret")
                .file("a/new", b"upper")
                .finish(),
            Compression::Gzip,
        )
        .write();
    let (_, walked) = walk(&common::open(tmp.path()).unwrap()).unwrap();
    assert_eq!(
        survivors(&walked),
        vec![
            (1, "a/new".into(), "upper".into()),
            (0, "b/secret".into(), "keep".into())
        ]
    );
}

#[test]
fn device_nodes_and_fifos_are_reported_without_content() {
    let (rec, walked) = walk_tar(
        TarBuilder::new()
            .special("dev/sda", b'4')
            .special("dev/null", b'3')
            .special("run/fifo", b'6')
            .special("weird", b'Z')
            .finish(),
    )
    .unwrap();
    let kinds: Vec<EntryKind> = rec.seen.iter().map(|s| s.2.clone()).collect();
    assert_eq!(
        kinds,
        [
            EntryKind::BlockDevice,
            EntryKind::CharDevice,
            EntryKind::Fifo,
            EntryKind::Other
        ]
    );
    assert!(walked.kept.is_empty());
}

#[test]
fn duplicate_entries_the_later_one_wins() {
    let (rec, walked) = walk_tar(
        TarBuilder::new()
            .file("etc/passwd", b"first")
            .file("etc/passwd", b"second")
            .finish(),
    )
    .unwrap();
    assert_eq!(rec.seen.len(), 2);
    assert_eq!(
        survivors(&walked),
        vec![(0, "etc/passwd".into(), "second".into())]
    );
}

#[test]
fn non_utf8_names_are_reported_as_bytes() {
    let (rec, walked) = walk_tar(
        TarBuilder::new()
            .file(b"usr/\xff\xfe/bin".as_slice(), b"x")
            .finish(),
    )
    .unwrap();
    assert_eq!(walked.kept[0].path.as_bytes(), b"usr/\xff\xfe/bin");
    assert_eq!(walked.kept[0].path.to_str(), None);
    assert_eq!(rec.seen[0].1, "usr/\u{fffd}\u{fffd}/bin");
}

#[test]
fn very_long_names_within_the_limit_are_read_and_longer_ones_fail() {
    let ok = "d/".repeat(1500) + "f";
    let (_, walked) = walk_tar(TarBuilder::new().file(ok.as_str(), b"deep").finish()).unwrap();
    assert_eq!(walked.kept[0].path.as_bytes().len(), ok.len());
    let too_long = "d/".repeat(2100) + "f";
    let err = walk_tar(TarBuilder::new().file(too_long.as_str(), b"x").finish()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::PathBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn nul_in_a_pax_path_is_an_unsafe_path_error() {
    let name = format!("{}\0/etc/passwd", "a".repeat(120));
    let err = walk_tar(TarBuilder::new().file(name.as_str(), b"x").finish()).unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
}

/// A one-layer layout whose layer holds `size` zero bytes, compressed at
/// a high level and streamed (never held in memory uncompressed).
fn bomb(compression: Compression, size: u64) -> ImageError {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let header = TarBuilder::new()
        .file_declaring("zeros", size, b"")
        .finish_without_end();
    let chunk = vec![0u8; 1 << 20];
    let mut pieces: Vec<&[u8]> = vec![&header];
    pieces.extend(std::iter::repeat_n(chunk.as_slice(), (size >> 20) as usize));
    pieces.push(&[0u8; 1024]);
    let mut diff = bulwark_image::Hasher::new(bulwark_image::Algorithm::Sha256);
    let feed = |out: &mut dyn Write, diff: &mut bulwark_image::Hasher| {
        for p in &pieces {
            diff.update(p);
            out.write_all(p).unwrap();
        }
    };
    let blob = match compression {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            feed(&mut e, &mut diff);
            e.finish().unwrap()
        }
        _ => {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 9).unwrap();
            feed(&mut e, &mut diff);
            e.finish().unwrap()
        }
    };
    let layer = write_blob(tmp.path(), "application/vnd.oci.image.layer.v1.tar", &blob);
    write_image(tmp.path(), &[layer], &[diff.finish()]);
    common::open(tmp.path()).unwrap().walk_only().unwrap_err()
}

#[test]
fn gzip_bomb_is_stopped_by_the_default_ratio_limit() {
    let err = bomb(Compression::Gzip, 512 << 20);
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::Ratio,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn zstd_bomb_is_stopped_by_the_default_ratio_limit() {
    let err = bomb(Compression::Zstd, 512 << 20);
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::Ratio,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn layer_larger_than_the_layer_limit_is_stopped_while_streaming() {
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(
            TarBuilder::new().file("big", &vec![7u8; 300_000]).finish(),
            Compression::None,
        )
        .write();
    let limits = Limits {
        max_layer_bytes: 100_000,
        ..Limits::default()
    };
    let err = with_limits(tmp.path(), limits).walk_only().unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::LayerBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn huge_declared_size_fails_before_reading() {
    let tar = TarBuilder::new()
        .file_declaring("huge", 1 << 50, b"tiny")
        .finish_without_end();
    let err = walk_tar(tar).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::LayerBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_entry_content_is_a_truncation_error() {
    let tar = TarBuilder::new()
        .file("ok", b"fine")
        .file_declaring("cut", 100_000, &[1u8; 3000])
        .finish_without_end();
    let err = walk_tar(tar).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { .. }), "{err}");
}

#[test]
fn truncated_gzip_stream_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new()
        .file("f", &vec![42u8; 100_000])
        .file("g", b"end")
        .finish();
    let gz = compress(&tar, Compression::Gzip);
    let cut = &gz[..gz.len() / 2];
    // A descriptor that matches the cut blob, so only the truncation can fail.
    let layer = write_blob(
        tmp.path(),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        cut,
    );
    write_image(tmp.path(), &[layer], &[bulwark_image::Digest::sha256(&tar)]);
    let err = common::open(tmp.path()).unwrap().walk_only().unwrap_err();
    assert!(
        matches!(err, ImageError::Truncated { .. } | ImageError::Io { .. }),
        "{err}"
    );
}

#[test]
fn layout_index_naming_a_blob_outside_the_layout_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(TarBuilder::new().finish(), Compression::None)
        .write();
    let index = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":10}]}"#;
    std::fs::write(tmp.path().join("index.json"), index).unwrap();
    let err = common::open(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("index.json") && err.contains("invalid digest"),
        "{err}"
    );
}

#[test]
fn symlinked_blob_in_a_layout_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let desc = LayoutBuilder::new(tmp.path())
        .layer(TarBuilder::new().finish(), Compression::None)
        .write();
    let blob = tmp.path().join("blobs/sha256").join(desc.digest.hex());
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::rename(&blob, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &blob).unwrap();
    let err = common::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::UnsafePath {
                reason: "is or passes through a symlink",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn symlinked_blobs_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    LayoutBuilder::new(&layout)
        .layer(TarBuilder::new().finish(), Compression::None)
        .write();
    std::fs::rename(layout.join("blobs"), tmp.path().join("real-blobs")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("real-blobs"), layout.join("blobs")).unwrap();
    let err = common::open(&layout).unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
}

#[test]
fn tampered_layer_blob_is_a_digest_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let image = one_layer(
        tmp.path(),
        TarBuilder::new().file("f", b"original").finish(),
        Compression::None,
    );
    let digest = image.layers()[0].digest.clone().unwrap();
    let path = tmp.path().join("blobs/sha256").join(digest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    let pos = bytes.windows(8).position(|w| w == b"original").unwrap();
    bytes[pos..pos + 8].copy_from_slice(b"tampered");
    std::fs::write(&path, bytes).unwrap();
    let err = image.walk_only().unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
}

#[test]
fn wrong_diff_id_in_the_config_is_a_digest_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new().file("f", b"x").finish();
    let layer = write_blob(
        tmp.path(),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &compress(&tar, Compression::Gzip),
    );
    write_image(
        tmp.path(),
        &[layer],
        &[bulwark_image::Digest::sha256(b"something else")],
    );
    let err = common::open(tmp.path()).unwrap().walk_only().unwrap_err();
    assert!(
        matches!(err, ImageError::DigestMismatch { .. }) && err.to_string().contains("diffID"),
        "{err}"
    );
}

#[test]
fn tampered_config_is_a_digest_mismatch_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(TarBuilder::new().finish(), Compression::None)
        .write();
    let blobs = tmp.path().join("blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if text.contains("\"rootfs\"") {
            std::fs::write(&p, text.replace("amd64", "arm64")).unwrap();
        }
    }
    let err = common::open(tmp.path()).unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
}

#[test]
fn deeply_nested_indexes_hit_the_nesting_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut desc = LayoutBuilder::new(tmp.path())
        .layer(TarBuilder::new().finish(), Compression::None)
        .write_manifest();
    for _ in 0..12 {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [desc]});
        desc = write_blob(
            tmp.path(),
            media::OCI_INDEX,
            &serde_json::to_vec(&index).unwrap(),
        );
    }
    write_index(tmp.path(), &[desc]);
    let err = common::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::Nesting,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn docker_archive_member_path_traversal_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("evil.tar");
    DockerArchiveBuilder::new("evil:1")
        .layer(TarBuilder::new().finish())
        .write(&path);
    // Rewrite manifest.json to point a layer outside the archive.
    let mut rewritten =
        tar::Builder::new(std::fs::File::create(tmp.path().join("evil2.tar")).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "manifest.json" {
            let text = String::from_utf8(data).unwrap();
            let start = text.find("\"Layers\":[\"").unwrap() + 11;
            let end = text[start..].find('"').unwrap() + start;
            data = format!("{}../../../etc/passwd{}", &text[..start], &text[end..]).into_bytes();
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        rewritten.append_data(&mut h, &name, &data[..]).unwrap();
    }
    rewritten.finish().unwrap();
    drop(rewritten);
    let err = common::open(&tmp.path().join("evil2.tar")).unwrap_err();
    assert!(matches!(err, ImageError::UnsafePath { .. }), "{err}");
}

#[test]
fn archive_with_duplicate_members_is_ambiguous() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new()
        .file("manifest.json", b"[]")
        .file("manifest.json", b"[{}]")
        .finish();
    std::fs::write(tmp.path().join("dup.tar"), tar).unwrap();
    let err = common::open(&tmp.path().join("dup.tar"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate member"), "{err}");
}

#[test]
fn compressed_image_archive_is_refused_with_advice() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new().file("manifest.json", b"[]").finish();
    std::fs::write(
        tmp.path().join("img.tar.gz"),
        compress(&tar, Compression::Gzip),
    )
    .unwrap();
    let err = common::open(&tmp.path().join("img.tar.gz"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("decompress it first"), "{err}");
}

#[test]
fn too_many_entries_hit_the_entry_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = TarBuilder::new();
    for i in 0..50 {
        b = b.file(format!("f{i}"), b"");
    }
    LayoutBuilder::new(tmp.path())
        .layer(b.finish(), Compression::Gzip)
        .write();
    let err = with_limits(
        tmp.path(),
        Limits {
            max_entries: 20,
            ..Limits::default()
        },
    )
    .walk_only()
    .unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::Entries,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn reading_past_the_file_limit_is_a_typed_error_the_visitor_may_skip() {
    struct Greedy {
        limited: usize,
    }
    impl Visitor for Greedy {
        type Keep = ();
        fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<()>, VisitError> {
            let mut sink = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(entry, &mut sink) {
                let inner = e.get_ref().and_then(|i| i.downcast_ref::<ImageError>());
                assert!(
                    matches!(
                        inner,
                        Some(ImageError::LimitExceeded {
                            what: Limit::FileRead,
                            ..
                        })
                    ),
                    "{e}"
                );
                self.limited += 1;
            }
            Ok(None)
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(
            TarBuilder::new()
                .file("big", &[1u8; 5000])
                .file("small", b"ok")
                .finish(),
            Compression::Gzip,
        )
        .write();
    let image = with_limits(
        tmp.path(),
        Limits {
            max_file_read: 1000,
            ..Limits::default()
        },
    );
    let mut greedy = Greedy { limited: 0 };
    let walked = image.walk(&mut greedy).unwrap();
    assert_eq!(greedy.limited, 1);
    assert_eq!(walked.layers[0].entries, 2);
}

#[test]
fn encrypted_layers_are_unsupported() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new().finish();
    let layer = write_blob(
        tmp.path(),
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        &tar,
    );
    write_image(tmp.path(), &[layer], &[bulwark_image::Digest::sha256(&tar)]);
    let err = common::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("encrypted layer"), "{err}");
}

#[test]
fn non_image_artifact_is_refused_as_not_a_container_image() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_blob(
        tmp.path(),
        "application/vnd.cncf.helm.config.v1+json",
        b"{}",
    );
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": config, "layers": []});
    let manifest = write_blob(
        tmp.path(),
        media::OCI_MANIFEST,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    write_index(tmp.path(), &[manifest]);
    let err = common::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("not a container image"), "{err}");
}
