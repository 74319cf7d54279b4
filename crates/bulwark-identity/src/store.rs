//! The CA on disk, under `<data dir>/identity/ca/`:
//!
//! ```text
//! ca/state.json                 trust domain, policy, bundle sequence, authorities and their states
//! ca/<authority>/root.pem       root CA certificate
//! ca/<authority>/root.key       its PKCS#8 key            (0600)
//! ca/<authority>/intermediate.pem / .key                  (key 0600)
//! ca/<authority>/jwt.key        ES256 JWT signing key     (0600)
//! ```
//!
//! Private keys must be regular files owned by the current user with no
//! group or other permission bits; anything else is refused with a message
//! saying how to fix it. Every file is written to a temporary name and
//! renamed into place, keys before `state.json`, so a crash never leaves a
//! state that names missing keys. Writers hold an exclusive lock on
//! `ca/.lock`.

mod fsutil;

use std::fs;
use std::path::{Path, PathBuf};

use bulwark_core::spiffe::TrustDomain;
use rcgen::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

pub use fsutil::{LockGuard, check_private_file, ensure_private_dir, write_atomic};

use crate::ca::{Authority, AuthorityState, CaPolicy, TrustDomainCa};
use crate::jwt::JwtSigner;
use crate::x509::{CaCert, CertInfo};

const STATE_FILE: &str = "state.json";
const STATE_VERSION: u32 = 1;

/// Why the CA could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no CA in {0}; run `bulwark identity ca init --trust-domain <name>` first")]
    NotInitialised(PathBuf),
    #[error("a CA already exists in {0}; refusing to overwrite it")]
    AlreadyInitialised(PathBuf),
    #[error(
        "refusing to use private key {path}: {problem}; it must be a regular file owned by uid {want_uid} with mode 0600"
    )]
    UnsafeKey {
        path: PathBuf,
        problem: String,
        want_uid: u32,
    },
    #[error("refusing to use {path}: {problem}")]
    UnsafeDir { path: PathBuf, problem: String },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    trust_domain: TrustDomain,
    sequence: u64,
    policy: CaPolicy,
    authorities: Vec<AuthorityRecord>,
}

#[derive(Serialize, Deserialize)]
struct AuthorityRecord {
    id: String,
    state: AuthorityState,
    jwt_kid: String,
}

/// The CA directory.
#[derive(Debug, Clone)]
pub struct CaStore {
    dir: PathBuf,
}

