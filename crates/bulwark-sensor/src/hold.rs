//! Holding back the events of a cgroup created moments ago until its
//! container is known (pure).
//!
//! A runtime creates a container's cgroup, and the container's first
//! processes (the runtime's init setting it up) run, before the runtime
//! writes the state attribution reads. Rather than deliver those first
//! events unattributed, they wait here — per cgroup, in order, bounded in
//! count and age — and are released as soon as the container is found, or
//! unattributed when [`Holder::max_age`] passes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bulwark_core::{ContainerRef, Event};

/// An event waiting for attribution, with its record type.
pub type Waiting = (Box<Event>, u16);

struct Held {
    since: Instant,
    events: Vec<Waiting>,
}

/// Per-cgroup queues of waiting events.
pub struct Holder {
    held: HashMap<u64, Held>,
    total: usize,
    max_total: usize,
    max_age: Duration,
}

impl Holder {
    pub fn new(max_total: usize, max_age: Duration) -> Holder {
        Holder {
            held: HashMap::new(),
            total: 0,
            max_total,
            max_age,
        }
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Whether events of this cgroup are waiting (later ones must queue
    /// behind them to keep the cgroup's order).
    pub fn is_holding(&self, cgroup_id: u64) -> bool {
        self.held.contains_key(&cgroup_id)
    }

    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Queues an event; gives it back when the holder is full.
    pub fn hold(&mut self, event: Box<Event>, kind: u16, now: Instant) -> Result<(), Waiting> {
        if self.total >= self.max_total {
            return Err((event, kind));
        }
        self.total += 1;
        self.held
            .entry(event.cgroup_id)
            .or_insert_with(|| Held {
                since: now,
                events: Vec::new(),
            })
            .events
            .push((event, kind));
        Ok(())
    }

    /// Events ready to go: those of cgroups `resolve` now names (attributed)
    /// and those that waited `max_age` (as they are). With `all`, everything.
    pub fn release(
        &mut self,
        now: Instant,
        all: bool,
        mut resolve: impl FnMut(u64) -> Option<ContainerRef>,
    ) -> Vec<Waiting> {
        let mut ready = Vec::new();
        let ids: Vec<u64> = self.held.keys().copied().collect();
        for id in ids {
            let found = resolve(id);
            let expired = self
                .held
                .get(&id)
                .is_some_and(|h| now.duration_since(h.since) >= self.max_age);
            if found.is_none() && !expired && !all {
                continue;
            }
            let Some(held) = self.held.remove(&id) else {
                continue;
            };
            self.total -= held.events.len();
            for (mut event, kind) in held.events {
                if let Some(c) = &found {
                    event.container = Some(c.clone());
                }
                ready.push((event, kind));
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{ContainerId, EventKind, Namespaces, Process};

    fn event(cgroup_id: u64, seq: u64) -> Box<Event> {
        Box::new(Event {
            seq,
            ts_boot_ns: 0,
            time: time::OffsetDateTime::UNIX_EPOCH,
            process: Process::default(),
            cgroup_id,
            namespaces: Namespaces::default(),
            container: None,
            kind: EventKind::Exit {
                code: 0,
                signal: None,
            },
        })
    }

    fn container(id: &str) -> ContainerRef {
        ContainerRef {
            id: ContainerId::new(id).unwrap(),
            runtime: "runc".into(),
            image: None,
            image_digest: None,
            workload: None,
            pod_namespace: None,
            pod_name: None,
        }
    }

    #[test]
    fn events_wait_until_their_container_is_found_then_leave_in_order() {
        let t0 = Instant::now();
        let mut h = Holder::new(10, Duration::from_millis(250));
        for seq in 0..3 {
            h.hold(event(7, seq), 3, t0).unwrap();
        }
        assert!(h.release(t0, false, |_| None).is_empty());
        let out = h.release(t0 + Duration::from_millis(10), false, |id| {
            (id == 7).then(|| container("c"))
        });
        let seqs: Vec<u64> = out.iter().map(|(e, _)| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert!(
            out.iter()
                .all(|(e, _)| e.container.as_ref().is_some_and(|c| c.id.as_str() == "c"))
        );
        assert!(h.is_empty() && !h.is_holding(7));
    }

    #[test]
    fn events_leave_unattributed_after_max_age() {
        let t0 = Instant::now();
        let mut h = Holder::new(10, Duration::from_millis(250));
        h.hold(event(7, 0), 3, t0).unwrap();
        assert!(
            h.release(t0 + Duration::from_millis(100), false, |_| None)
                .is_empty()
        );
        let out = h.release(t0 + Duration::from_millis(250), false, |_| None);
        assert_eq!(out.len(), 1);
        assert!(out[0].0.container.is_none());
    }

    #[test]
    fn a_full_holder_gives_the_event_back() {
        let t0 = Instant::now();
        let mut h = Holder::new(1, Duration::from_secs(1));
        h.hold(event(1, 0), 3, t0).unwrap();
        assert!(h.hold(event(2, 1), 3, t0).is_err());
        assert_eq!(h.release(t0, true, |_| None).len(), 1);
    }
}
