//! Images built by real tools: umoci writes an OCI layout with whiteout and
//! opaque layers, skopeo converts it to a docker archive and an OCI archive.
//! All three must read the same, and the files that survive must be exactly
//! the regular files `umoci unpack` materialises (the squash oracle).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bulwark_image::{Image, OpenOptions, SourceKind};
use common::walk;

fn run(cmd: &mut Command) {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}: install it with scripts/install-deps.sh"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three layers: a base, a whiteout of `app/gone`, an opaque `app` with `c`.
fn build(dir: &Path) {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::create_dir_all(src.join("app/sub")).unwrap();
    std::fs::write(src.join("etc/os-release"), "ID=umoci\n").unwrap();
    std::fs::write(src.join("app/a"), "a\n").unwrap();
    std::fs::write(src.join("app/gone"), "gone\n").unwrap();
    std::fs::write(src.join("app/sub/deep"), "deep\n").unwrap();
    std::fs::write(src.join("keep"), "keep\n").unwrap();
    std::os::unix::fs::symlink("../etc/os-release", src.join("app/link")).unwrap();
    let src2 = dir.join("src2");
    std::fs::create_dir_all(&src2).unwrap();
    std::fs::write(src2.join("c"), "c\n").unwrap();
    let layout = dir.join("layout");
    let image = format!("{}:t", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(&src)
        .arg("/"));
    run(Command::new("umoci").args(["insert", "--image", &image, "--whiteout", "/keep"]));
    run(Command::new("umoci")
        .args(["insert", "--image", &image, "--opaque"])
        .arg(&src2)
        .arg("/app"));
    for (transport, file) in [
        ("docker-archive", "docker.tar:example/umoci:t"),
        ("oci-archive", "oci.tar:t"),
    ] {
        run(Command::new("skopeo")
            .args(["copy", "--insecure-policy", &format!("oci:{image}")])
            .arg(format!("{transport}:{}/{file}", dir.display())));
    }
    run(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(dir.join("bundle")));
}

/// Regular files under the unpacked rootfs, with content.
fn unpacked(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn umoci_layout_and_skopeo_archives_squash_like_umoci_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path());
    let oracle = unpacked(&tmp.path().join("bundle/rootfs"));
    assert!(
        oracle.contains_key("app/c")
            && !oracle.contains_key("keep")
            && !oracle.contains_key("app/a")
    );
    let inputs = [
        (
            format!("oci:{}/layout:t", tmp.path().display()),
            SourceKind::OciLayout,
        ),
        (
            format!("{}/docker.tar", tmp.path().display()),
            SourceKind::DockerArchive,
        ),
        (
            format!("{}/oci.tar", tmp.path().display()),
            SourceKind::OciArchive,
        ),
    ];
    let mut diff_ids = Vec::new();
    for (arg, kind) in inputs {
        let image = Image::open(&arg, &OpenOptions::default()).unwrap();
        assert_eq!(image.source_kind(), &kind, "{arg}");
        let (_, walked) = walk(&image).unwrap();
        let survivors: BTreeMap<String, String> = walked
            .kept
            .iter()
            .map(|k| {
                (
                    k.path.to_string(),
                    String::from_utf8(k.value.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(survivors, oracle, "{arg}");
        let layer_of_c = walked
            .kept
            .iter()
            .find(|k| k.path == "app/c")
            .unwrap()
            .layer;
        assert_eq!(layer_of_c, 2, "{arg}");
        diff_ids.push(
            image
                .layers()
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert!(diff_ids.windows(2).all(|w| w[0] == w[1]), "{diff_ids:?}");
}
