//! Turns the refusal records of the ring buffer into denials, one per
//! refused socket call. The kernel has already answered (with `EPERM`); this
//! only reports.

use std::sync::Arc;

use bulwark_core::{ContainerId, Decision, Mode, WorkloadId};

use super::wire::NetEvent;
use crate::denial::{Class, Denial, DenialSink};
use crate::procinfo;
use crate::ring::Handler;

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

/// The handler of the network refusal ring buffer (see [`crate::ring`]).
pub fn handler(owners: Arc<dyn Owners>, sink: Arc<dyn DenialSink>) -> Handler {
    Box::new(move |record| {
        if let Some(event) = record.and_then(NetEvent::parse) {
            report(&event, owners.as_ref(), sink.as_ref());
        }
    })
}

fn report(event: &NetEvent, owners: &dyn Owners, sink: &dyn DenialSink) {
    let Some(owner) = owners.owner(event.policy) else {
        tracing::warn!(
            policy = event.policy,
            "network refusal for an unknown policy"
        );
        return;
    };
    let ancestry = procinfo::ancestry_or_reported(event.tid, event.tgid, &event.comm);
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
