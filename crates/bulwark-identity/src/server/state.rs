//! What the Workload API serves: an immutable snapshot (entries, SVIDs,
//! bundles, the JWT signer), replaced whole on every change, with a watch
//! channel that wakes the streams.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bulwark_core::spiffe::TrustDomain;
use tokio::sync::watch;

use crate::bundle::{BundleSet, TrustBundle};
use crate::entry::Entry;
use crate::jwt::JwtSigner;
use crate::x509::X509Svid;

/// An X.509-SVID issued for one entry, and when to renew it.
#[derive(Debug, Clone)]
pub struct IssuedSvid {
    pub svid: X509Svid,
    pub renew_at: SystemTime,
    /// DER of the intermediate that signed it (reissue when it changes).
    pub issuer: Vec<u8>,
    /// The entry's lifetime and DNS names when it was issued (reissue when
    /// the entry is edited).
    pub ttl: std::time::Duration,
    pub dns_names: Vec<String>,
}

/// Everything the Workload API needs to answer, at one instant.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub trust_domain: TrustDomain,
    pub bundle: TrustBundle,
    pub bundles: BundleSet,
    pub entries: Vec<Entry>,
    /// By entry name.
    pub svids: BTreeMap<String, Arc<IssuedSvid>>,
    pub jwt_signer: Arc<JwtSigner>,
}

/// The current snapshot, shared between the maintainer and the API.
#[derive(Debug)]
pub struct IdentityState {
    current: RwLock<Arc<Snapshot>>,
    changed: watch::Sender<u64>,
}

impl IdentityState {
    pub fn new(first: Snapshot) -> Self {
        let (changed, _) = watch::channel(first.generation);
        IdentityState {
            current: RwLock::new(Arc::new(first)),
            changed,
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the snapshot and wakes every stream.
    pub fn publish(&self, mut next: Snapshot) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        next.generation = current.generation + 1;
        let generation = next.generation;
        *current = Arc::new(next);
        drop(current);
        self.changed.send_replace(generation);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
