//! `vm.memfd_noexec = 2` in a container's PID namespace: memory files
//! (`memfd_create`) can never be executed there, so fileless execution is
//! refused by the kernel. The setting is per PID namespace and inherited by
//! namespaces created below it, and a child namespace cannot lower it.
//!
//! The sysctl applies to the PID namespace of the writer, so a helper
//! process is forked into the container's namespace to write it (and read
//! it back).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

#[derive(Debug, thiserror::Error)]
pub enum MemfdError {
    #[error("container init {pid}: {source}")]
    Namespace {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "container init {pid} shares the host's PID namespace; vm.memfd_noexec would apply to the whole host"
    )]
    HostNamespace { pid: u32 },
    #[error("setting vm.memfd_noexec in the PID namespace of {pid}: {step}")]
    Helper { pid: u32, step: &'static str },
}

const STEPS: [&str; 6] = [
    "done",
    "setns(CLONE_NEWPID) failed",
    "opening /proc/sys/vm/memfd_noexec failed (kernel older than 6.3?)",
    "writing 2 was refused",
    "the value did not read back as 2",
    "fork failed",
];

/// Set `vm.memfd_noexec = 2` in the PID namespace of `pid`.
pub fn deny_memfd_exec(pid: u32) -> Result<(), MemfdError> {
    let ns_path = format!("/proc/{pid}/ns/pid");
    let ns =
        std::fs::File::open(&ns_path).map_err(|source| MemfdError::Namespace { pid, source })?;
    let theirs = ns
        .metadata()
        .map_err(|source| MemfdError::Namespace { pid, source })?;
    let ours = std::fs::metadata("/proc/self/ns/pid")
        .map_err(|source| MemfdError::Namespace { pid, source })?;
    if theirs.ino() == ours.ino() && theirs.dev() == ours.dev() {
        return Err(MemfdError::HostNamespace { pid });
    }
    let sysctl = CString::new("/proc/sys/vm/memfd_noexec")
        .map_err(|_| MemfdError::Helper { pid, step: "path" })?;
    let code = run_helper(ns.as_raw_fd(), &sysctl);
    match code {
        0 => Ok(()),
        c => Err(MemfdError::Helper {
            pid,
            step: STEPS.get(c as usize).copied().unwrap_or("helper crashed"),
        }),
    }
}

/// Fork a child that joins the PID namespace `ns_fd` and forks again (only
/// the grandchild is *in* the namespace), which writes and reads back the
/// sysctl. Between fork and `_exit` only async-signal-safe calls are made.
fn run_helper(ns_fd: i32, sysctl: &CString) -> i32 {
    // SAFETY: fork in a multithreaded process; the child calls only
    // async-signal-safe functions (setns, fork, open, write, read, close,
    // waitpid, _exit) on memory prepared before the fork.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return 5;
    }
    if child == 0 {
        // SAFETY: see above.
        unsafe { libc::_exit(in_namespace(ns_fd, sysctl)) }
    }
    wait_code(child)
}

fn in_namespace(ns_fd: i32, sysctl: &CString) -> i32 {
    // SAFETY: async-signal-safe calls only (we are a forked child).
    let grandchild = unsafe {
        if libc::setns(ns_fd, libc::CLONE_NEWPID) != 0 {
            return 1;
        }
        libc::fork()
    };
    if grandchild < 0 {
        return 5;
    }
    if grandchild == 0 {
        // SAFETY: async-signal-safe exit of the grandchild.
        unsafe { libc::_exit(write_and_check(sysctl)) }
    }
    wait_code(grandchild)
}

fn write_and_check(sysctl: &CString) -> i32 {
    // SAFETY: async-signal-safe calls on a valid C string and stack buffers.
    unsafe {
        let fd = libc::open(sysctl.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return 2;
        }
        if libc::write(fd, b"2\n".as_ptr().cast(), 2) != 2 {
            return 3;
        }
        let mut buf = [0u8; 4];
        let n = libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
        libc::close(fd);
        if n < 1 || buf[0] != b'2' {
            return 4;
        }
    }
    0
}

fn wait_code(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 6;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        6
    }
}
