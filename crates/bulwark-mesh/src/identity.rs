//! The proxy's own identity (SVID, key, trust bundles), swapped atomically
//! when it rotates. Two sources:
//!
//! - the SPIFFE Workload API, through the `spiffe` crate's `X509Source`
//!   (so the proxy works with Bulwark's identity server or with SPIRE);
//! - PEM files (certificate chain, PKCS#8 key with 0600 permissions checked,
//!   CA bundle), re-read when they change.
//!
//! Each new material is checked before it is used: the SVID must verify
//! against its own trust domain's bundle. Readers take a snapshot per
//! handshake; open connections keep the certificate they started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use bulwark_identity::bundle::{BundleSet, TrustBundle};
use bulwark_identity::x509::{CertInfo, PeerRole, verify_x509_svid};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

/// Why an identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("private key: {0}")]
    Key(#[from] bulwark_identity::store::StoreError),
    #[error("our own SVID does not verify against our bundle: {0}")]
    SelfCheck(String),
    #[error("the certificate chain is empty")]
    NoCertificate,
    #[error("the private key is not usable with rustls/aws-lc-rs: {0}")]
    Signer(String),
    #[error("Workload API {endpoint}: {reason}")]
    WorkloadApi { endpoint: String, reason: String },
}

/// One consistent set: our ID, certified key, and the bundles we trust.
#[derive(Debug)]
pub struct Material {
    pub id: SpiffeId,
    pub key: Arc<CertifiedKey>,
    pub bundles: BundleSet,
    pub not_after: SystemTime,
}

impl Material {
    /// Builds and self-checks material from DER parts.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key_pkcs8: Vec<u8>,
        bundles: BundleSet,
    ) -> Result<Material, IdentityError> {
        if chain.is_empty() {
            return Err(IdentityError::NoCertificate);
        }
        let verified = verify_x509_svid(&chain, &bundles, SystemTime::now(), PeerRole::Server)
            .map_err(|e| IdentityError::SelfCheck(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
        let signer = crate::tls::provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| IdentityError::Signer(e.to_string()))?;
        let key = CertifiedKey::new(chain, signer);
        // A certificate and key from different issuances (files read while
        // a renewal rewrites them one by one) must not be used together.
        key.keys_match().map_err(|e| {
            IdentityError::Signer(format!("key does not match the certificate: {e}"))
        })?;
        Ok(Material {
            id: verified.spiffe_id().clone(),
            key: Arc::new(key),
            bundles,
            not_after: verified.not_after(),
        })
    }
}

/// The current material, shared by every listener.
#[derive(Debug)]
pub struct IdentityHandle {
    current: ArcSwap<Material>,
}

impl IdentityHandle {
    pub fn new(material: Material) -> Arc<Self> {
        Arc::new(IdentityHandle {
            current: ArcSwap::from_pointee(material),
        })
    }

    pub fn current(&self) -> Arc<Material> {
        self.current.load_full()
    }

    /// Swaps in new material (used by the watchers, and by tests).
    pub fn replace(&self, material: Material) {
        let td = material.id.trust_domain();
        let leaf = material.key.cert.first().map(|c| CertInfo::parse(c));
        let issuer = material.key.cert.get(1).map(|c| CertInfo::parse(c));
        info!(
            id = %material.id,
            serial = leaf.and_then(Result::ok).map(|c| c.serial_hex).unwrap_or_default(),
            issuer = issuer.and_then(Result::ok).map(|c| c.subject).unwrap_or_default(),
            x509_authorities = material.bundles.get(&td).map_or(0, |b| b.x509_authorities().len()),
            "proxy identity updated"
        );
        self.current.store(Arc::new(material));
    }
}

// === files ===

/// Where the PEM files are.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub bundle: PathBuf,
}

impl FileSource {
    /// Reads the files once.
    pub fn load(&self) -> Result<Material, IdentityError> {
        let chain = read_certs(&self.cert)?;
        let key = bulwark_identity::store::read_key_der(&self.key)?;
        let roots = read_certs(&self.bundle)?;
        let leaf_id = leaf_trust_domain(&chain)?;
        let mut bundle = TrustBundle::new(leaf_id);
        for root in roots {
            bundle.add_x509_authority(root);
        }
        let mut bundles = BundleSet::new();
        bundles.insert(bundle);
        Material::new(chain, key, bundles)
    }

