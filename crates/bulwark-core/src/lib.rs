//! Shared vocabulary of Bulwark.
//!
//! Every other crate speaks in these types: who a workload is ([`WorkloadId`],
//! [`ContainerId`]), what the sensor saw ([`Event`]), what was decided about it
//! ([`Decision`], [`Mode`]) and what a person is told ([`Alert`], [`Severity`]).
//!
//! This crate does no I/O: no files, no sockets, no syscalls, no async runtime.
//! Time comes from a [`Clock`] so that logic built on it can be tested with a
//! [`ManualClock`].
//!
//! [`spiffe`] holds SPIFFE IDs and trust domains, validated per the SPIFFE ID
//! specification, for every crate that names or authorises a workload.
//! [`document`] reads the `apiVersion`/`kind`/`metadata`/`spec` envelope
//! shared by Bulwark's YAML documents.

mod alert;
mod clock;
pub mod document;
mod event;
mod ids;
mod severity;
pub mod spiffe;

pub use alert::{Alert, AlertReason, Decision, Mode, RuleRef};
pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{
    ContainerRef, Event, EventKind, ExecVia, FdKind, FileAccess, Namespaces, PrivilegeChangeKind,
    Process, SocketInfo, SocketProtocol,
};
pub use ids::{ContainerId, IdError, WorkloadId};
pub use severity::{Severity, SeverityParseError};
pub use spiffe::{SpiffeId, SpiffeIdError, TrustDomain};
