//! The trust-domain CA, in memory: authorities (a root, an intermediate that
//! signs SVIDs, and a JWT key), their rotation, and the bundle they publish.
//!
//! Rotation keeps an overlap so no connection breaks:
//!
//! 1. `prepare` creates a new authority and publishes its root and JWT key in
//!    the bundle, while the current one keeps signing;
//! 2. `activate` (once the new bundle has reached every workload) makes the
//!    new authority sign; the old one stays in the bundle, so SVIDs it issued
//!    keep verifying until they are rotated;
//! 3. `retire` removes the old authority (keys and bundle entries).
//!
//! Reading and writing the CA to disk is `crate::store`'s job.

use std::time::{Duration, SystemTime};

use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::bundle::TrustBundle;
use crate::jwt::{JwtIssueError, JwtSigner, JwtSvid};
use crate::x509::{self, CaCert, IssueError, LeafRequest, X509Svid};

/// Lifetimes of CA certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaPolicy {
    #[serde(with = "secs")]
    pub root_ttl: Duration,
    #[serde(with = "secs")]
    pub intermediate_ttl: Duration,
}

impl Default for CaPolicy {
    fn default() -> Self {
        CaPolicy {
            root_ttl: Duration::from_secs(365 * 24 * 3600),
            intermediate_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Where an authority is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorityState {
    /// Published in the bundle, not signing yet.
    Prepared,
    /// Signing SVIDs.
    Active,
    /// Replaced; still published so its SVIDs verify until retired.
    Old,
}

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error(transparent)]
    Jwt(#[from] JwtIssueError),
    #[error("trust domain {0} has no active authority")]
    NoActiveAuthority(TrustDomain),
    #[error("authority {0} is already prepared; activate or discard it first")]
    AlreadyPrepared(String),
    #[error("no prepared authority to activate; run `prepare` first")]
    NothingPrepared,
    #[error("no old authority to retire")]
    NothingToRetire,
    #[error("the SPIFFE ID {id} is not in trust domain {trust_domain}")]
    ForeignId {
        id: SpiffeId,
        trust_domain: TrustDomain,
    },
}

/// One generation of CA keys.
#[derive(Debug)]
pub struct Authority {
    pub id: String,
    pub state: AuthorityState,
    pub root: CaCert,
    pub intermediate: CaCert,
    pub jwt: JwtSigner,
}

impl Authority {
    /// A fresh root, an intermediate under it, and a JWT key.
    pub fn generate(td: &TrustDomain, policy: &CaPolicy, now: SystemTime) -> Result<Self, CaError> {
        let jwt = JwtSigner::generate()?;
        let id = short_id(&x509::random_serial()?.to_bytes());
        let root_params = x509::ca_params(
            &td.id(),
            &format!("Bulwark root CA {id}"),
            now,
            policy.root_ttl,
            1,
        )?;
        let root = x509::self_signed_ca(&root_params)?;
        let intermediate = new_intermediate(td, &id, &root, policy, now)?;
        Ok(Authority {
            id,
            state: AuthorityState::Prepared,
            root,
            intermediate,
            jwt,
        })
    }

    /// True once the intermediate has lived half its life.
    pub fn intermediate_due(&self, now: SystemTime) -> bool {
        let life = self
            .intermediate
            .not_after
            .duration_since(self.intermediate.not_before)
            .unwrap_or_default();
        now >= self.intermediate.not_before + life / 2
    }
}

fn new_intermediate(
    td: &TrustDomain,
    id: &str,
    root: &CaCert,
    policy: &CaPolicy,
    now: SystemTime,
) -> Result<CaCert, CaError> {
    let room = root.not_after.duration_since(now).unwrap_or_default();
    let ttl = policy.intermediate_ttl.min(room);
    let params = x509::ca_params(
        &td.id(),
        &format!("Bulwark intermediate CA {id}"),
        now,
        ttl,
        0,
    )?;
    Ok(x509::signed_ca(&params, root)?)
}

fn short_id(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The CA of one trust domain.
#[derive(Debug)]
pub struct TrustDomainCa {
    pub trust_domain: TrustDomain,
    pub policy: CaPolicy,
    /// Bumped whenever the published bundle changes.
    pub sequence: u64,
    pub authorities: Vec<Authority>,
}

impl TrustDomainCa {
    /// A new CA with one active authority.
    pub fn init(
        trust_domain: TrustDomain,
        policy: CaPolicy,
        now: SystemTime,
    ) -> Result<Self, CaError> {
        let mut authority = Authority::generate(&trust_domain, &policy, now)?;
        authority.state = AuthorityState::Active;
        Ok(TrustDomainCa {
            trust_domain,
            policy,
            sequence: 1,
            authorities: vec![authority],
        })
    }

    pub fn active(&self) -> Result<&Authority, CaError> {
        self.authorities
            .iter()
            .find(|a| a.state == AuthorityState::Active)
            .ok_or_else(|| CaError::NoActiveAuthority(self.trust_domain.clone()))
    }

    /// The bundle: roots and JWT keys of every authority not yet retired.
    pub fn bundle(&self) -> TrustBundle {
        let mut bundle = TrustBundle::new(self.trust_domain.clone());
        for a in &self.authorities {
            bundle.add_x509_authority(a.root.der.clone());
            bundle.add_jwt_authority(a.jwt.kid().to_owned(), a.jwt.public_key());
        }
        bundle.set_sequence(self.sequence);
        bundle.set_refresh_hint(Duration::from_secs(300));
        bundle
    }

    /// Issues an X.509-SVID from the active authority.
    pub fn issue_x509(&self, req: &LeafRequest<'_>) -> Result<X509Svid, CaError> {
        self.check_member(req.id)?;
        let active = self.active()?;
        let tail: [CertificateDer<'static>; 1] = [active.intermediate.der.clone()];
        Ok(x509::issue_leaf(&active.intermediate, &tail, req)?)
    }

    /// Issues a JWT-SVID from the active authority's JWT key.
    pub fn issue_jwt(
        &self,
        id: &SpiffeId,
        audience: &[String],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<JwtSvid, CaError> {
        self.check_member(id)?;
        Ok(self.active()?.jwt.issue(id, audience, ttl, now)?)
    }

    fn check_member(&self, id: &SpiffeId) -> Result<(), CaError> {
        if id.is_member_of(&self.trust_domain) {
            Ok(())
        } else {
            Err(CaError::ForeignId {
                id: id.clone(),
                trust_domain: self.trust_domain.clone(),
            })
        }
    }

    /// Step 1 of rotation: a new authority, published but not signing.
    pub fn prepare(&mut self, now: SystemTime) -> Result<&Authority, CaError> {
        if let Some(p) = self
            .authorities
            .iter()
            .find(|a| a.state == AuthorityState::Prepared)
        {
            return Err(CaError::AlreadyPrepared(p.id.clone()));
        }
        let authority = Authority::generate(&self.trust_domain, &self.policy, now)?;
        self.authorities.push(authority);
        self.sequence += 1;
        let last = self.authorities.len() - 1;
        Ok(&self.authorities[last])
    }

    /// Step 2: the prepared authority signs; the active one becomes old.
    pub fn activate(&mut self) -> Result<(), CaError> {
        if !self
            .authorities
            .iter()
            .any(|a| a.state == AuthorityState::Prepared)
        {
            return Err(CaError::NothingPrepared);
        }
        for a in &mut self.authorities {
            a.state = match a.state {
                AuthorityState::Prepared => AuthorityState::Active,
                AuthorityState::Active | AuthorityState::Old => AuthorityState::Old,
            };
        }
        Ok(())
    }

    /// Step 3: drops old authorities from the CA and the bundle; returns their ids.
    pub fn retire(&mut self) -> Result<Vec<String>, CaError> {
        let old: Vec<String> = self
            .authorities
            .iter()
            .filter(|a| a.state == AuthorityState::Old)
            .map(|a| a.id.clone())
            .collect();
        if old.is_empty() {
            return Err(CaError::NothingToRetire);
        }
        self.authorities.retain(|a| a.state != AuthorityState::Old);
        self.sequence += 1;
        Ok(old)
    }

    /// Replaces the active intermediate once it is past half its life (the
    /// root, and so the bundle, stay the same). Returns whether it did.
    pub fn renew_intermediate_if_due(&mut self, now: SystemTime) -> Result<bool, CaError> {
        let td = self.trust_domain.clone();
        let policy = self.policy;
        let Some(active) = self
            .authorities
            .iter_mut()
            .find(|a| a.state == AuthorityState::Active)
        else {
            return Err(CaError::NoActiveAuthority(td));
        };
        if !active.intermediate_due(now) {
            return Ok(false);
        }
        active.intermediate = new_intermediate(&td, &active.id, &active.root, &policy, now)?;
        Ok(true)
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests;
