//! Turns the refusal records of the ring buffer into denials, one per
//! refused socket call. The kernel has already answered (with `EPERM`); this
//! only reports.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use aya::maps::{MapData, RingBuf};
use bulwark_core::{ContainerId, Decision, Mode, Process, WorkloadId};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::wire::NetEvent;
use crate::denial::{Class, Denial, DenialSink};
use crate::procinfo;

/// Who a policy id belongs to.
#[derive(Clone, Debug)]
pub struct Owner {
    pub container: ContainerId,
    pub workload: WorkloadId,
    pub mode: Mode,
    pub profile_version: u64,
}

/// Looks up the owner of a policy id (the agent's registry).
pub trait Owners: Send + Sync {
    fn owner(&self, policy: u32) -> Option<Owner>;
}

/// The reader thread; dropping it stops the thread.
#[derive(Debug)]
pub struct EventReader {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl EventReader {
    pub fn start(
        ring: RingBuf<MapData>,
        owners: Arc<dyn Owners>,
        sink: Arc<dyn DenialSink>,
    ) -> std::io::Result<EventReader> {
        let (rx, tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        let thread = std::thread::Builder::new()
            .name("net-events".into())
            .spawn(move || read_loop(ring, rx, owners.as_ref(), sink.as_ref()))?;
        Ok(EventReader {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for EventReader {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = nix::unistd::write(&tx, b"x");
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_loop(
    mut ring: RingBuf<MapData>,
    stop: OwnedFd,
    owners: &dyn Owners,
    sink: &dyn DenialSink,
) {
    loop {
        while let Some(item) = ring.next() {
            if let Some(event) = NetEvent::parse(&item) {
                drop(item);
                report(&event, owners, sink);
            }
        }
        let mut fds = [
            PollFd::new(ring.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => {
                tracing::error!("polling the network event ring buffer: {e}");
                return;
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            // Drain what is left, then stop.
            while let Some(item) = ring.next() {
                if let Some(event) = NetEvent::parse(&item) {
                    drop(item);
                    report(&event, owners, sink);
                }
            }
            return;
        }
    }
}

fn report(event: &NetEvent, owners: &dyn Owners, sink: &dyn DenialSink) {
    let Some(owner) = owners.owner(event.policy) else {
        tracing::warn!(
            policy = event.policy,
            "network refusal for an unknown policy"
        );
        return;
    };
    let mut ancestry = procinfo::ancestry(event.tid);
    if ancestry.is_empty() {
        // Gone already: what the kernel told us is all there is.
        ancestry.push(Process {
            pid: event.tid,
            tgid: event.tgid,
            comm: event.comm.clone(),
            ..Process::default()
        });
    }
    let decision = if event.refused {
        Decision::Deny
    } else {
        Decision::Alert
    };
    sink.record(&Denial {
        time: time::OffsetDateTime::now_utc(),
        container: owner.container,
        workload: owner.workload,
        profile_version: owner.profile_version,
        mode: owner.mode,
        decision,
        class: Class::Network,
        action: event.action(),
        reason: "peer, port or protocol not in the profile".into(),
        enforcer: "cgroup-bpf".into(),
        ancestry,
    });
}
