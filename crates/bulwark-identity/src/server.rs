//! The identity server's background work: keep an X.509-SVID ready for
//! every registration entry, renew each at half-life (with jitter), follow
//! the CA (rotation by `bulwark identity ca ...`, intermediate renewal) and
//! the entries directory, and publish a new [`Snapshot`] whenever anything
//! changed so that every Workload API stream pushes the new full state.
//!
//! Changes on disk are noticed by polling cheap stamps (size, mtime, inode)
//! every `poll_interval`; a new entry reaches its workload within one
//! interval plus one issuance. A file that fails to load is logged and the
//! last good state is kept (an edit must not revoke every identity).

mod files;
mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulwark_core::Clock;
use tracing::{error, info, warn};

pub use files::{EntriesError, add_entry_file, load_entries_dir, remove_entry};
pub use state::{IdentityState, IssuedSvid, Snapshot};

use crate::bundle::BundleSet;
use crate::ca::{CaError, TrustDomainCa};
use crate::entry::Entry;
use crate::jwt::JwtSigner;
use crate::rotation::{random_jitter, renew_at};
use crate::store::{CaStore, StoreError};
use crate::x509::LeafRequest;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("loading the CA: {0}")]
    Store(#[from] StoreError),
    #[error("loading registration entries: {0}")]
    Entries(#[from] EntriesError),
    #[error("CA: {0}")]
    Ca(#[from] CaError),
}

/// Where the server finds its CA and entries.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub ca: CaStore,
    pub entries_dir: PathBuf,
    pub poll_interval: Duration,
}

/// Keeps the published [`Snapshot`] current.
pub struct Maintainer<C> {
    cfg: ServerConfig,
    clock: C,
    ca: TrustDomainCa,
    ca_stamp: files::Stamp,
    entries: Vec<Entry>,
    entries_stamp: files::Stamp,
    svids: BTreeMap<String, Arc<IssuedSvid>>,
    state: Arc<IdentityState>,
}

impl<C: Clock> Maintainer<C> {
    /// Loads the CA and entries (refusing unsafe or invalid ones) and issues
    /// the first SVIDs.
    pub fn start(cfg: ServerConfig, clock: C) -> Result<(Self, Arc<IdentityState>), ServerError> {
        let ca_stamp = files::stamp_file(&cfg.ca.state_path());
        let ca = cfg.ca.load()?;
        let entries_stamp = files::stamp_dir(&cfg.entries_dir);
        let entries = load_entries_dir(&cfg.entries_dir)?;
        warn_foreign(&ca, &entries);
        let mut svids = BTreeMap::new();
        refresh_svids(&ca, &entries, &mut svids, clock.now())?;
        let state = Arc::new(IdentityState::new(snapshot(&ca, &entries, &svids)?));
        let m = Maintainer {
            cfg,
            clock,
            ca,
            ca_stamp,
            entries,
            entries_stamp,
            svids,
            state: Arc::clone(&state),
        };
        Ok((m, state))
    }

    /// Runs [`Maintainer::tick`] every poll interval until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut interval = tokio::time::interval(self.cfg.poll_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = interval.tick() => { self.tick(); }
            }
        }
    }

    /// One round of checks; returns whether a new snapshot was published.
    pub fn tick(&mut self) -> bool {
        let mut changed = self.reload_ca();
        changed |= self.reload_entries();
        self.renew_intermediate();
        match refresh_svids(&self.ca, &self.entries, &mut self.svids, self.clock.now()) {
            Ok(renewed) => changed |= renewed,
            Err(e) => error!(error = %e, "issuing X.509-SVIDs failed; serving the previous ones"),
        }
        if changed {
            match snapshot(&self.ca, &self.entries, &self.svids) {
                Ok(s) => self.state.publish(s),
                Err(e) => error!(error = %e, "building the Workload API state failed"),
            }
        }
        changed
    }

    fn reload_ca(&mut self) -> bool {
        let stamp = files::stamp_file(&self.cfg.ca.state_path());
        if stamp == self.ca_stamp {
            return false;
        }
        self.ca_stamp = stamp;
        match self.cfg.ca.load() {
            Ok(ca) => {
                info!(
                    sequence = ca.sequence,
                    authorities = ca.authorities.len(),
                    "CA reloaded"
                );
                self.ca = ca;
                true
            }
            Err(e) => {
                error!(error = %e, "CA changed on disk but cannot be loaded; keeping the previous one");
                false
            }
        }
    }

    fn reload_entries(&mut self) -> bool {
        let stamp = files::stamp_dir(&self.cfg.entries_dir);
        if stamp == self.entries_stamp {
            return false;
        }
        self.entries_stamp = stamp;
        match load_entries_dir(&self.cfg.entries_dir) {
            Ok(entries) => {
                info!(count = entries.len(), "registration entries reloaded");
                warn_foreign(&self.ca, &entries);
                self.entries = entries;
                true
            }
            Err(e) => {
                error!(error = %e, "registration entries changed but cannot be loaded; keeping the previous ones");
                false
            }
        }
    }

    /// Renews the active intermediate at half-life, on disk first (under
    /// the writer lock, from a fresh load, so a concurrent CLI rotation is
    /// never overwritten).
    fn renew_intermediate(&mut self) {
        let now = self.clock.now();
        if !self.ca.active().is_ok_and(|a| a.intermediate_due(now)) {
            return;
        }
        let result = (|| -> Result<bool, ServerError> {
            let lock = self.cfg.ca.lock()?;
            let mut fresh = self.cfg.ca.load()?;
            let renewed = fresh.renew_intermediate_if_due(now)?;
            if renewed {
                self.cfg.ca.save(&fresh, &lock)?;
            }
            Ok(renewed)
        })();
        match result {
            Ok(true) => info!("intermediate CA renewed at half-life"),
            Ok(false) => {}
            Err(e) => error!(error = %e, "renewing the intermediate CA failed"),
        }
    }
}

