//! Alerts out: deduplication, per-workload rate limiting with visible
//! "throttled N" counts, and the sinks people read them in.
//!
//! [`Throttle`] is pure (a [`bulwark_core::Clock`] and no I/O). Sinks write
//! one JSON object per line ([`JsonLinesSink`] for stdout or a file),
//! RFC 5424 syslog datagrams ([`SyslogSink`]), or POST each alert to an HTTP
//! webhook from a background thread with retry and backoff
//! ([`WebhookSink`]). [`Router`] puts them together.
//!
//! It does not decide what is alert-worthy (the profile engine does) or keep
//! alerts for later queries (the control plane does).

mod error;
mod router;
mod sink;
mod syslog;
mod throttle;
mod webhook;

pub use error::SinkError;
pub use router::{Router, RouterStats};
pub use sink::{JsonLinesSink, Sink};
pub use syslog::SyslogSink;
pub use throttle::{Throttle, ThrottleConfig, ThrottleStats};
pub use webhook::{WebhookConfig, WebhookSink, WebhookStats};
