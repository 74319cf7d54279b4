//! The identity-authorised mTLS proxy behind `bulwark proxy`.
//!
//! What it does: terminates and originates mutual TLS (TLS 1.3 only, rustls
//! with aws-lc-rs) with the workload's X.509-SVID, verifies peers as
//! X.509-SVIDs against the bundle of their own trust domain, authorises each
//! connection in both directions, and in HTTP mode each request, by the
//! SPIFFE IDs of both ends with `kind: AccessPolicy` documents (default deny,
//! audit mode for dry runs; files re-read when they change), writes a decision log line per connection with both identities,
//! swaps in rotated certificates without touching open connections, and
//! strips identity headers that peers send.
//!
//! What it does not do: issue certificates (that is `bulwark-identity`; the
//! proxy gets its SVID from the Workload API or from files), or trust an
//! address: identity is the only thing authorised.

pub mod decision_log;
pub mod identity;
pub mod policy;
pub mod policy_files;
pub mod proxy;
pub mod tls;
mod watch;

#[cfg(feature = "test-support")]
pub mod testutil;

pub use decision_log::{DecisionLog, Direction, Mode, Record};
pub use identity::{FileSource, IdentityError, IdentityHandle, Material, from_workload_api};
pub use policy::{AccessPolicy, Hop, Layer, PolicyError, PolicySet, Verdict};
pub use policy_files::{PolicyFiles, PolicyFilesError};
pub use proxy::{InboundRoute, OutboundRoute, Proxy, ProxyConfig, ProxyError};
