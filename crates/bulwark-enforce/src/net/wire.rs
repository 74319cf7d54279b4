//! The layout shared with `bpf/enforce.bpf.c`: map keys and values, and the
//! refusal records of the ring buffer. Keep in step with the C structs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Direction byte of a rule key.
pub const OP_CONNECT: u8 = 0;
pub const OP_BIND: u8 = 1;
/// Only in events: an unconnected `sendmsg` (egress rules apply).
pub const OP_SENDMSG: u8 = 2;

/// `policy_cfg.flags`.
pub const F_EGRESS: u32 = 1;
pub const F_LISTEN: u32 = 2;
pub const F_MONITOR: u32 = 4;

/// Bits of a rule key before the address: policy, op, proto, port.
pub const FIXED_PREFIX_BITS: u32 = 64;

/// The data part of an LPM key (`struct rule_key` minus `prefixlen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C)]
pub struct RuleData {
    pub policy: u32,
    pub op: u8,
    pub proto: u8,
    /// Network byte order; `[0, 0]` matches any port.
    pub port: [u8; 2],
    /// IPv6, or IPv4 as `::ffff:a.b.c.d`.
    pub addr: [u8; 16],
}

// SAFETY: `RuleData` is `repr(C)`, 24 bytes with no padding (u32 then 20
// bytes), every bit pattern is valid, and it mirrors `struct rule_key`.
unsafe impl aya::Pod for RuleData {}

/// `struct policy_cfg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct PolicyCfg {
    pub flags: u32,
}

// SAFETY: a single u32.
unsafe impl aya::Pod for PolicyCfg {}

/// `struct counters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Counters {
    /// Not counted (the hot path of every allowed call); always 0.
    pub allowed: u64,
    pub denied: u64,
    pub alerted: u64,
    /// Refusals whose event did not fit the ring buffer (still refused).
    pub lost: u64,
}

// SAFETY: four u64, no padding.
unsafe impl aya::Pod for Counters {}

/// The address as the BPF programs key it.
pub fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// One refused (or, in Monitor mode, reported) socket call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetEvent {
    pub cgroup_id: u64,
    pub policy: u32,
    pub tgid: u32,
    pub tid: u32,
    pub op: u8,
    pub proto: u8,
    pub refused: bool,
    pub addr: IpAddr,
    pub port: u16,
    pub comm: String,
}

/// Size of `struct deny_event` as the kernel reserves it.
pub const EVENT_BYTES: usize = 64;

impl NetEvent {
    /// Decode a ring buffer record; `None` for a short or malformed one.
    pub fn parse(b: &[u8]) -> Option<NetEvent> {
        if b.len() < 60 {
            return None;
        }
        let u32_at = |o: usize| {
            b.get(o..o + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_ne_bytes)
        };
        let cgroup_id = u64::from_ne_bytes(b.get(0..8)?.try_into().ok()?);
        let addr: [u8; 16] = b.get(28..44)?.try_into().ok()?;
        let v6 = Ipv6Addr::from(addr);
        let addr = match b[22] {
            4 => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            6 => IpAddr::V6(v6),
            _ => return None,
        };
        let comm = b.get(44..60)?;
        let end = comm.iter().position(|c| *c == 0).unwrap_or(comm.len());
        Some(NetEvent {
            cgroup_id,
            policy: u32_at(8)?,
            tgid: u32_at(12)?,
            tid: u32_at(16)?,
            op: b[20],
            proto: b[21],
            refused: b[23] == 0,
            port: u16::from_ne_bytes(b.get(24..26)?.try_into().ok()?),
            addr,
            comm: String::from_utf8_lossy(&comm[..end])
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
        })
    }

    /// `connect tcp 10.0.0.1:443`, `bind udp port 53`, ...
    pub fn action(&self) -> String {
        let proto = match self.proto {
            6 => "tcp",
            17 => "udp",
            _ => "ip",
        };
        let peer = match self.addr {
            IpAddr::V4(a) => format!("{a}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}]:{}", self.port),
        };
        match self.op {
            OP_BIND => format!("bind {proto} {peer}"),
            OP_SENDMSG => format!("sendmsg {proto} to {peer}"),
            _ => format!("connect {proto} {peer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Vec<u8> {
        let mut b = vec![0u8; EVENT_BYTES];
        b[0..8].copy_from_slice(&77u64.to_ne_bytes());
        b[8..12].copy_from_slice(&5u32.to_ne_bytes());
        b[12..16].copy_from_slice(&100u32.to_ne_bytes());
        b[16..20].copy_from_slice(&101u32.to_ne_bytes());
        b[20] = OP_CONNECT;
        b[21] = 6;
        b[22] = 4;
        b[23] = 0;
        b[24..26].copy_from_slice(&9090u16.to_ne_bytes());
        b[28..44].copy_from_slice(&addr_bytes("10.1.2.3".parse().unwrap()));
        b[44..46].copy_from_slice(b"nc");
        b
    }

    #[test]
    fn event_decodes_every_field() {
        let e = NetEvent::parse(&record()).unwrap();
        assert_eq!(e.cgroup_id, 77);
        assert_eq!((e.policy, e.tgid, e.tid), (5, 100, 101));
        assert!(e.refused);
        assert_eq!(e.action(), "connect tcp 10.1.2.3:9090");
        assert_eq!(e.comm, "nc");
    }

    #[test]
    fn short_or_bad_family_records_are_rejected() {
        assert!(NetEvent::parse(&record()[..40]).is_none());
        let mut b = record();
        b[22] = 9;
        assert!(NetEvent::parse(&b).is_none());
    }

    #[test]
    fn rule_data_has_no_padding() {
        assert_eq!(std::mem::size_of::<RuleData>(), 24);
        assert_eq!(std::mem::size_of::<Counters>(), 32);
    }
}