impl CaStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CaStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file whose change means the CA changed (for watchers).
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn exists(&self) -> bool {
        self.state_path().exists()
    }

    /// Takes the writer lock (blocks while another writer holds it).
    pub fn lock(&self) -> Result<LockGuard, StoreError> {
        fsutil::ensure_private_dir(&self.dir)?;
        LockGuard::exclusive(&self.dir.join(".lock"))
    }

    /// Writes a new CA; refuses if one exists.
    pub fn create(&self, ca: &TrustDomainCa, lock: &LockGuard) -> Result<(), StoreError> {
        if self.exists() {
            return Err(StoreError::AlreadyInitialised(self.dir.clone()));
        }
        self.save(ca, lock)
    }

    /// Writes every authority's files, removes retired ones, then the state.
    pub fn save(&self, ca: &TrustDomainCa, _lock: &LockGuard) -> Result<(), StoreError> {
        fsutil::ensure_private_dir(&self.dir)?;
        for a in &ca.authorities {
            self.save_authority(a)?;
        }
        let state = StateFile {
            version: STATE_VERSION,
            trust_domain: ca.trust_domain.clone(),
            sequence: ca.sequence,
            policy: ca.policy,
            authorities: ca
                .authorities
                .iter()
                .map(|a| AuthorityRecord {
                    id: a.id.clone(),
                    state: a.state,
                    jwt_kid: a.jwt.kid().to_owned(),
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| StoreError::corrupt(&self.state_path(), e.to_string()))?;
        fsutil::write_atomic(&self.state_path(), &json, 0o644)?;
        self.remove_retired(&state)
    }

    fn save_authority(&self, a: &Authority) -> Result<(), StoreError> {
        let dir = self.dir.join(&a.id);
        fsutil::ensure_private_dir(&dir)?;
        let write_cert = |name: &str, der: &CertificateDer<'_>| {
            fsutil::write_atomic(&dir.join(name), pem("CERTIFICATE", der).as_bytes(), 0o644)
        };
        let write_key = |name: &str, der: &[u8]| {
            fsutil::write_atomic(&dir.join(name), pem("PRIVATE KEY", der).as_bytes(), 0o600)
        };
        write_cert("root.pem", &a.root.der)?;
        write_key("root.key", &a.root.key.serialize_der())?;
        write_cert("intermediate.pem", &a.intermediate.der)?;
        write_key("intermediate.key", &a.intermediate.key.serialize_der())?;
        write_key("jwt.key", a.jwt.pkcs8())
    }

    fn remove_retired(&self, state: &StateFile) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_authority_dir = entry.file_type().is_ok_and(|t| t.is_dir())
                && name.len() == 16
                && name.bytes().all(|b| b.is_ascii_hexdigit());
            if is_authority_dir && !state.authorities.iter().any(|a| a.id == name) {
                fs::remove_dir_all(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
            }
        }
        Ok(())
    }

    /// Reads the CA, checking every key file's ownership and mode.
    pub fn load(&self) -> Result<TrustDomainCa, StoreError> {
        let path = self.state_path();
        if !path.exists() {
            return Err(StoreError::NotInitialised(self.dir.clone()));
        }
        fsutil::check_dir(&self.dir)?;
        let bytes = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let state: StateFile = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt(&path, e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(StoreError::corrupt(
                &path,
                format!("unknown version {}", state.version),
            ));
        }
        let authorities = state
            .authorities
            .iter()
            .map(|r| self.load_authority(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustDomainCa {
            trust_domain: state.trust_domain,
            policy: state.policy,
            sequence: state.sequence,
            authorities,
        })
    }

    fn load_authority(&self, r: &AuthorityRecord) -> Result<Authority, StoreError> {
        if r.id.is_empty() || !r.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::corrupt(
                &self.state_path(),
                format!("bad authority id {:?}", r.id),
            ));
        }
        let dir = self.dir.join(&r.id);
        fsutil::check_dir(&dir)?;
        let jwt_path = dir.join("jwt.key");
        let jwt = JwtSigner::from_pkcs8(r.jwt_kid.clone(), read_key_der(&jwt_path)?)
            .map_err(|e| StoreError::corrupt(&jwt_path, e.to_string()))?;
        Ok(Authority {
            id: r.id.clone(),
            state: r.state,
            root: load_ca_cert(&dir, "root")?,
            intermediate: load_ca_cert(&dir, "intermediate")?,
            jwt,
        })
    }
}

fn load_ca_cert(dir: &Path, name: &str) -> Result<CaCert, StoreError> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    let pem_bytes = fs::read(&cert_path).map_err(|e| StoreError::io(&cert_path, e))?;
    let der = CertificateDer::from_pem_slice(&pem_bytes)
        .map_err(|e| StoreError::corrupt(&cert_path, e.to_string()))?;
    let info = CertInfo::parse(&der).map_err(|e| StoreError::corrupt(&cert_path, e.to_string()))?;
    let key_der = read_key_der(&key_path)?;
    let key = KeyPair::try_from(&PrivatePkcs8KeyDer::from(key_der))
        .map_err(|e| StoreError::corrupt(&key_path, e.to_string()))?;
    Ok(CaCert {
        der,
        key,
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

/// Reads a PKCS#8 PEM private key after checking its ownership and mode.
pub fn read_key_der(path: &Path) -> Result<Vec<u8>, StoreError> {
    check_private_file(path)?;
    let bytes = fs::read(path).map_err(|e| StoreError::io(path, e))?;
    PrivatePkcs8KeyDer::from_pem_slice(&bytes)
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|e| StoreError::corrupt(path, format!("not a PKCS#8 PEM private key: {e}")))
}

/// PEM text for one DER object.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests;
