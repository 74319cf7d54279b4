//! Rules on outbound connections: cloud metadata, mining pools, shells
//! connecting out (the `bash -i >& /dev/tcp/...` reverse shell).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bulwark_core::{Event, EventKind, SocketProtocol};

use super::catalog::{CLOUD_METADATA, CRYPTO_MINER, REVERSE_SHELL};
use super::names::{self, any_in};
use super::{Context, Finding};
use crate::pattern::canonical_ip;

const METADATA: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Stratum ports used by public mining pools. Ports also common for other
/// services (8080, 8888, 9999, ...) are left out to keep false positives down.
const POOL_PORTS: &[u16] = &[
    3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777, 7778, 9332,
    14433, 14444, 45560, 45700,
];

pub fn detect(event: &Event, ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let EventKind::Connect { socket, .. } = &event.kind else {
        return;
    };
    let Some(remote) = socket.remote else {
        return;
    };
    let ip = canonical_ip(remote.ip());
    let who = ctx.who(event);
    if METADATA.contains(&ip) {
        out.push(Finding::new(
            &CLOUD_METADATA,
            ip.to_string(),
            format!("{who} connects to the cloud metadata endpoint {remote}"),
        ));
    }
    let inet = matches!(socket.protocol, SocketProtocol::Tcp | SocketProtocol::Udp);
    if inet && POOL_PORTS.contains(&remote.port()) && !ip.is_loopback() {
        out.push(Finding::new(
            &CRYPTO_MINER,
            remote.to_string(),
            format!("{who} connects to {remote}, a mining-pool port"),
        ));
    }
    if socket.protocol == SocketProtocol::Tcp && !ip.is_loopback() && is_shell(ctx) {
        out.push(Finding::new(
            &REVERSE_SHELL,
            remote.to_string(),
            format!("reverse shell: the shell {who} connects to {remote}"),
        ));
    }
}

fn is_shell(ctx: &Context<'_>) -> bool {
    let Some(info) = ctx.process else {
        return false;
    };
    let exe = info.process.exe.as_deref().unwrap_or_default();
    let path = info.path.as_deref().unwrap_or(exe);
    let exec_names = names::exec_names(exe, path, &info.argv);
    any_in(&exec_names, names::SHELLS)
}
