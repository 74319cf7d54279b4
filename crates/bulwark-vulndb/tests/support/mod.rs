//! Test support: find `shared/data` and unpack its archives once per test
//! binary.
//!
//! Origin of the data: `/work/shared/data` (see its README.md and
//! SOURCES.md), found by walking up from this crate's manifest directory to
//! the first ancestor that holds `shared/data/SOURCES.md`.

#![allow(dead_code, clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

/// The `shared/data` folder. Panics naming the paths looked at when absent.
pub fn data_dir() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        let candidate = dir.join("shared/data");
        if candidate.join("SOURCES.md").is_file() {
            return candidate;
        }
    }
    panic!(
        "shared test data not found: no ancestor of {} has shared/data/SOURCES.md",
        start.display()
    );
}

/// Unpacks `shared/data/<archive>` (a `.tar.zst`) into a temp dir that
/// lives as long as the test binary, once, and returns its path.
pub fn unpacked(archive: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static TempDir>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = cache.get(archive) {
        return dir.path().to_path_buf();
    }
    let path = data_dir().join(archive);
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("shared test data {} missing: {e}", path.display()));
    let decoder = zstd::Decoder::new(file).expect("zstd decoder");
    let dir = TempDir::new().expect("temp dir");
    tar::Archive::new(decoder)
        .unpack(dir.path())
        .unwrap_or_else(|e| panic!("unpacking {}: {e}", path.display()));
    let dir: &'static TempDir = Box::leak(Box::new(dir));
    cache.insert(archive.to_string(), dir);
    dir.path().to_path_buf()
}
