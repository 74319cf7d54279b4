//! Which workload owns an address: learned from connections the workloads
//! accept (the local address of an accepted socket is the container's own).
//! Egress to a known address is then learned and matched by the peer's
//! identity, so replicas that come back on other addresses stay allowed.
//!
//! Loopback and unspecified addresses are never mapped (every container has
//! its own loopback). Entries expire after [`PEER_TTL`] without a new
//! accept, so a reused address is not taken for its old owner forever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bulwark_core::{Event, EventKind, WorkloadId};
use time::OffsetDateTime;

use crate::pattern::canonical_ip;

/// How long an address stays attributed without a new accept.
pub const PEER_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct PeerMap {
    owners: HashMap<IpAddr, (WorkloadId, OffsetDateTime)>,
    max: usize,
}

impl PeerMap {
    pub fn new(max: usize) -> PeerMap {
        PeerMap {
            owners: HashMap::new(),
            max: max.max(16),
        }
    }

    /// Records the owner of the local address of an accepted connection.
    pub fn observe(&mut self, event: &Event, workload: &WorkloadId) {
        let EventKind::Accept { socket, result } = &event.kind else {
            return;
        };
        let Some(local) = socket.local.filter(|_| *result >= 0) else {
            return;
        };
        let ip = canonical_ip(local.ip());
        if ip.is_loopback() || ip.is_unspecified() {
            return;
        }
        if self.owners.len() >= self.max && !self.owners.contains_key(&ip) {
            self.evict_oldest();
        }
        self.owners.insert(ip, (workload.clone(), event.time));
    }

    /// The workload owning `ip` at `at`, if one accepted on it recently.
    pub fn owner(&self, ip: IpAddr, at: OffsetDateTime) -> Option<&WorkloadId> {
        let (owner, seen) = self.owners.get(&canonical_ip(ip))?;
        (at - *seen <= PEER_TTL).then_some(owner)
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .owners
            .iter()
            .min_by_key(|(_, (_, t))| *t)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.owners.remove(&ip);
        }
    }
}
