//! The records of `bpf/fileless.bpf.c` and the denial each one becomes.
//! Pure: no I/O.

use bulwark_core::{Decision, Process};

use crate::denial::{Class, Denial};
use crate::net::Owner;

/// `struct watch.flags`: the kernel did not take `vm.memfd_noexec = 2` for
/// this container; a memfd that gets executed is killed instead.
pub const W_KILL: u32 = 1;

/// `struct watch`, the value of the watch map (key: cgroup v2 id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Watch {
    pub policy: u32,
    pub flags: u32,
}

// SAFETY: two u32, no padding, every bit pattern valid; mirrors `struct watch`.
unsafe impl aya::Pod for Watch {}

/// What the kernel saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `memfd_create(MFD_EXEC)` failed with `EACCES`.
    CreateRefused,
    /// An exec whose target was a memfd failed.
    ExecRefused,
    /// A memfd was executed; `killed` says whether it was stopped before
    /// its first instruction.
    ExecRan { killed: bool },
}

/// One `struct memfd_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemfdEvent {
    pub cgroup_id: u64,
    pub policy: u32,
    pub tgid: u32,
    pub tid: u32,
    /// The syscall's return value (`-EACCES` when the kernel refused).
    pub ret: i32,
    pub kind: Kind,
    pub comm: String,
    /// `memfd:NAME`, as memfd_create named the file.
    pub name: String,
}

/// Size of `struct memfd_event`.
pub const EVENT_BYTES: usize = 112;

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end])
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl MemfdEvent {
    /// Decode a ring buffer record; `None` for a short or unknown one.
    pub fn parse(b: &[u8]) -> Option<MemfdEvent> {
        if b.len() < EVENT_BYTES {
            return None;
        }
        let u32_at = |o: usize| b.get(o..o + 4)?.try_into().ok().map(u32::from_ne_bytes);
        let kind = match (b[24], b[25]) {
            (1, _) => Kind::CreateRefused,
            (2, _) => Kind::ExecRefused,
            (3, killed) => Kind::ExecRan {
                killed: killed != 0,
            },
            _ => return None,
        };
        Some(MemfdEvent {
            cgroup_id: u64::from_ne_bytes(b.get(0..8)?.try_into().ok()?),
            policy: u32_at(8)?,
            tgid: u32_at(12)?,
            tid: u32_at(16)?,
            ret: u32_at(20)? as i32,
            kind,
            comm: c_string(b.get(32..48)?),
            name: c_string(b.get(48..112)?),
        })
    }

    /// The denial this record becomes, for the container `owner`.
    /// `ancestry` is the acting thread and its ancestors (or just what the
    /// kernel said, when it is gone).
    pub fn denial(&self, owner: Owner, ancestry: Vec<Process>) -> Denial {
        let errno = std::io::Error::from_raw_os_error(-self.ret);
        let (action, decision, reason, enforcer) = match self.kind {
            Kind::CreateRefused => (
                format!("memfd_create(MFD_EXEC) {}", self.name),
                Decision::Deny,
                format!(
                    "fileless execution: the kernel refused an executable memory file \
                     ({errno}; vm.memfd_noexec=2 in the container's pid namespace)"
                ),
                "vm.memfd_noexec",
            ),
            Kind::ExecRefused => (
                format!("exec {}", self.name),
                Decision::Deny,
                format!(
                    "fileless execution: the kernel refused to execute a memory file \
                     ({errno}; vm.memfd_noexec=2 in the container's pid namespace)"
                ),
                "vm.memfd_noexec",
            ),
            Kind::ExecRan { killed: true } => (
                format!("exec {}", self.name),
                Decision::Deny,
                "fileless execution: killed (SIGKILL) before its first instruction; \
                 vm.memfd_noexec=2 could not be set for this container"
                    .to_owned(),
                "sched_process_exec+SIGKILL",
            ),
            Kind::ExecRan { killed: false } => (
                format!("exec {}", self.name),
                Decision::Alert,
                "fileless execution ran: neither vm.memfd_noexec=2 nor the kill \
                 fallback stopped it"
                    .to_owned(),
                "sched_process_exec",
            ),
        };
        Denial {
            time: time::OffsetDateTime::now_utc(),
            container: owner.container,
            workload: owner.workload,
            profile_version: owner.profile_version,
            mode: owner.mode,
            decision,
            class: Class::Process,
            action,
            reason,
            enforcer: enforcer.into(),
            ancestry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{ContainerId, Mode, WorkloadId};

    fn record(kind: u8, killed: u8, ret: i32) -> Vec<u8> {
        let mut b = vec![0u8; EVENT_BYTES];
        b[0..8].copy_from_slice(&77u64.to_ne_bytes());
        b[8..12].copy_from_slice(&5u32.to_ne_bytes());
        b[12..16].copy_from_slice(&100u32.to_ne_bytes());
        b[16..20].copy_from_slice(&101u32.to_ne_bytes());
        b[20..24].copy_from_slice(&ret.to_ne_bytes());
        b[24] = kind;
        b[25] = killed;
        b[32..37].copy_from_slice(b"probe");
        b[48..58].copy_from_slice(b"memfd:x\x1b[2");
        b
    }

    fn owner() -> Owner {
        Owner {
            container: ContainerId::new("c1").unwrap(),
            workload: WorkloadId::new("image:t").unwrap(),
            mode: Mode::Protect,
            profile_version: 2,
        }
    }

    #[test]
    fn refused_exec_record_becomes_a_deny_naming_the_memfd() {
        let e = MemfdEvent::parse(&record(2, 0, -13)).unwrap();
        assert_eq!(e.kind, Kind::ExecRefused);
        assert_eq!((e.cgroup_id, e.policy, e.tgid, e.tid), (77, 5, 100, 101));
        // Control characters from the (attacker-chosen) name are masked.
        assert_eq!(e.name, "memfd:x?[2");
        let d = e.denial(owner(), vec![]);
        assert_eq!(d.decision, Decision::Deny);
        assert_eq!(d.class, Class::Process);
        assert_eq!(d.action, "exec memfd:x?[2");
        assert!(d.reason.contains("kernel refused"), "{}", d.reason);
        assert!(d.reason.contains("Permission denied"), "{}", d.reason);
    }

    #[test]
    fn create_refused_and_killed_and_ran_records_say_what_happened() {
        let c = MemfdEvent::parse(&record(1, 0, -13)).unwrap();
        assert!(
            c.denial(owner(), vec![])
                .action
                .starts_with("memfd_create(MFD_EXEC) ")
        );
        let k = MemfdEvent::parse(&record(3, 1, 0)).unwrap();
        let d = k.denial(owner(), vec![]);
        assert_eq!(
            (d.decision, d.enforcer.as_str()),
            (Decision::Deny, "sched_process_exec+SIGKILL")
        );
        let r = MemfdEvent::parse(&record(3, 0, 0)).unwrap();
        assert_eq!(r.denial(owner(), vec![]).decision, Decision::Alert);
    }

    #[test]
    fn short_or_unknown_records_are_ignored() {
        assert!(MemfdEvent::parse(&record(2, 0, -13)[..EVENT_BYTES - 1]).is_none());
        assert!(MemfdEvent::parse(&record(9, 0, -13)).is_none());
    }
}
