//! The node's connections, aggregated for one report (pure): every
//! successful connect of a container counts towards its
//! (source workload, destination address, port, protocol) key; accepts,
//! listens and binds name the addresses workloads listen on. At report
//! time each destination address is attributed to the workload that
//! accepted connections on it (the profile engine's [`PeerMap`]), so
//! two containers of this node that talk give an identity-to-identity
//! edge even when the accept is seen after the connect.
//!
//! It also remembers the containers whose processes ran or connected, so a
//! container that came and went between two reports is still reported
//! (as stopped) with the flows and profile of its workload.
//!
//! Bounded: at most [`MAX_FLOWS`] keys, as many listeners and as many
//! containers between two reports; connections to further keys are
//! counted, not stored.

use std::collections::HashMap;
use std::net::SocketAddr;

use bulwark_control::wire::{ContainerReport, Flow, Listener, MAX_FLOWS};
use bulwark_core::{Event, EventKind, SocketProtocol, WorkloadId};
use bulwark_profile::{PeerMap, canonical_ip, workload_of};
use time::OffsetDateTime;

/// `connect(2)` on a non-blocking socket: the connection is under way.
const EINPROGRESS: i64 = -115;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: WorkloadId,
    dst: SocketAddr,
    protocol: &'static str,
}

#[derive(Clone, Copy, Debug)]
struct Count {
    count: u64,
    last: OffsetDateTime,
}

/// Connections and listeners since the last [`FlowTable::drain`].
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<Key, Count>,
    listeners: HashMap<(SocketAddr, &'static str), WorkloadId>,
    peers: PeerMap,
    containers: HashMap<String, ContainerReport>,
    max: usize,
    dropped: u64,
}

/// What one drain hands to a report.
#[derive(Debug, Default)]
pub struct Drained {
    pub flows: Vec<Flow>,
    pub listeners: Vec<Listener>,
    /// Containers seen in events (as stopped: the runtime's state says
    /// whether they still run).
    pub containers: Vec<ContainerReport>,
    /// Connections not counted because the table was full.
    pub dropped: u64,
}

