//! Shared helpers for the integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `../shared/data/spiffe.tar.zst` unpacked once per test process.
///
/// Origin: spiffe/spiffe@665a28f (standards, workloadapi.proto),
/// maxlambrecht/rust-spiffe@69c6ab0 and spiffe/go-spiffe@e9973f6 (testdata),
/// all Apache-2.0; see `shared/data/SOURCES.md` §14.
pub fn spiffe_data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let archive = shared_data().join("spiffe.tar.zst");
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("tar")
            .arg("--zstd")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("running tar on {}: {e}", archive.display()));
        assert!(
            status.success(),
            "tar --zstd -xf {} failed",
            archive.display()
        );
        dir
    })
    .path()
}

/// The `shared/data` folder: the first ancestor of this crate holding
/// `shared/data/SOURCES.md`.
pub fn shared_data() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/data"))
        .find(|d| d.join("SOURCES.md").is_file())
        .unwrap_or_else(|| {
            panic!(
                "shared test data not found: no ancestor of {} has shared/data/SOURCES.md",
                start.display()
            )
        })
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = spiffe_data().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Splits concatenated DER certificates (as the Workload API and the
/// rust-spiffe fixtures carry them).
pub fn split_der(mut bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (len, header) = match bytes[1] {
            l if l < 0x80 => (usize::from(l), 2),
            l => {
                let n = usize::from(l & 0x7f);
                let len = bytes[2..2 + n]
                    .iter()
                    .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
                (len, 2 + n)
            }
        };
        let (cert, rest) = bytes.split_at(header + len);
        out.push(rustls_pki_types::CertificateDer::from(cert.to_vec()));
        bytes = rest;
    }
    out
}

/// Certificates from a PEM file.
pub fn pem_certs(bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}
