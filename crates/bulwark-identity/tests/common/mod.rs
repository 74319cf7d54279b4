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

/// A running identity server (CA, entries, Workload API) in temp dirs.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub entries_dir: PathBuf,
    pub ca: bulwark_identity::store::CaStore,
    pub state: std::sync::Arc<bulwark_identity::server::IdentityState>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Server {
    /// Starts a server for `example.org` with the given entry documents.
    pub async fn start(entries: &[String]) -> Server {
        use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
        use bulwark_identity::server::{Maintainer, ServerConfig, add_entry_file};
        use std::os::unix::fs::PermissionsExt;

        let _ = tracing_subscriber::fmt()
            .with_env_filter("bulwark_identity=debug,h2=debug,tonic=debug")
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ca = bulwark_identity::store::CaStore::new(dir.path().join("ca"));
        let td = bulwark_core::spiffe::TrustDomain::new("example.org").unwrap();
        let authority =
            TrustDomainCa::init(td, CaPolicy::default(), std::time::SystemTime::now()).unwrap();
        ca.create(&authority, &ca.lock().unwrap()).unwrap();
        let entries_dir = dir.path().join("entries");
        for (i, yaml) in entries.iter().enumerate() {
            add_entry_file(&entries_dir, &format!("{i}.yaml"), yaml).unwrap();
        }
        let socket = dir.path().join("api.sock");
        let cfg = ServerConfig {
            ca: ca.clone(),
            entries_dir: entries_dir.clone(),
            poll_interval: std::time::Duration::from_millis(50),
        };
        let (maintainer, state) = Maintainer::start(cfg, bulwark_core::SystemClock).unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let listener = bulwark_identity::workload_api::bind(&socket).unwrap();
        let (mut rx1, mut rx2) = (rx.clone(), rx);
        tokio::spawn(maintainer.run(async move {
            let _ = rx1.changed().await;
        }));
        let st = std::sync::Arc::clone(&state);
        let sock = socket.clone();
        tokio::spawn(async move {
            bulwark_identity::workload_api::serve(listener, &sock, st, async move {
                let _ = rx2.changed().await;
            })
            .await
            .unwrap();
        });
        Server {
            dir,
            socket,
            entries_dir,
            ca,
            state,
            stop: Some(stop),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

/// A WorkloadIdentity document.
pub fn entry(name: &str, id: &str, selectors: &str, extra: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: {name}\nspec:\n  spiffeId: {id}\n  selectors: {selectors}\n{extra}"
    )
}

/// Selectors that match this test process.
pub fn me() -> String {
    let exe = std::env::current_exe().unwrap();
    format!(
        "{{uid: {}, binaryPath: \"{}\"}}",
        nix::unistd::geteuid(),
        exe.display()
    )
}