fn protocol(p: SocketProtocol) -> Option<&'static str> {
    match p {
        SocketProtocol::Tcp => Some("tcp"),
        SocketProtocol::Udp => Some("udp"),
        SocketProtocol::Unix | SocketProtocol::Other => None,
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Default for FlowTable {
    fn default() -> FlowTable {
        FlowTable::new(MAX_FLOWS)
    }
}

impl FlowTable {
    /// A table of at most `max` keys (and `max` listeners).
    pub fn new(max: usize) -> FlowTable {
        FlowTable {
            flows: HashMap::new(),
            listeners: HashMap::new(),
            peers: PeerMap::new(max),
            containers: HashMap::new(),
            max: max.max(1),
            dropped: 0,
        }
    }

    /// Takes one sensor event; only execs and socket events of containers
    /// count.
    pub fn observe(&mut self, event: &Event) {
        let Some(container) = &event.container else {
            return;
        };
        let Some(workload) = workload_of(container) else {
            return;
        };
        self.seen(container, &workload);
        match &event.kind {
            EventKind::Connect { socket, result } if *result == 0 || *result == EINPROGRESS => {
                let (Some(remote), Some(proto)) = (socket.remote, protocol(socket.protocol)) else {
                    return;
                };
                let dst = SocketAddr::new(canonical_ip(remote.ip()), remote.port());
                self.count(workload, dst, proto, event.time);
            }
            EventKind::Accept { socket, result } if *result >= 0 => {
                self.peers.observe(event, &workload);
                self.listener(socket.local, socket.protocol, workload);
            }
            EventKind::Listen { socket, result } | EventKind::Bind { socket, result }
                if *result == 0 =>
            {
                self.listener(socket.local, socket.protocol, workload);
            }
            _ => {}
        }
    }

    fn seen(&mut self, c: &bulwark_core::ContainerRef, workload: &WorkloadId) {
        if self.containers.len() >= self.max || self.containers.contains_key(c.id.as_str()) {
            return;
        }
        self.containers.insert(
            c.id.as_str().to_owned(),
            ContainerReport {
                id: c.id.as_str().to_owned(),
                workload: workload.as_str().to_owned(),
                image: c.image.clone(),
                image_digest: c.image_digest.clone(),
                running: false,
                facts: None,
            },
        );
    }

    fn count(
        &mut self,
        src: WorkloadId,
        dst: SocketAddr,
        protocol: &'static str,
        at: OffsetDateTime,
    ) {
        let key = Key { src, dst, protocol };
        if let Some(c) = self.flows.get_mut(&key) {
            c.count += 1;
            c.last = c.last.max(at);
        } else if self.flows.len() < self.max {
            self.flows.insert(key, Count { count: 1, last: at });
        } else {
            self.dropped += 1;
        }
    }

    fn listener(&mut self, local: Option<SocketAddr>, p: SocketProtocol, workload: WorkloadId) {
        let (Some(local), Some(proto)) = (local, protocol(p)) else {
            return;
        };
        if local.port() == 0 || local.ip().is_loopback() {
            return;
        }
        let addr = SocketAddr::new(canonical_ip(local.ip()), local.port());
        if self.listeners.len() < self.max || self.listeners.contains_key(&(addr, proto)) {
            self.listeners.insert((addr, proto), workload);
        }
    }

    /// Everything since the last drain, destinations attributed where a
    /// workload of this node accepted on the address.
    pub fn drain(&mut self) -> Drained {
        let flows = self
            .flows
            .drain()
            .map(|(k, c)| Flow {
                dst_workload: self
                    .peers
                    .owner(k.dst.ip(), c.last)
                    .map(|w| w.as_str().to_owned()),
                src: k.src.as_str().to_owned(),
                dst: k.dst,
                protocol: k.protocol.to_owned(),
                count: c.count,
                last_seen: unix_ms(c.last),
            })
            .collect();
        let listeners = self
            .listeners
            .drain()
            .map(|((addr, protocol), w)| Listener {
                workload: w.as_str().to_owned(),
                addr,
                protocol: protocol.to_owned(),
            })
            .collect();
        Drained {
            flows,
            listeners,
            containers: self.containers.drain().map(|(_, c)| c).collect(),
            dropped: std::mem::take(&mut self.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use bulwark_core::{ContainerId, ContainerRef, Namespaces, Process, SocketInfo};

    use super::*;

    fn event(image: &str, kind: EventKind) -> Event {
        Event {
            seq: 0,
            ts_boot_ns: 0,
            time: OffsetDateTime::from_unix_timestamp(1_700_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            process: Process::default(),
            cgroup_id: 0,
            namespaces: Namespaces::default(),
            container: Some(ContainerRef {
                id: ContainerId::new(format!("c-{image}")).unwrap_or_else(|_| unreachable!()),
                runtime: "runc".into(),
                image: Some(format!("{image}:1")),
                image_digest: None,
                workload: None,
                pod_namespace: None,
                pod_name: None,
            }),
            kind,
        }
    }

    fn sock(local: Option<&str>, remote: Option<&str>) -> SocketInfo {
        SocketInfo {
            protocol: SocketProtocol::Tcp,
            local: local.and_then(|a| a.parse().ok()),
            remote: remote.and_then(|a| a.parse().ok()),
            path: None,
        }
    }

    fn connect(image: &str, to: &str) -> Event {
        event(
            image,
            EventKind::Connect {
                socket: sock(None, Some(to)),
                result: 0,
            },
        )
    }

    #[test]
    fn a_connect_seen_before_the_peers_accept_is_still_attributed_to_the_peer() {
        let mut t = FlowTable::new(16);
        for _ in 0..3 {
            t.observe(&connect("client", "10.1.0.2:8080"));
        }
        t.observe(&event(
            "server",
            EventKind::Accept {
                socket: sock(Some("10.1.0.2:8080"), Some("10.1.0.6:40000")),
                result: 4,
            },
        ));
        let d = t.drain();
        assert_eq!(d.flows.len(), 1);
        let f = &d.flows[0];
        assert_eq!((f.src.as_str(), f.count), ("image:client", 3));
        assert_eq!(f.dst_workload.as_deref(), Some("image:server"));
        assert_eq!(d.listeners.len(), 1);
        assert_eq!(d.listeners[0].workload, "image:server");
        let mut seen: Vec<String> = d.containers.iter().map(|c| c.workload.clone()).collect();
        seen.sort();
        assert_eq!(seen, ["image:client", "image:server"]);
        let again = t.drain();
        assert!(
            again.flows.is_empty() && again.containers.is_empty(),
            "a drain empties the table"
        );
    }

    #[test]
    fn a_chatty_node_is_capped_and_the_rest_counted() {
        let mut t = FlowTable::new(4);
        for port in 0..10u16 {
            t.observe(&connect("chatty", &format!("192.0.2.1:{}", 1000 + port)));
        }
        t.observe(&connect("chatty", "192.0.2.1:1000"));
        let d = t.drain();
        assert_eq!(d.flows.len(), 4);
        assert_eq!(d.dropped, 6);
        assert_eq!(d.flows.iter().map(|f| f.count).sum::<u64>(), 5);
        assert_eq!(t.drain().dropped, 0, "the count is per report");
    }

    #[test]
    fn failed_connects_host_tasks_and_unix_sockets_are_not_flows() {
        let mut t = FlowTable::new(16);
        t.observe(&event(
            "a",
            EventKind::Connect {
                socket: sock(None, Some("192.0.2.1:80")),
                result: -111,
            },
        ));
        let mut host = connect("a", "192.0.2.1:80");
        host.container = None;
        t.observe(&host);
        let mut unix = sock(None, None);
        unix.protocol = SocketProtocol::Unix;
        t.observe(&event(
            "a",
            EventKind::Connect {
                socket: unix,
                result: 0,
            },
        ));
        assert!(t.drain().flows.is_empty());
    }
}