    /// Re-reads the files whenever they change, until the handle is dropped
    /// by everyone else.
    pub fn watch(self, handle: Arc<IdentityHandle>, every: Duration) {
        let paths = self.paths();
        crate::watch::on_change(paths, every, handle, move |h| self.reload(h));
    }

    /// `watch` for a caller outside a Tokio runtime: polls on its own
    /// thread.
    pub fn watch_in_thread(
        self,
        handle: Arc<IdentityHandle>,
        every: Duration,
    ) -> std::io::Result<()> {
        let paths = self.paths();
        crate::watch::on_change_in_thread(paths, every, handle, move |h| self.reload(h))
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone(), self.bundle.clone()]
    }

    /// Swaps in the files' material; files caught mid-renewal (a new
    /// certificate with the old key) are refused until the next change.
    fn reload(&self, handle: &IdentityHandle) {
        match self.load() {
            Ok(m) => handle.replace(m),
            Err(e) => warn!(error = %e, "new SVID files refused; keeping the current identity"),
        }
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let bytes = std::fs::read(path).map_err(|e| IdentityError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IdentityError::File {
            path: path.to_owned(),
            reason: format!("not PEM certificates: {e}"),
        })?;
    if certs.is_empty() {
        return Err(IdentityError::File {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn leaf_trust_domain(chain: &[CertificateDer<'static>]) -> Result<TrustDomain, IdentityError> {
    let leaf = chain.first().ok_or(IdentityError::NoCertificate)?;
    let info = CertInfo::parse(leaf).map_err(|e| IdentityError::SelfCheck(e.to_string()))?;
    let uri = info
        .uri_sans
        .first()
        .ok_or_else(|| IdentityError::SelfCheck("our certificate has no SPIFFE ID".into()))?;
    SpiffeId::new(uri.as_str())
        .map(|id| id.trust_domain())
        .map_err(|e| IdentityError::SelfCheck(e.to_string()))
}

// === Workload API ===

/// Connects to the Workload API at `endpoint` (`unix:///path`) and follows
/// its updates.
pub async fn from_workload_api(endpoint: &str) -> Result<Arc<IdentityHandle>, IdentityError> {
    let err = |reason: String| IdentityError::WorkloadApi {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let source = spiffe::X509Source::builder()
        .endpoint(endpoint)
        .build()
        .await
        .map_err(|e| err(e.to_string()))?;
    let handle =
        IdentityHandle::new(material_from_source(&source).map_err(|e| err(e.to_string()))?);
    let watched = Arc::clone(&handle);
    tokio::spawn(async move {
        let mut updates = source.updated();
        while updates.changed().await.is_ok() {
            if Arc::strong_count(&watched) == 1 {
                break;
            }
            match material_from_source(&source) {
                Ok(m) => watched.replace(m),
                Err(e) => {
                    warn!(error = %e, "Workload API update refused; keeping the current identity")
                }
            }
        }
        source.shutdown().await;
    });
    Ok(handle)
}

fn material_from_source(source: &spiffe::X509Source) -> Result<Material, IdentityError> {
    let wl = |reason: String| IdentityError::WorkloadApi {
        endpoint: "source".into(),
        reason,
    };
    let svid = source.svid().map_err(|e| wl(e.to_string()))?;
    let chain = svid
        .cert_chain()
        .iter()
        .map(|c| CertificateDer::from(c.as_ref().to_vec()))
        .collect();
    let key = svid.private_key().as_ref().to_vec();
    let set = source.bundle_set().map_err(|e| wl(e.to_string()))?;
    let mut bundles = BundleSet::new();
    for (td, b) in set.iter() {
        let td = TrustDomain::new(td.to_string()).map_err(|e| wl(e.to_string()))?;
        let mut bundle = TrustBundle::new(td);
        for cert in b.authorities() {
            bundle.add_x509_authority(CertificateDer::from(cert.as_ref().to_vec()));
        }
        bundles.insert(bundle);
    }
    Material::new(chain, key, bundles)
}
