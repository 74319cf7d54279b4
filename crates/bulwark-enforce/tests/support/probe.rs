//! The probe program (`tests/probe/probe.c`) and the smallest program
//! (`tests/probe/tiny.c`), compiled once with `cc -static` into the target
//! directory, keyed by the source's hash.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = include_str!("../probe/probe.c");
const TINY: &str = include_str!("../probe/tiny.c");

/// The compiled probe's bytes (a static x86-64 executable).
pub fn probe() -> Vec<u8> {
    let path = build("probe", SOURCE, &["-static", "-O2"]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A 9 KB static program that exits 0.
#[allow(dead_code)]
pub fn tiny() -> Vec<u8> {
    let path = build("tiny", TINY, &["-nostdlib", "-static", "-O2"]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(source.as_bytes())[..8]);
    let dir = target_dir().join("bulwark-enforce-fixtures");
    let out = dir.join(format!("{name}-{hash}"));
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}-{hash}-{}.c", std::process::id()));
    std::fs::write(&src, source).unwrap();
    let tmp = dir.join(format!("{name}-{hash}-{}", std::process::id()));
    let status = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("running cc (install build-essential): {e}"));
    assert!(
        status.success(),
        "cc -static failed for the probe (needs libc6-dev)"
    );
    std::fs::rename(&tmp, &out).unwrap();
    let _ = std::fs::remove_file(&src);
    out
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|a| a.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}
