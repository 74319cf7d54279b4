//! The control plane's decisions, without I/O.
//!
//! - [`rbac`]: default-deny role-based access control over verbs x
//!   resources, scoped by namespace or workload, bound to users and SPIFFE
//!   identities. [`rbac::authorize`] is the only way to make a
//!   [`rbac::Permit`], and the server's store takes a permit for every
//!   operation, so a handler that skipped the check does not compile.
//!   [`rbac::check_grant`] refuses to let anyone grant what they do not hold.
//! - [`routing`]: which alert goes to which sink (rules by severity and
//!   workload) and which alerts are silenced (matchers with an expiry).
//! - [`wire`]: the agent <-> server protocol (reports up, updates down).
//! - [`compliance`]: CIS Docker Benchmark checks of running containers from
//!   their OCI `config.json`, and the mapping of the platform's controls to
//!   NIST SP 800-190.
//!
//! What it does not do: storage, HTTP, TLS, clocks (time is passed in) or
//! reading files: `bulwark-server` and the agent do that.

pub mod compliance;
pub mod rbac;
pub mod routing;
pub mod wire;
