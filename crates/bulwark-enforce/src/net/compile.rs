//! A network policy as LPM trie entries (pure). Named peers (DNS names,
//! identities) come in already resolved; re-resolving only changes the
//! entries of those peers, applied as a diff.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::wire::{
    F_EGRESS, F_LISTEN, F_MONITOR, FIXED_PREFIX_BITS, OP_BIND, OP_CONNECT, RuleData, addr_bytes,
};
use crate::denial::Class;
use crate::policy::{EnforcePolicy, NetPolicy, Peer};

/// Capacity of the kernel's rule map (`max_entries` of `bulwark_rules`),
/// shared by every policy of one agent.
pub const MAX_ENTRIES: usize = 65_536;

/// One entry of the rule map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleEntry {
    pub prefix_len: u32,
    pub data: RuleData,
}

/// The `policy_cfg.flags` for a policy.
pub fn flags(policy: &EnforcePolicy) -> u32 {
    let mut f = 0;
    if policy.watches(Class::Network) {
        if policy.network.enforce_egress {
            f |= F_EGRESS;
        }
        if policy.network.enforce_listen {
            f |= F_LISTEN;
        }
        if !policy.refuses(Class::Network) {
            f |= F_MONITOR;
        }
    }
    f
}

/// Addresses of a named peer; `Cidr` peers never reach the resolver.
pub trait PeerAddresses {
    fn addresses(&self, peer: &Peer) -> Vec<IpAddr>;
}

/// Every entry `net` allows, for policy `id`.
pub fn compile(id: u32, net: &NetPolicy, resolver: &dyn PeerAddresses) -> BTreeSet<RuleEntry> {
    let mut out = BTreeSet::new();
    for rule in &net.egress {
        let nets: Vec<IpNet> = match &rule.peer {
            Peer::Cidr(n) => vec![*n],
            named => resolver
                .addresses(named)
                .into_iter()
                .map(IpNet::from)
                .collect(),
        };
        let ports: Vec<u16> = if rule.ports.is_empty() {
            vec![0]
        } else {
            rule.ports.clone()
        };
        for n in &nets {
            for port in &ports {
                for proto in rule.protocol.numbers() {
                    out.insert(entry(id, OP_CONNECT, *proto, *port, Some(*n)));
                }
            }
        }
    }
    for l in &net.listen {
        for proto in l.protocol.numbers() {
            out.insert(entry(id, OP_BIND, *proto, l.port, None));
        }
    }
    out
}

fn entry(id: u32, op: u8, proto: u8, port: u16, net: Option<IpNet>) -> RuleEntry {
    let (addr, addr_bits) = match net.map(|n| n.trunc()) {
        Some(IpNet::V4(n)) => (
            addr_bytes(IpAddr::V4(n.addr())),
            96 + u32::from(n.prefix_len()),
        ),
        Some(IpNet::V6(n)) => (addr_bytes(IpAddr::V6(n.addr())), u32::from(n.prefix_len())),
        None => ([0; 16], 0),
    };
    RuleEntry {
        prefix_len: FIXED_PREFIX_BITS + addr_bits,
        data: RuleData {
            policy: id,
            op,
            proto,
            port: port.to_be_bytes(),
            addr,
        },
    }
}

/// What to insert and what to remove to go from `old` to `new`.
pub fn diff(
    old: &BTreeSet<RuleEntry>,
    new: &BTreeSet<RuleEntry>,
) -> (Vec<RuleEntry>, Vec<RuleEntry>) {
    (
        new.difference(old).copied().collect(),
        old.difference(new).copied().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ListenRule, PeerRule, Protocol};

    struct Fixed(Vec<IpAddr>);
    impl PeerAddresses for Fixed {
        fn addresses(&self, _: &Peer) -> Vec<IpAddr> {
            self.0.clone()
        }
    }

    fn policy() -> NetPolicy {
        NetPolicy {
            egress: vec![
                PeerRule {
                    peer: Peer::Cidr("10.0.0.0/8".parse().unwrap()),
                    ports: vec![5432],
                    protocol: Protocol::Tcp,
                },
                PeerRule {
                    peer: Peer::Dns("db.internal".into()),
                    ports: vec![],
                    protocol: Protocol::Any,
                },
            ],
            listen: vec![ListenRule {
                port: 8080,
                protocol: Protocol::Tcp,
            }],
            ..NetPolicy::default()
        }
    }

    #[test]
    fn ipv4_cidr_becomes_mapped_prefix_after_fixed_bits() {
        let entries = compile(7, &policy(), &Fixed(vec![]));
        let cidr = entries
            .iter()
            .find(|e| e.data.port == 5432u16.to_be_bytes())
            .unwrap();
        assert_eq!(cidr.prefix_len, 64 + 96 + 8);
        assert_eq!(cidr.data.addr[10..13], [0xff, 0xff, 10]);
        assert_eq!(cidr.data.proto, 6);
    }

    #[test]
    fn named_peer_without_ports_allows_any_port_both_protocols() {
        let entries = compile(7, &policy(), &Fixed(vec!["192.0.2.5".parse().unwrap()]));
        let dns: Vec<_> = entries
            .iter()
            .filter(|e| e.data.op == OP_CONNECT && e.data.port == [0, 0])
            .collect();
        assert_eq!(dns.len(), 2);
        assert!(dns.iter().all(|e| e.prefix_len == 64 + 128));
    }

    #[test]
    fn listen_rule_matches_any_local_address() {
        let entries = compile(7, &policy(), &Fixed(vec![]));
        let bind = entries.iter().find(|e| e.data.op == OP_BIND).unwrap();
        assert_eq!(bind.prefix_len, 64);
        assert_eq!(bind.data.port, 8080u16.to_be_bytes());
    }

    #[test]
    fn re_resolution_diff_touches_only_changed_addresses() {
        let old = compile(7, &policy(), &Fixed(vec!["192.0.2.5".parse().unwrap()]));
        let new = compile(7, &policy(), &Fixed(vec!["192.0.2.6".parse().unwrap()]));
        let (add, remove) = diff(&old, &new);
        assert_eq!(add.len(), 2);
        assert_eq!(remove.len(), 2);
        assert!(add.iter().all(|e| e.data.addr[15] == 6));
    }
}
