//! What an open is for. fanotify's `FAN_OPEN_PERM` does not say whether the
//! file is being opened for reading or writing, but the opening thread is
//! blocked inside the syscall while we decide, so `/proc/TID/syscall` shows
//! its number and arguments, including the open flags. Registers of a blocked
//! thread cannot be changed by its siblings, so this is not a TOCTOU.
//!
//! `openat2` passes its flags in user memory, which a sibling thread *could*
//! rewrite after the kernel copied it; for it (and anything unrecognised) the
//! most demanding intent, read and write, is assumed.

use crate::policy::Access;

/// Number and the six argument registers of a blocked syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallArgs {
    pub nr: i64,
    pub args: [u64; 6],
}

/// Parse `/proc/TID/syscall`: `NR ARG1 .. ARG6 SP PC` in hex, or `running`
/// / `-1 SP PC` when the thread is not in a syscall.
pub fn parse_syscall(text: &str) -> Option<SyscallArgs> {
    let mut fields = text.split_whitespace();
    let nr: i64 = fields.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for slot in &mut args {
        let f = fields.next()?;
        *slot = u64::from_str_radix(f.trim_start_matches("0x"), 16).ok()?;
    }
    Some(SyscallArgs { nr, args })
}

/// The access an open asks for, from its syscall.
pub fn access_of(call: Option<SyscallArgs>) -> Access {
    let Some(call) = call else {
        return Access::READ_WRITE;
    };
    let flags = match call.nr {
        libc::SYS_open => call.args[1],
        libc::SYS_openat => call.args[2],
        libc::SYS_open_by_handle_at => call.args[2],
        libc::SYS_creat => return Access::WRITE,
        libc::SYS_execve | libc::SYS_execveat | libc::SYS_uselib => return Access::READ,
        _ => return Access::READ_WRITE,
    };
    access_of_flags(flags)
}

fn access_of_flags(flags: u64) -> Access {
    let flags = flags as i32;
    let mut access = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => Access::READ,
        libc::O_WRONLY => Access::WRITE,
        _ => Access::READ_WRITE,
    };
    if flags & libc::O_TRUNC != 0 {
        access.write = true;
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openat_flags_come_from_the_third_argument() {
        let line = format!(
            "{} 0xffffff9c 0x7ffd0000 0x{:x} 0x0 0x0 0x0 0x7ffd 0x7f00",
            libc::SYS_openat,
            libc::O_WRONLY | libc::O_CREAT
        );
        assert_eq!(access_of(parse_syscall(&line)), Access::WRITE);
        let ro = format!(
            "{} 0xffffff9c 0x7ffd0000 0x0 0x0 0x0 0x0 0x1 0x2",
            libc::SYS_openat
        );
        assert_eq!(access_of(parse_syscall(&ro)), Access::READ);
    }

    #[test]
    fn truncating_read_only_open_is_a_write() {
        let line = format!(
            "{} 0x1000 0x{:x} 0x0 0x0 0x0 0x0 0x1 0x2",
            libc::SYS_open,
            libc::O_TRUNC
        );
        assert_eq!(access_of(parse_syscall(&line)), Access::READ_WRITE);
    }

    #[test]
    fn openat2_and_unknown_states_assume_read_write() {
        let line = format!(
            "{} 0x3 0x1000 0x2000 0x18 0x0 0x0 0x1 0x2",
            libc::SYS_openat2
        );
        assert_eq!(access_of(parse_syscall(&line)), Access::READ_WRITE);
        assert_eq!(access_of(parse_syscall("running")), Access::READ_WRITE);
        assert_eq!(
            access_of(parse_syscall("-1 0x7ffd 0x7f00")),
            Access::READ_WRITE
        );
        assert_eq!(access_of(parse_syscall("257 0x1 zz")), Access::READ_WRITE);
    }
}
