//! The canary: proof that enforcement is live, by attempting what must be
//! refused. The service keeps a sandbox armed through the same code paths
//! as a container (a tmpfs holding a program no policy allows, under a
//! fanotify group; a cgroup v2 directory with the network programs and an
//! empty egress allowlist) and, at start-up and then periodically, forks a
//! child into that cgroup which tries to `connect` and to `execve` the
//! program. Both must fail with `EPERM` and both refusals must come back as
//! denials; anything else is a health alert.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bulwark_core::{Alert, ContainerId};

use crate::denial::{Class, Denial, DenialSink};

/// The container id canary denials are reported under.
pub const CANARY_ID: &str = "bulwark-canary";

/// A minimal x86-64 Linux ELF executable: `exit(0)`. If the canary ever
/// manages to run it, enforcement is off.
pub fn canary_program() -> Vec<u8> {
    let mut b = vec![0u8; 120];
    // ELF header
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little endian
    b[6] = 1; // version
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    let base: u64 = 0x40_0000;
    b[24..32].copy_from_slice(&(base + 120).to_le_bytes()); // entry
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    // PT_LOAD covering the whole file, read + execute
    b[64..68].copy_from_slice(&1u32.to_le_bytes());
    b[68..72].copy_from_slice(&5u32.to_le_bytes());
    b[80..88].copy_from_slice(&base.to_le_bytes()); // vaddr
    b[88..96].copy_from_slice(&base.to_le_bytes()); // paddr
    let code = [
        0xb8, 0x3c, 0, 0, 0, // mov eax, 60 (exit)
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
    ];
    let size = (120 + code.len()) as u64;
    b[96..104].copy_from_slice(&size.to_le_bytes()); // filesz
    b[104..112].copy_from_slice(&size.to_le_bytes()); // memsz
    b[112..120].copy_from_slice(&0x1000u64.to_le_bytes()); // align
    b.extend_from_slice(&code);
    b
}

/// Counts the canary's own denials, so a test refusal never becomes a
/// workload alert but is still proven to have been reported.
#[derive(Debug, Default)]
pub struct CanarySink {
    exec: AtomicU64,
    network: AtomicU64,
}

impl CanarySink {
    fn counts(&self) -> (u64, u64) {
        (
            self.exec.load(Ordering::Relaxed),
            self.network.load(Ordering::Relaxed),
        )
    }
}

impl DenialSink for CanarySink {
    fn record(&self, denial: &Denial) {
        match denial.class {
            Class::Process => self.exec.fetch_add(1, Ordering::Relaxed),
            _ => self.network.fetch_add(1, Ordering::Relaxed),
        };
    }
    fn health(&self, _: &Alert) {}
    // The canary is never a container the hook refuses.
    fn start_refused(&self, _: &crate::denial::StartRefusal) {}
}

/// Sends the canary's denials to the canary, everything else on.
pub struct Routing {
    pub canary: std::sync::Arc<CanarySink>,
    pub next: std::sync::Arc<dyn DenialSink>,
}

impl DenialSink for Routing {
    fn record(&self, denial: &Denial) {
        if denial.container.as_str() == CANARY_ID {
            self.canary.record(denial);
        } else {
            self.next.record(denial);
        }
    }
    fn health(&self, alert: &Alert) {
        self.next.health(alert);
    }
    fn start_refused(&self, refusal: &crate::denial::StartRefusal) {
        self.next.start_refused(refusal);
    }
}

/// What one canary run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CanaryReport {
    pub exec_refused: bool,
    pub connect_refused: bool,
    pub reported: bool,
    pub problems: Vec<String>,
}

