//! Test support for this crate and the crates built on it (feature
//! `test-support`): hand-built tar layers (hostile ones included), OCI
//! layouts and docker archives written in code, and a real registry
//! (Debian's `docker-registry`) on loopback with anonymous, basic or
//! bearer-token auth.
//!
//! Everything here panics on setup failure: it is for tests only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod layout;
mod registry;
mod tarball;
mod token;

pub use layout::{DockerArchiveBuilder, LayoutBuilder, write_blob, write_image, write_index};
pub use registry::{RegistryAuth, TestRegistry};
pub use tarball::{TarBuilder, compress};
pub use token::{TokenRequest, TokenServer};
