//! The Bulwark web dashboard.
//!
//! Plain HTML, CSS and JavaScript modules under `web/`, embedded into the
//! binary at compile time (no Node.js, no build step, nothing fetched at run
//! time). [`router`] serves them under [`MOUNT`] (`/ui/`) with a strict
//! Content-Security-Policy: scripts and styles only from the same origin, no
//! inline script, no `eval`, Trusted Types required so that no string can
//! reach an HTML sink. The pages build every element with the DOM API and put
//! data from the API in text nodes and attributes only, so what the API
//! returns is never parsed as HTML.
//!
//! The dashboard holds no state and makes no decision: it calls the server's
//! HTTP API (`/api/v1/...`) with the session cookie and CSRF header the login
//! gave it, and the API authenticates, authorises (RBAC) and audits every call.
//! What a user may see or do is decided there, not here.

mod assets;
#[cfg(feature = "test-support")]
pub mod browser;
mod headers;
mod serve;

pub use assets::{ASSETS, Asset, find};
pub use headers::{CONTENT_SECURITY_POLICY, SECURITY_HEADERS};
pub use serve::{MOUNT, router};
