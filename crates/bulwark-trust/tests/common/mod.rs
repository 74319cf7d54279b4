//! Test support: the shared data archives, unpacked once per test binary.
//!
//! Origin: `../shared/data/sigstore.tar.zst` (sigstore-conformance,
//! sigstore-rust, sigstore-js, cosign test data) and
//! `../shared/data/k8s-admission.tar.zst` (kubernetes/api testdata); see
//! `shared/data/SOURCES.md`. Nothing derived from them is committed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `shared/data`, found by walking up from this crate.
pub fn data_dir() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let candidate = dir.join("shared/data");
        if candidate.join("SOURCES.md").exists() {
            return candidate;
        }
        if !dir.pop() {
            panic!(
                "shared/data/SOURCES.md not found above {}: the shared test data is missing",
                env!("CARGO_MANIFEST_DIR")
            );
        }
    }
}

fn unpack(archive: &str) -> tempfile::TempDir {
    let path = data_dir().join(archive);
    let file =
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let decoder = zstd::Decoder::new(file).expect("zstd decoder");
    let dir = tempfile::tempdir().expect("tempdir");
    tar::Archive::new(decoder)
        .unpack(dir.path())
        .unwrap_or_else(|e| panic!("unpack {}: {e}", path.display()));
    dir
}

/// The unpacked `sigstore.tar.zst`.
pub fn sigstore() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| unpack("sigstore.tar.zst")).path()
}

/// The unpacked `k8s-admission.tar.zst`.
pub fn k8s() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| unpack("k8s-admission.tar.zst")).path()
}
