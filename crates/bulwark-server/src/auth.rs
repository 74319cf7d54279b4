//! Authentication: who a request comes from.
//!
//! - API tokens and dashboard sessions: random 256-bit secrets, shown once,
//!   stored only as their SHA-256 ([`secret`]); high-entropy secrets need no
//!   slow hash, and lookups stay one indexed query.
//! - Passwords: Argon2id PHC strings.
//! - mTLS: the SPIFFE ID of a verified client certificate (agents' node
//!   SVIDs), put on the request by the TLS listener.
//! - Failed attempts are rate-limited per remote address ([`limit`]).
//!
//! What a subject may do is RBAC's business (`bulwark_control::rbac`).

pub mod limit;
pub mod secret;

pub use limit::{AuthLimiter, LimitConfig};
