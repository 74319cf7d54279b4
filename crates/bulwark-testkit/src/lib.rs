//! Real runc containers for Bulwark's tests.
//!
//! A dev-dependency only: it is never linked into the shipped binary. Tests
//! that need a container ask for one here and get a real runc container from
//! an OCI bundle built on the fly, so what the sensor, the enforcer, the
//! identity attestor or the trust hook see is what they would see in
//! production.
//!
//! ```no_run
//! use bulwark_testkit::{Container, Network};
//!
//! # fn main() -> Result<(), bulwark_testkit::Error> {
//! // Attached: create, start, wait, collect the output.
//! let out = Container::builder("hello").args(["echo", "hi"]).run()?;
//! assert_eq!(out.stdout, "hi\n");
//!
//! // Detached, in two steps so a test can arm a watch on the container's
//! // cgroup before its first instruction runs.
//! let web = Container::builder("web")
//!     .args(["sleep", "60"])
//!     .network(Network::Veth)
//!     .image("registry.test/web:1", Some("sha256:0123"))
//!     .create()?;
//! let cgroup_id = web.cgroup_v2_id()?; // the id eBPF reports
//! web.start()?;
//! let out = web.exec(["cat", "/etc/passwd"])?;
//! assert!(out.status.success());
//! # let _ = cgroup_id;
//! # Ok(()) }
//! // Dropping `web` kills and deletes the container and its network.
//! ```
//!
//! What a container gets:
//! - a root filesystem made from Debian's `busybox-static` ([`Rootfs::busybox`]),
//!   built once and cached under the cargo target directory, read-only and
//!   shared unless [`ContainerBuilder::writable_rootfs`] asks for a private copy;
//!   `/tmp` is a private tmpfs;
//! - **no rlimits** in `config.json` (the project's machines cannot raise them);
//! - a unique id (`bwt-NAME-PID-N`), so tests of several helpers run at once;
//! - new pid, mount, ipc, uts and network namespaces; the network is one of
//!   [`Network`]: isolated (loopback only), the host's, or a veth pair whose
//!   host end the test can listen on ([`VethNet::host_addr`]);
//! - cgroups through runc's cgroupfs driver at `/bulwark-testkit/ID` (or a
//!   path of the test's choice); on a cgroup v1/hybrid host runc also places
//!   the container in the v2 hierarchy at `/sys/fs/cgroup/unified/PATH`, whose
//!   directory inode is the cgroup id eBPF helpers return
//!   ([`Container::cgroup_v2_id`]);
//! - annotations, bind mounts, extra capabilities, a uid/gid, and OCI hooks
//!   (`createRuntime`, `prestart`, ...) in `config.json`.
//!
//! Lifetimes: [`ContainerBuilder::create`] runs `runc create` (the container
//! exists, its init is parked before `exec`); [`Container::start`] runs
//! `runc start`; [`Container::exec`] runs `runc exec`. The test process
//! becomes a child subreaper so that it can collect the exit status of the
//! container's init ([`Container::wait`]). Dropping the handle kills the
//! container, reaps it, runs `runc delete --force` and removes its bundle and
//! network namespace.
//!
//! What it does not do: pull images (use `bulwark-image` for that), use a
//! container engine (none runs on the project's machines), or run without
//! root. Missing tools (`runc`, `busybox-static`, `ip`) are reported as an
//! [`Error::MissingTool`] naming the Debian package, never skipped.

mod bundle;
mod cgroup;
mod container;
mod error;
mod net;
mod rootfs;
mod runc;
mod spec;

pub use cgroup::TestCgroup;
pub use container::{Container, ContainerBuilder, Output};
pub use error::Error;
pub use net::VethNet;
pub use rootfs::Rootfs;
pub use spec::{Access, Hook, HookPoint, Network};

/// The annotations [`ContainerBuilder::image`] sets: Bulwark's own keys,
/// which `bulwark run` sets and `bulwark-containers` reads.
pub use bulwark_containers::{ANNOTATION_IMAGE, ANNOTATION_IMAGE_DIGEST};
