//! Named peers as addresses, kept current: DNS names through the system
//! resolver, identities through the containers that carry them. A failed
//! lookup keeps the last good answer (a DNS hiccup must not cut a workload
//! off), and is reported.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, ToSocketAddrs};

use bulwark_core::WorkloadId;

use super::compile::PeerAddresses;
use crate::policy::Peer;

/// Most addresses kept for one name.
pub const MAX_ADDRESSES_PER_PEER: usize = 256;

/// DNS lookups.
pub trait NameLookup: Send + Sync {
    fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok((name, 0u16).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// Addresses of the containers that carry an identity.
pub trait IdentityLookup: Send + Sync {
    fn addresses(&self, id: &WorkloadId) -> Vec<IpAddr>;
}

/// The current addresses of every named peer of one policy.
#[derive(Clone, Debug, Default)]
pub struct PeerCache {
    known: HashMap<Peer, Vec<IpAddr>>,
}

impl PeerCache {
    /// Look every named peer up again. Returns the peers whose lookup
    /// failed (they keep their previous addresses).
    pub fn refresh<'a>(
        &mut self,
        peers: impl Iterator<Item = &'a Peer>,
        dns: &dyn NameLookup,
        ids: &dyn IdentityLookup,
    ) -> Vec<(Peer, String)> {
        let mut failures = Vec::new();
        for peer in peers {
            let result = match peer {
                Peer::Cidr(_) => continue,
                Peer::Dns(name) => dns.lookup(name).map_err(|e| e.to_string()),
                Peer::Identity(id) => Ok(ids.addresses(id)),
            };
            match result {
                Ok(mut addrs) => {
                    addrs.sort();
                    addrs.dedup();
                    addrs.truncate(MAX_ADDRESSES_PER_PEER);
                    self.known.insert(peer.clone(), addrs);
                }
                Err(e) => failures.push((peer.clone(), e)),
            }
        }
        failures
    }
}

impl PeerAddresses for PeerCache {
    fn addresses(&self, peer: &Peer) -> Vec<IpAddr> {
        self.known.get(peer).cloned().unwrap_or_default()
    }
}

/// Local unicast IPv4 addresses of a network namespace, from its
/// `/proc/PID/net/fib_trie` (`/32 host LOCAL` entries), loopback excluded.
pub fn local_ipv4(fib_trie: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-', '`']).trim();
        if let Ok(ip) = t.parse::<std::net::Ipv4Addr>() {
            last = Some(IpAddr::V4(ip));
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last.filter(|ip| !ip.is_loopback())
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// Global IPv6 addresses from `/proc/PID/net/if_inet6`.
pub fn global_ipv6(if_inet6: &str) -> Vec<IpAddr> {
    if_inet6
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let hex = f.next()?;
            let scope = f.nth(2)?;
            if scope != "00" || hex.len() != 32 {
                return None;
            }
            let v = u128::from_str_radix(hex, 16).ok()?;
            let ip = Ipv6Addr::from(v);
            (!ip.is_loopback()).then_some(IpAddr::V6(ip))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky(std::sync::Mutex<Vec<std::io::Result<Vec<IpAddr>>>>);
    impl NameLookup for Flaky {
        fn lookup(&self, _: &str) -> std::io::Result<Vec<IpAddr>> {
            self.0.lock().unwrap().remove(0)
        }
    }
    struct NoIds;
    impl IdentityLookup for NoIds {
        fn addresses(&self, _: &WorkloadId) -> Vec<IpAddr> {
            Vec::new()
        }
    }

    #[test]
    fn failed_lookup_keeps_the_last_good_answer() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let dns = Flaky(std::sync::Mutex::new(vec![
            Ok(vec![a]),
            Err(std::io::Error::other("SERVFAIL")),
        ]));
        let peer = Peer::Dns("db".into());
        let mut cache = PeerCache::default();
        assert!(cache.refresh([&peer].into_iter(), &dns, &NoIds).is_empty());
        let failed = cache.refresh([&peer].into_iter(), &dns, &NoIds);
        assert_eq!(failed.len(), 1);
        assert_eq!(cache.addresses(&peer), vec![a]);
    }

    #[test]
    fn fib_trie_local_addresses_exclude_loopback() {
        let text = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.9.0.2\n        /32 host LOCAL\nLocal:\n  +-- 127.0.0.0/8 2 0 2\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 10.9.0.2\n        /32 host LOCAL\n     |-- 10.9.0.255\n        /32 link BROADCAST\n";
        assert_eq!(
            local_ipv4(text),
            vec!["10.9.0.2".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn if_inet6_keeps_global_scope_only() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\n20010db8000000000000000000000002 02 40 00 80     eth0\n";
        assert_eq!(
            global_ipv6(text),
            vec!["2001:db8::2".parse::<IpAddr>().unwrap()]
        );
    }
}
