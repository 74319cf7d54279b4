//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bulwark_image::testutil::{LayoutBuilder, TestRegistry};
use bulwark_image::{Compression, Image, OpenOptions};
use bulwark_sbom::Sbom;
use bulwark_sbom::catalog::Limits;

/// Scans an OCI layout written from these layer tars (gzip, base first).
pub fn scan_layout(layers: Vec<Vec<u8>>, limits: Limits) -> Sbom {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = LayoutBuilder::new(dir.path());
    for tar in layers {
        builder = builder.layer(tar, Compression::Gzip);
    }
    builder.write();
    let arg = dir.path().to_str().unwrap();
    let image = Image::open(arg, &OpenOptions::default()).unwrap();
    bulwark_sbom::scan(&image, arg, limits).unwrap()
}

/// Pushes the OCI layout at `layout` (its image named `name`) to
/// `registry` as `repo_tag` and opens it from there; also returns the
/// reference.
pub fn push_and_open(
    registry: &TestRegistry,
    layout: &std::path::Path,
    name: &str,
    repo_tag: &str,
) -> (Image, String) {
    registry.push_oci_layout(layout, Some(name), repo_tag);
    let reference = registry.reference(repo_tag).to_string();
    let options = OpenOptions {
        registry: registry.options(),
        ..OpenOptions::default()
    };
    let image = Image::open(&reference, &options).unwrap();
    (image, reference)
}