impl CanaryReport {
    pub fn live(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The paths one run needs, prepared before forking.
pub struct Probe {
    pub program: PathBuf,
    pub cgroup_procs: PathBuf,
}

/// Child exit code bits (offset so that `exit(0)` of the canary program,
/// which would mean it ran, is distinguishable).
const BASE: i32 = 64;
const CONNECT_NOT_REFUSED: i32 = 1;
const EXEC_NOT_REFUSED: i32 = 2;
const CGROUP_FAILED: i32 = 4;

/// Run the attempts once and check the reports arrived.
pub fn run(probe: &Probe, sink: &CanarySink, lock: &Mutex<()>) -> CanaryReport {
    let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
    let before = sink.counts();
    let mut report = CanaryReport::default();
    let code = match attempt(probe) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(format!("canary could not run: {e}"));
            return report;
        }
    };
    if code == 0 {
        report
            .problems
            .push("the canary program RAN: exec enforcement is not live".into());
        return report;
    }
    let bits = code - BASE;
    if !(0..8).contains(&bits) {
        report
            .problems
            .push(format!("canary child ended oddly (status {code})"));
        return report;
    }
    if bits & CGROUP_FAILED != 0 {
        report
            .problems
            .push("canary could not join its cgroup".into());
    }
    report.connect_refused = bits & CONNECT_NOT_REFUSED == 0;
    report.exec_refused = bits & EXEC_NOT_REFUSED == 0;
    if !report.connect_refused {
        report.problems.push(
            "a connect outside the allowlist was not refused: network enforcement is not live"
                .into(),
        );
    }
    if !report.exec_refused {
        report
            .problems
            .push("an exec outside the allowlist failed, but not with EPERM".into());
    }
    // The exec refusal is reported before the kernel is answered; the
    // network one travels through the ring buffer.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = sink.counts();
        let got_exec = now.0 > before.0 || !report.exec_refused;
        let got_net = now.1 > before.1 || !report.connect_refused;
        if got_exec && got_net {
            report.reported = true;
            break;
        }
        if Instant::now() > deadline {
            report
                .problems
                .push("a refusal was not reported (alerts/audit path broken)".into());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    report
}

fn attempt(probe: &Probe) -> Result<i32, String> {
    let program =
        CString::new(probe.program.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    let procs = CString::new(probe.cgroup_procs.as_os_str().as_encoded_bytes())
        .map_err(|e| e.to_string())?;
    let argv = [program.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    // SAFETY: fork in a multithreaded process; the child only makes
    // async-signal-safe calls on memory prepared above, then _exit/execve.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { libc::_exit(child(&procs, &program, &argv, &envp)) }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err("waitpid failed".into());
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!("canary child killed (status {status})"))
    }
}

fn child(
    procs: &CString,
    program: &CString,
    argv: &[*const libc::c_char; 2],
    envp: &[*const libc::c_char; 1],
) -> i32 {
    let mut bits = 0;
    // SAFETY: async-signal-safe calls only (we are a forked child).
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
            return BASE | CGROUP_FAILED | CONNECT_NOT_REFUSED | EXEC_NOT_REFUSED;
        }
        libc::close(fd);
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = 9u16.to_be();
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let rc = libc::connect(
            s,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc == 0 || *libc::__errno_location() != libc::EPERM {
            bits |= CONNECT_NOT_REFUSED;
        }
        libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        if *libc::__errno_location() != libc::EPERM {
            bits |= EXEC_NOT_REFUSED;
        }
    }
    BASE | bits
}

/// A tmpfs for the canary program, mounted at `dir` (host mount
/// namespace), unmounted on drop.
#[derive(Debug)]
pub struct CanaryFs {
    pub dir: PathBuf,
}

impl CanaryFs {
    pub fn mount(dir: &Path) -> std::io::Result<CanaryFs> {
        std::fs::create_dir_all(dir)?;
        let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
        nix::mount::mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("size=1m,mode=700"),
        )
        .map_err(std::io::Error::from)?;
        let program = dir.join("canary");
        std::fs::write(&program, canary_program())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
        Ok(CanaryFs {
            dir: dir.to_owned(),
        })
    }
}

impl Drop for CanaryFs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The canary's id as a container id.
pub fn canary_id() -> Result<ContainerId, bulwark_core::IdError> {
    ContainerId::new(CANARY_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_program_is_a_valid_executable_when_nothing_enforces() {
        // If the program were malformed, exec would fail with ENOEXEC and a
        // broken canary could pass for a refused one; run it for real.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("canary");
        std::fs::write(&p, canary_program()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new(&p).status().unwrap();
        assert!(status.success());
    }
}
