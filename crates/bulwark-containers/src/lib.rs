//! Which container a process or a cgroup belongs to, and what that
//! container is (image, labels, pod), without the sensor.
//!
//! - [`ProcCgroups`] parses `/proc/PID/cgroup` (v1, hybrid and v2 layouts)
//!   and [`classify`] recognises a container id in a cgroup path for runc,
//!   containerd (Kubernetes pods included), CRI-O, podman and docker, with
//!   the cgroupfs and systemd drivers: pure functions with table tests.
//! - [`discover`] reads the runtimes' state directories (`/run/runc`,
//!   `/run/crun`, `/run/containerd/runc/NS`, `/run/docker/runtime-runc`) and
//!   each container's OCI `config.json` for the containers that run now.
//! - [`Resolver`] indexes them by cgroup v2 id (what eBPF reports), cgroup
//!   path, pid namespace and id, rescanning (rate-limited) when asked about
//!   something unknown, and keeps deleted containers resolvable for a while
//!   so late events are still attributed.
//!
//! - [`StateWatcher`] watches those directories with inotify and hands over
//!   each container as soon as its runtime writes its state ([`Resolver::learn`]),
//!   so a container living for milliseconds is known even between scans.
//!
//! All host access goes through the [`Host`] trait ([`FsHost`] for the real
//! machine or a directory laid out like one), so discovery is tested against
//! fake trees and, in `tests/`, against real runc containers.
//!
//! What it does not do: talk to container engines' APIs (no docker, CRI or
//! kube-apiserver client), watch for changes by itself (callers rescan or
//! feed [`Resolver::note_cgroup`]), or decide workload identity (that is
//! `bulwark-identity`'s job, from the metadata found here). Looking up a pid
//! is only as good as the pid: callers attesting a peer must pin it (pidfd)
//! across the lookup.

mod discovery;
mod error;
mod host;
mod info;
mod layout;
mod metadata;
mod procfs;
mod resolver;
mod state;
mod watch;

pub use discovery::{Discovered, discover, refine_runtime};
pub use error::Error;
pub use host::{FsHost, Host, MAX_FILE_BYTES};
pub use info::ContainerInfo;
pub use layout::{Driver, PathMatch, Runtime, classify};
pub use metadata::{
    ANNOTATION_IMAGE, ANNOTATION_IMAGE_DIGEST, Metadata, Pod, digest_of, from_annotations,
};
pub use procfs::{CgroupLine, ProcCgroups, cgroup2_mount, namespace_inode, stat_start_time};
pub use resolver::{FRESH, Resolver, ResolverStats};
pub use state::{
    DockerConfig, RuntimeState, StorageContainer, parse_crun_status, parse_docker_config,
    parse_oci_annotations, parse_runc_state, parse_storage_containers,
};
pub use watch::StateWatcher;

/// A resolver over the real machine with the system clock.
pub fn system_resolver() -> Resolver<FsHost, bulwark_core::SystemClock> {
    Resolver::new(FsHost::real(), bulwark_core::SystemClock)
}
