//! Workload identity for Bulwark, following SPIFFE exactly so that
//! third-party SPIFFE clients work unchanged.
//!
//! What it does:
//! - a trust-domain CA ([`ca`]) with a root, an intermediate and a JWT key per
//!   authority, and rotation with overlap (prepare, activate, retire);
//! - X.509-SVID and JWT-SVID issuance and verification ([`x509`], [`jwt`]);
//! - trust bundles as SPIFFE bundle JSON ([`bundle`]);
//! - registration entries, declarative `kind: WorkloadIdentity` YAML
//!   ([`entry`]), and kernel attestation of callers ([`attest`]);
//! - the CA and entries on disk with permission checks ([`store`]);
//! - the server that keeps an SVID per entry, renews at half-life with
//!   jitter and follows CA rotation ([`server`]), and the SPIFFE Workload API
//!   on a Unix socket ([`workload_api`]).
//!
//! What it does not do: proxy traffic (that is `bulwark-mesh`), or trust
//! anything a workload says about itself.

pub mod attest;
pub mod bundle;
pub mod ca;
pub mod entry;
pub mod jwt;
pub mod rotation;
pub mod server;
pub mod store;
pub mod workload_api;
pub mod x509;
