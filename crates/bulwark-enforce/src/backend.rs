//! Which enforcement backends this kernel offers, detected at start-up.
//!
//! Exec and file enforcement could run as BPF-LSM programs
//! (`bprm_check_security`, `file_open`) where the kernel allows loading
//! them; the project's machines refuse them (EPERM even for a no-op LSM
//! program), so fanotify permission events are the backend in use and the
//! one tested. The probe loads a no-op LSM program and reports the outcome.

use serde::{Deserialize, Serialize};

static PROBE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lsm_probe.bpf.o"));

/// What start-up found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backends {
    /// Always `fanotify`: the exec/file backend in use.
    pub exec: String,
    /// Whether a BPF-LSM program could be loaded, and if not why.
    pub bpf_lsm: String,
    /// `cgroup-bpf`: the network backend in use.
    pub network: String,
}

impl Backends {
    pub fn detect() -> Backends {
        Backends {
            exec: "fanotify".into(),
            bpf_lsm: probe_bpf_lsm(),
            network: "cgroup-bpf".into(),
        }
    }
}

fn probe_bpf_lsm() -> String {
    let lsms = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    let mut obj = match aya::Ebpf::load(PROBE) {
        Ok(o) => o,
        Err(e) => return format!("unavailable: {e}"),
    };
    let btf = match aya::Btf::from_sys_fs() {
        Ok(b) => b,
        Err(e) => return format!("unavailable: no kernel BTF: {e}"),
    };
    let Some(prog) = obj.program_mut("bulwark_lsm_probe") else {
        return "unavailable: probe program missing".into();
    };
    let lsm: &mut aya::programs::Lsm = match prog.try_into() {
        Ok(l) => l,
        Err(e) => return format!("unavailable: {e}"),
    };
    match lsm.load("bprm_check_security", &btf) {
        Ok(()) => "available (not used: the fanotify backend is the tested one)".into(),
        Err(e) => {
            let listed = if lsms.split(',').any(|l| l.trim() == "bpf") {
                "bpf is in the active LSM list"
            } else {
                "bpf is not in the active LSM list (or securityfs is not mounted)"
            };
            format!("refused by the kernel ({listed}): {e}")
        }
    }
}
