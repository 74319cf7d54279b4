//! Paths through symbolic links, the way runtimes unpack layers: an entry
//! written through a link of its own layer lands where the link points
//! (inside the image root, whatever the target says); an entry below a link
//! of a lower layer turns that link into a directory (overlayfs); the final
//! filesystem's links resolve like the kernel's, confined to the root.
//! Layers are hostile tars built in code; nothing is ever written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

mod common;

use std::path::Path;

use bulwark_image::testutil::{LayoutBuilder, TarBuilder};
use bulwark_image::{
    Compression, EntryKind, EntryPath, Image, ImageError, Limit, Limits, OpenOptions, Walked,
};
use common::{survivors, walk};

fn image(dir: &Path, layers: Vec<Vec<u8>>) -> Image {
    let mut b = LayoutBuilder::new(dir);
    for tar in layers {
        b = b.layer(tar, Compression::Gzip);
    }
    b.write();
    common::open(dir).unwrap()
}

fn walk_layers(layers: Vec<Vec<u8>>) -> Result<(common::Recorder, Walked<Vec<u8>>), ImageError> {
    let tmp = tempfile::tempdir().unwrap();
    walk(&image(tmp.path(), layers))
}

fn resolve(walked: &Walked<Vec<u8>>, path: &str) -> Option<String> {
    walked
        .symlinks
        .resolve(&EntryPath::normalize(path.as_bytes()).unwrap())
        .map(|p| p.to_string())
}

/// Every path below `dir`, to show a walk wrote nothing.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn write_through_a_same_layer_symlink_lands_at_its_target_inside_the_root_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarBuilder::new()
        .symlink("evil", "/etc")
        .file("evil/passwd", b"pwned")
        .symlink("up", "../../../../tmp")
        .file("up/owned", b"pwned")
        .finish();
    let image = image(tmp.path(), vec![tar]);
    let before = snapshot(tmp.path());
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let (rec, walked) = walk(&image).unwrap();
    assert_eq!(rec.seen[0].2, EntryKind::Symlink(b"/etc".to_vec()));
    assert_eq!(
        survivors(&walked),
        vec![
            (0, "etc/passwd".into(), "pwned".into()),
            (0, "tmp/owned".into(), "pwned".into())
        ]
    );
    assert_eq!(snapshot(tmp.path()), before);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
    assert!(!Path::new("/tmp/owned").exists());
}

#[test]
fn same_layer_symlink_hiding_the_dpkg_status_is_seen_through() {
    // The attack: the real status is written as `x/status` through
    // `x -> /var/lib/dpkg`, so a scanner matching literal paths never sees a
    // dpkg database while the container has one.
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .file("var/lib/dpkg/status", b"base")
            .finish(),
        TarBuilder::new()
            .symlink("x", "/var/lib/dpkg")
            .file("x/status", b"hidden")
            .finish(),
    ])
    .unwrap();
    assert_eq!(
        survivors(&walked),
        vec![(1, "var/lib/dpkg/status".into(), "hidden".into())]
    );
}

#[test]
fn write_below_a_lower_layer_symlink_turns_it_into_a_directory() {
    // overlayfs: the upper layer's real directory `evil` hides the lower
    // link; /etc/passwd keeps the lower layer's content.
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .file("etc/passwd", b"root")
            .symlink("evil", "/etc")
            .finish(),
        TarBuilder::new().file("evil/passwd", b"pwned").finish(),
    ])
    .unwrap();
    assert_eq!(
        survivors(&walked),
        vec![
            (0, "etc/passwd".into(), "root".into()),
            (1, "evil/passwd".into(), "pwned".into())
        ]
    );
    assert_eq!(walked.symlinks.target(&"evil".into()), None);
    assert_eq!(
        resolve(&walked, "evil/passwd").as_deref(),
        Some("evil/passwd")
    );
}

#[test]
fn merged_usr_links_survive_layers_that_write_below_the_real_directories() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .symlink("lib", "usr/lib")
            .symlink("bin", "usr/bin")
            .file("usr/lib/os-release", b"ID=debian")
            .finish(),
        TarBuilder::new()
            .dir("usr/lib/")
            .file("usr/lib/libnew.so", b"elf")
            .finish(),
    ])
    .unwrap();
    assert_eq!(walked.symlinks.len(), 2);
    assert_eq!(
        resolve(&walked, "lib/os-release").as_deref(),
        Some("usr/lib/os-release")
    );
    assert_eq!(
        resolve(&walked, "lib/libnew.so").as_deref(),
        Some("usr/lib/libnew.so")
    );
}

