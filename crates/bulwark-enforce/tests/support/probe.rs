//! The probe program (`tests/probe/probe.c`), compiled once with
//! `cc -static` into the target directory, keyed by the source's hash.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = include_str!("../probe/probe.c");

/// The compiled probe's bytes (a static x86-64 executable).
pub fn probe() -> Vec<u8> {
    let path = build();
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn build() -> PathBuf {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(SOURCE.as_bytes())[..8]);
    let dir = target_dir().join("bulwark-enforce-fixtures");
    let out = dir.join(format!("probe-{hash}"));
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("probe-{hash}-{}.c", std::process::id()));
    std::fs::write(&src, SOURCE).unwrap();
    let tmp = dir.join(format!("probe-{hash}-{}", std::process::id()));
    let status = Command::new("cc")
        .args(["-static", "-O2", "-o"])
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
