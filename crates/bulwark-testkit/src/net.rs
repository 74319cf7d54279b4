//! A network namespace joined to the host by a veth pair, with `ip`.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};

use crate::Error;

/// The /16 the test subnets are carved from, one /30 per container.
const RANGE: &str = "10.213.0.0/16";
const RANGE_BASE: u32 = u32::from_be_bytes([10, 213, 0, 0]);
const SUBNETS: u32 = 1 << 14;
/// Serialises subnet allocation between concurrently running test processes.
const LOCK: &str = "/run/bulwark-testkit-net.lock";

/// A network namespace whose `eth0` is one end of a veth pair; the other
/// end is on the host. A test listening on [`VethNet::host_addr`] (or on
/// `0.0.0.0`) is reachable from the container. Dropping it deletes the
/// namespace, which also removes both veth ends.
#[derive(Debug)]
pub struct VethNet {
    name: String,
    host_if: String,
    host_addr: Ipv4Addr,
    container_addr: Ipv4Addr,
}

impl VethNet {
    /// `key` must be unique among live test containers (a container id).
    pub(crate) fn create(key: &str) -> Result<VethNet, Error> {
        let tag = short_hash(key);
        let name = format!("bwt{tag}");
        let host_if = format!("bwt{tag}h");
        let peer_if = format!("bwt{tag}c");
        let _lock = lock()?;
        let (host_addr, container_addr) = free_subnet()?;
        ip(&["netns", "add", &name])?;
        let net = VethNet {
            name,
            host_if,
            host_addr,
            container_addr,
        };
        net.configure(&peer_if)?;
        Ok(net)
    }

    fn configure(&self, peer_if: &str) -> Result<(), Error> {
        let (ns, host_if) = (self.name.as_str(), self.host_if.as_str());
        let host_cidr = format!("{}/30", self.host_addr);
        let container_cidr = format!("{}/30", self.container_addr);
        let host = self.host_addr.to_string();
        ip(&[
            "link", "add", host_if, "type", "veth", "peer", "name", peer_if,
        ])?;
        ip(&["link", "set", peer_if, "netns", ns])?;
        ip(&["addr", "add", &host_cidr, "dev", host_if])?;
        ip(&["link", "set", host_if, "up"])?;
        ip(&["-n", ns, "link", "set", peer_if, "name", "eth0"])?;
        ip(&["-n", ns, "addr", "add", &container_cidr, "dev", "eth0"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "route", "add", "default", "via", &host]).map(drop)
    }

    /// The host end's address; listen here to be reachable from the container.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_addr
    }

    /// The container's `eth0` address.
    pub fn container_addr(&self) -> Ipv4Addr {
        self.container_addr
    }

    /// The host end's interface name.
    pub fn host_interface(&self) -> &str {
        &self.host_if
    }

    /// The bind-mounted namespace file runc joins.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for VethNet {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

fn lock() -> Result<Flock<std::fs::File>, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .map_err(|e| Error::io("opening", LOCK, e))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::io("locking", LOCK, errno.into()))
}

/// The first /30 in [`RANGE`] with no address on any host interface.
fn free_subnet() -> Result<(Ipv4Addr, Ipv4Addr), Error> {
    let out = ip(&["-o", "-4", "addr", "show"])?;
    let used: HashSet<u32> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|cidr| cidr.split('/').next()?.parse::<Ipv4Addr>().ok())
        .map(|a| u32::from(a) & !3)
        .collect();
    (0..SUBNETS)
        .map(|i| RANGE_BASE + i * 4)
        .find(|net| !used.contains(net))
        .map(|net| (Ipv4Addr::from(net + 1), Ipv4Addr::from(net + 2)))
        .ok_or(Error::NoSubnet { range: RANGE })
}

fn short_hash(key: &str) -> String {
    // FNV-1a: stable, dependency-free; 32 bits keep names within IFNAMSIZ.
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

fn ip(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("ip").args(args).output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingTool {
                tool: "ip",
                package: "iproute2",
            }
        } else {
            Error::Spawn {
                program: "ip",
                source,
            }
        }
    })?;
    if !out.status.success() {
        return Err(Error::Ip {
            args: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_fit_ifnamsiz() {
        let h = short_hash("bwt-some-very-long-test-name-123456-99");
        assert!(format!("bwt{h}h").len() <= 15);
    }
}