/// Issues or renews the SVID of every entry that needs one; drops SVIDs of
/// removed entries. Returns whether anything changed.
fn refresh_svids(
    ca: &TrustDomainCa,
    entries: &[Entry],
    svids: &mut BTreeMap<String, Arc<IssuedSvid>>,
    now: std::time::SystemTime,
) -> Result<bool, CaError> {
    let before = svids.len();
    svids.retain(|name, _| entries.iter().any(|e| e.name == *name));
    let mut changed = svids.len() != before;
    let issuer = ca.active()?.intermediate.der.to_vec();
    for entry in entries.iter().filter(|e| e.is_in(&ca.trust_domain)) {
        let current = svids.get(&entry.name);
        if current.is_some_and(|s| still_good(s, entry, &issuer, now)) {
            continue;
        }
        let svid = ca.issue_x509(&LeafRequest {
            id: &entry.spiffe_id,
            ttl: entry.x509_ttl,
            now,
            dns_names: &entry.dns_names,
        })?;
        let renew = renew_at(now, svid.not_after, random_jitter());
        svids.insert(
            entry.name.clone(),
            Arc::new(IssuedSvid {
                svid,
                renew_at: renew,
                issuer: issuer.clone(),
                ttl: entry.x509_ttl,
                dns_names: entry.dns_names.clone(),
            }),
        );
        changed = true;
    }
    Ok(changed)
}

fn still_good(s: &IssuedSvid, entry: &Entry, issuer: &[u8], now: std::time::SystemTime) -> bool {
    now < s.renew_at
        && s.issuer == issuer
        && s.svid.spiffe_id == entry.spiffe_id
        && s.ttl == entry.x509_ttl
        && s.dns_names == entry.dns_names
}

fn snapshot(
    ca: &TrustDomainCa,
    entries: &[Entry],
    svids: &BTreeMap<String, Arc<IssuedSvid>>,
) -> Result<Snapshot, CaError> {
    let active = ca.active()?;
    let jwt_signer =
        JwtSigner::from_pkcs8(active.jwt.kid().to_owned(), active.jwt.pkcs8().to_vec())?;
    let bundle = ca.bundle();
    let mut bundles = BundleSet::new();
    bundles.insert(bundle.clone());
    Ok(Snapshot {
        generation: 0,
        trust_domain: ca.trust_domain.clone(),
        bundle,
        bundles,
        entries: entries
            .iter()
            .filter(|e| e.is_in(&ca.trust_domain))
            .cloned()
            .collect(),
        svids: svids.clone(),
        jwt_signer: Arc::new(jwt_signer),
    })
}

fn warn_foreign(ca: &TrustDomainCa, entries: &[Entry]) {
    for e in entries.iter().filter(|e| !e.is_in(&ca.trust_domain)) {
        warn!(entry = %e.name, id = %e.spiffe_id, trust_domain = %ca.trust_domain,
            "entry names an ID outside this CA's trust domain; it is ignored");
    }
}

#[cfg(test)]
mod tests;
