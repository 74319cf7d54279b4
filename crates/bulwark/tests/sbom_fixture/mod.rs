//! The real Debian image of bulwark-sbom's ground-truth tests, built by
//! `crates/bulwark-sbom/tests/fixtures/build-images.sh` and cached under
//! `target/sbom-fixtures` (oci/, debian.tar, rootfs/); shared by the tests
//! and benchmarks of the binary that read a real image.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture directory, built (or found up to date) once per process.
pub fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = workspace().join("crates/bulwark-sbom/tests/fixtures/build-images.sh");
        let out = workspace().join("target/sbom-fixtures");
        let status = Command::new(&script)
            .env("OUT", &out)
            .status()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(status.success(), "{} failed", script.display());
        out
    })
}

/// `../shared/data/REL`, found by walking up from the workspace.
pub fn shared_data(rel: &str) -> PathBuf {
    let mut dir = workspace()
        .canonicalize()
        .unwrap_or_else(|e| panic!("workspace: {e}"));
    loop {
        let candidate = dir.join("shared/data");
        if candidate.join("SOURCES.md").exists() {
            return candidate.join(rel);
        }
        assert!(
            dir.pop(),
            "../shared/data/SOURCES.md not found above the workspace"
        );
    }
}
