//! Workload identity for Bulwark, following SPIFFE exactly so that
//! third-party SPIFFE clients work unchanged.
//!
//! What it does:
//! - a trust-domain CA ([`ca`]) with a root, an intermediate and a JWT key per
//!   authority, and rotation with overlap (prepare, activate, retire);
//! - X.509-SVID and JWT-SVID issuance and verification ([`x509`], [`jwt`]);
//! - trust bundles as SPIFFE bundle JSON ([`bundle`]).
//!
//! What it does not do: proxy traffic (that is `bulwark-mesh`), or trust
//! anything a workload says about itself.

pub mod bundle;
pub mod ca;
pub mod jwt;
pub mod x509;
