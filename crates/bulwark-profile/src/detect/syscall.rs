//! Rules on ptrace, mount and kernel module loads.

use bulwark_core::{Event, EventKind};

use super::catalog::{CONTAINER_ESCAPE, KERNEL_MODULE, PTRACE};
use super::{Context, Finding};

const PTRACE_POKETEXT: i64 = 4;
const PTRACE_POKEDATA: i64 = 5;
const PTRACE_POKEUSER: i64 = 6;
const PTRACE_SETREGS: i64 = 13;
const PTRACE_ATTACH: i64 = 16;
const PTRACE_SETREGSET: i64 = 0x4205;
const PTRACE_SEIZE: i64 = 0x4206;

const BLOCK_DEVICE_PREFIXES: &[&str] = &[
    "/dev/sd",
    "/dev/vd",
    "/dev/xvd",
    "/dev/hd",
    "/dev/nvme",
    "/dev/mapper/",
    "/dev/dm-",
    "/dev/mmcblk",
    "/dev/root",
];

pub fn detect(event: &Event, ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let who = ctx.who(event);
    match &event.kind {
        EventKind::Ptrace {
            target_pid,
            request,
            ..
        } => {
            let intrusive = matches!(
                *request,
                PTRACE_ATTACH
                    | PTRACE_SEIZE
                    | PTRACE_POKETEXT
                    | PTRACE_POKEDATA
                    | PTRACE_POKEUSER
                    | PTRACE_SETREGS
                    | PTRACE_SETREGSET
            );
            if intrusive && *target_pid != event.process.tgid {
                out.push(Finding::new(
                    &PTRACE,
                    target_pid.to_string(),
                    format!("{who} ptraces process {target_pid} (request {request})"),
                ));
            }
        }
        EventKind::Mount {
            source,
            target,
            fs_type,
            ..
        } => {
            let block = BLOCK_DEVICE_PREFIXES.iter().any(|p| source.starts_with(p));
            let cgroup_v1 = fs_type == "cgroup";
            if block || cgroup_v1 {
                out.push(Finding::new(
                    &CONTAINER_ESCAPE,
                    source.clone(),
                    format!("{who} mounts {source} ({fs_type}) on {target}"),
                ));
            }
        }
        EventKind::ModuleLoad { name, .. } => {
            out.push(Finding::new(
                &KERNEL_MODULE,
                name.clone(),
                format!("{who} loads kernel module {name:?}"),
            ));
        }
        _ => {}
    }
}
