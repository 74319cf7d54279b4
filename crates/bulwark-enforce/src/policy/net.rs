//! Which peers a workload may connect or send to, and which ports it may
//! listen on.

use bulwark_core::WorkloadId;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{PolicyError, check_len};

/// Most ports one rule may list (each becomes kernel map entries).
pub const MAX_PORTS_PER_RULE: usize = 64;
/// Shortest re-resolution interval for DNS peers.
pub const MIN_RESOLVE_INTERVAL_SECS: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    /// TCP and UDP.
    Any,
}

impl Protocol {
    /// IANA protocol numbers this protocol stands for.
    pub fn numbers(self) -> &'static [u8] {
        match self {
            Protocol::Tcp => &[6],
            Protocol::Udp => &[17],
            Protocol::Any => &[6, 17],
        }
    }
}

fn any_protocol() -> Protocol {
    Protocol::Any
}

/// Who a peer is: addresses, a DNS name (resolved, and re-resolved so the
/// allowed addresses stay current), or a workload identity (resolved to the
/// addresses of the containers that carry it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    Cidr(IpNet),
    Dns(String),
    Identity(WorkloadId),
}

/// One allowed egress destination. `ports` empty means any port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRule {
    #[serde(flatten)]
    pub peer: Peer,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    #[serde(default = "any_protocol")]
    pub protocol: Protocol,
}

/// One allowed listening port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenRule {
    pub port: u16,
    #[serde(default = "any_protocol")]
    pub protocol: Protocol,
}

/// Network allowlist, enforced by cgroup `sock_addr` programs: `connect`
/// and unconnected `sendmsg` against `egress`, `bind` against `listen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetPolicy {
    #[serde(default = "yes")]
    pub enforce_egress: bool,
    #[serde(default)]
    pub egress: Vec<PeerRule>,
    #[serde(default = "yes")]
    pub enforce_listen: bool,
    #[serde(default)]
    pub listen: Vec<ListenRule>,
    /// How often DNS and identity peers are resolved again.
    #[serde(default = "default_resolve")]
    pub resolve_interval_secs: u64,
}

fn yes() -> bool {
    true
}

fn default_resolve() -> u64 {
    30
}

impl Default for NetPolicy {
    fn default() -> Self {
        NetPolicy {
            enforce_egress: true,
            egress: Vec::new(),
            enforce_listen: true,
            listen: Vec::new(),
            resolve_interval_secs: default_resolve(),
        }
    }
}

impl NetPolicy {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        check_len("spec.network.egress", self.egress.len())?;
        check_len("spec.network.listen", self.listen.len())?;
        for rule in &self.egress {
            if rule.ports.len() > MAX_PORTS_PER_RULE {
                return Err(PolicyError::TooMany {
                    field: "spec.network.egress[].ports",
                    count: rule.ports.len(),
                    limit: MAX_PORTS_PER_RULE,
                });
            }
            if rule.ports.contains(&0) {
                return Err(invalid(
                    "spec.network.egress[].ports",
                    "port 0 is not a port",
                ));
            }
            if let Peer::Dns(name) = &rule.peer {
                check_dns_name(name)?;
            }
        }
        if self.listen.iter().any(|l| l.port == 0) {
            return Err(invalid(
                "spec.network.listen[].port",
                "port 0 is not a port",
            ));
        }
        if self.resolve_interval_secs < MIN_RESOLVE_INTERVAL_SECS {
            return Err(invalid(
                "spec.network.resolve_interval_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// True when some peer needs resolving (DNS name or identity).
    pub fn has_named_peers(&self) -> bool {
        self.egress.iter().any(|r| !matches!(r.peer, Peer::Cidr(_)))
    }
}

fn invalid(field: &str, problem: &str) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// RFC 1123 host names: letters, digits, `-`, dots; 253 bytes at most.
fn check_dns_name(name: &str) -> Result<(), PolicyError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(PolicyError::Invalid {
            field: "spec.network.egress[].dns".into(),
            problem: format!(
                "{:?} is not a DNS host name",
                name.escape_debug().to_string()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_rule_yaml_names_the_peer_kind() {
        let rules: Vec<PeerRule> = serde_yaml::from_str(
            "- cidr: 10.0.0.0/8\n  ports: [5432]\n  protocol: tcp\n- dns: db.internal\n- identity: spiffe://prod/db\n",
        )
        .unwrap();
        assert!(matches!(rules[0].peer, Peer::Cidr(_)));
        assert_eq!(rules[1].peer, Peer::Dns("db.internal".into()));
        assert_eq!(rules[1].protocol, Protocol::Any);
        assert!(matches!(rules[2].peer, Peer::Identity(_)));
    }

    #[test]
    fn dns_names_with_injection_are_refused() {
        for bad in ["", "a..b", "-a.b", "a b", "x\n.evil", &"a".repeat(64)] {
            assert!(check_dns_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_dns_name("db-1.prod.svc.cluster.local").is_ok());
    }

    #[test]
    fn port_zero_is_refused() {
        let policy = NetPolicy {
            listen: vec![ListenRule {
                port: 0,
                protocol: Protocol::Tcp,
            }],
            ..NetPolicy::default()
        };
        assert!(policy.validate().is_err());
    }
}