#[test]
fn whiteout_through_a_same_layer_symlink_deletes_the_target() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new().file("etc/shadow", b"secret").finish(),
        TarBuilder::new()
            .symlink("x", "/etc")
            .whiteout("x", "shadow")
            .finish(),
    ])
    .unwrap();
    assert_eq!(survivors(&walked), vec![]);
}

#[test]
fn opaque_marker_through_a_same_layer_symlink_hides_the_targets_lower_content() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new().file("opt/db/status", b"lower").finish(),
        TarBuilder::new()
            .symlink("x", "opt/db")
            .opaque("x")
            .file("x/new", b"upper")
            .finish(),
    ])
    .unwrap();
    assert_eq!(
        survivors(&walked),
        vec![(1, "opt/db/new".into(), "upper".into())]
    );
}

#[test]
fn hardlink_named_through_a_same_layer_symlink_names_the_real_entry() {
    let (rec, _) = walk_layers(vec![
        TarBuilder::new()
            .file("etc/shadow", b"x")
            .symlink("e", "/etc")
            .hardlink("copy", "e/shadow")
            .finish(),
    ])
    .unwrap();
    assert_eq!(rec.seen[2].2, EntryKind::Hardlink("etc/shadow".into()));
}

#[test]
fn symlink_targets_climbing_above_the_root_resolve_inside_it() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .symlink("var/lib/dpkg", "../../../../../../opt/db")
            .symlink("abs", "/../../etc")
            .symlink("etc/os-release", "../../../usr/lib/os-release")
            .finish(),
    ])
    .unwrap();
    assert_eq!(
        resolve(&walked, "var/lib/dpkg/status").as_deref(),
        Some("opt/db/status")
    );
    assert_eq!(
        resolve(&walked, "abs/shadow").as_deref(),
        Some("etc/shadow")
    );
    assert_eq!(
        resolve(&walked, "etc/os-release").as_deref(),
        Some("usr/lib/os-release")
    );
}

#[test]
fn symlink_loop_on_an_entry_path_is_an_unsafe_path_error() {
    let err = walk_layers(vec![
        TarBuilder::new()
            .symlink("a", "b")
            .symlink("b", "a")
            .file("a/f", b"x")
            .finish(),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, ImageError::UnsafePath { reason, .. } if reason.contains("symbolic links")),
        "{err}"
    );
    assert!(err.to_string().contains("a/f"), "{err}");
}

#[test]
fn symlink_loop_that_no_entry_passes_through_is_harmless_and_resolves_to_nothing() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .symlink("a", "b")
            .symlink("b", "a/c")
            .file("f", b"x")
            .finish(),
    ])
    .unwrap();
    assert_eq!(resolve(&walked, "a"), None);
    assert_eq!(resolve(&walked, "f").as_deref(), Some("f"));
}

#[test]
fn whiteout_of_a_lower_layer_symlink_removes_it() {
    let (_, walked) = walk_layers(vec![
        TarBuilder::new()
            .symlink("var/lib/dpkg", "/opt/db")
            .finish(),
        TarBuilder::new().whiteout("var/lib", "dpkg").finish(),
    ])
    .unwrap();
    assert!(walked.symlinks.is_empty());
}

#[test]
fn too_many_symlinks_hit_the_symlink_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = TarBuilder::new();
    for i in 0..50 {
        b = b.symlink(format!("l{i}"), "/x");
    }
    image(tmp.path(), vec![b.finish()]);
    let err = Image::open(
        tmp.path().to_str().unwrap(),
        &OpenOptions {
            limits: Limits {
                max_symlinks: 20,
                ..Limits::default()
            },
            ..OpenOptions::default()
        },
    )
    .unwrap()
    .walk_only()
    .unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::LimitExceeded {
                what: Limit::Symlinks,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rootfs_directory_links_are_recorded_and_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), b"ID=x").unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    std::os::unix::fs::symlink("/../../../etc", root.join("esc")).unwrap();
    let (_, walked) = walk(&common::open(root).unwrap()).unwrap();
    assert_eq!(
        resolve(&walked, "lib/os-release").as_deref(),
        Some("usr/lib/os-release")
    );
    assert_eq!(
        resolve(&walked, "esc/passwd").as_deref(),
        Some("etc/passwd")
    );
}
