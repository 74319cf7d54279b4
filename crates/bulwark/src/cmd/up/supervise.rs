//! Runs the platform's parts as child processes: a part that dies is
//! reported and restarted, one that keeps dying stops everything with an
//! error; SIGINT/SIGTERM stop every part (SIGTERM, then SIGKILL after a
//! grace period) in the reverse order of their start.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// How long a stopping part may take before it is killed.
const GRACE: Duration = Duration::from_secs(30);
/// Deaths counted against `max_restarts` within this window.
const WINDOW: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// One part: a name and the arguments of this binary that run it.
pub struct ChildSpec {
    name: &'static str,
    argv: Vec<OsString>,
}

impl ChildSpec {
    pub fn new(name: &'static str, argv: Vec<OsString>) -> ChildSpec {
        ChildSpec { name, argv }
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("locating the bulwark binary")?;
        // Its own process group: a Ctrl-C reaches only the supervisor,
        // which stops the parts in order (the agent's last report first).
        // `--up-parent`: the part stops when this process dies, even by
        // SIGKILL (see `die_with_parent`).
        Command::new(exe)
            .arg("--up-parent")
            .arg(std::process::id().to_string())
            .args(&self.argv)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the {}", self.name))
    }
}

struct Running {
    spec: ChildSpec,
    child: Child,
    deaths: Vec<Instant>,
}

pub struct Supervisor {
    stop: Arc<AtomicBool>,
    max_restarts: usize,
    parts: Vec<Running>,
}

/// SIGINT and SIGTERM set the returned flag. Handlers, not a blocked
/// mask: children inherit the signal mask across exec, and must not start
/// with SIGTERM blocked.
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the signal runtime")?;
    let (mut int, mut term) = {
        let _guard = rt.enter();
        let int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        (int, term)
    };
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("bulwark-up-signals".into())
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
            flag.store(true, Ordering::Relaxed);
        })
        .context("starting the signal thread")?;
    Ok(stop)
}

impl Supervisor {
    pub fn new(stop: Arc<AtomicBool>, max_restarts: usize) -> Supervisor {
        Supervisor {
            stop,
            max_restarts,
            parts: Vec::new(),
        }
    }

    pub fn start(&mut self, spec: ChildSpec) -> anyhow::Result<()> {
        let child = match spec.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.shutdown();
                return Err(e);
            }
        };
        self.parts.push(Running {
            spec,
            child,
            deaths: Vec::new(),
        });
        Ok(())
    }

    /// Waits until `addr` accepts connections (true), or a stop was asked
    /// (false); parts that die meanwhile are handled as in `run`, `tick`
    /// runs on every poll.
    pub fn wait_for_port(
        &mut self,
        name: &str,
        addr: SocketAddr,
        limit: Duration,
        tick: &mut dyn FnMut(),
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + limit;
        loop {
            tick();
            if self.stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if TcpStream::connect_timeout(&addr, POLL).is_ok() {
                return Ok(true);
            }
            if let Err(e) = self.check() {
                self.shutdown();
                return Err(e);
            }
            if Instant::now() > deadline {
                self.shutdown();
                anyhow::bail!(
                    "the {name} did not listen on {addr} within {} s; stopped the platform",
                    limit.as_secs()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Supervises until SIGINT/SIGTERM (success) or a part that keeps
    /// dying (error), calling `tick` on every poll; every part is stopped
    /// either way.
    pub fn run(mut self, mut tick: impl FnMut()) -> anyhow::Result<ExitCode> {
        while !self.stop.load(Ordering::Relaxed) {
            tick();
            if let Err(e) = self.check() {
                self.shutdown();
                return Err(e);
            }
            std::thread::sleep(POLL);
        }
        println!("bulwark up: stopping");
        self.shutdown();
        println!("bulwark up: stopped");
        Ok(ExitCode::SUCCESS)
    }

    /// Restarts dead parts; an error when one died too often.
    fn check(&mut self) -> anyhow::Result<()> {
        for part in &mut self.parts {
            let status = match part.child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => anyhow::bail!("waiting for the {}: {e}", part.spec.name),
            };
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = Instant::now();
            part.deaths.retain(|t| now.duration_since(*t) < WINDOW);
            part.deaths.push(now);
            let name = part.spec.name;
            if part.deaths.len() > self.max_restarts {
                anyhow::bail!(
                    "the {name} died {} times within {} s (last: {}); stopped the platform",
                    part.deaths.len(),
                    WINDOW.as_secs(),
                    describe(status)
                );
            }
            eprintln!("bulwark up: the {name} {}; restarting it", describe(status));
            part.child = part.spec.spawn()?;
        }
        Ok(())
    }

    /// SIGTERM to every part, newest first; SIGKILL after the grace period.
    fn shutdown(&mut self) {
        for part in self.parts.iter_mut().rev() {
            stop_child(part.spec.name, &mut part.child);
        }
    }
}

fn stop_child(name: &str, child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "bulwark up: the {name} did not stop within {} s; killing it",
        GRACE.as_secs()
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// In a part started by `bulwark up` (pid `parent`): asks the kernel for
/// SIGTERM when the parent dies, then checks that the parent is still the
/// one that started us (it may have died between our fork and the prctl,
/// and then no signal would ever come). The parts are spawned from `up`'s
/// main thread, which lives as long as `up` does (the parent-death signal
/// follows the thread that forked).
pub fn die_with_parent(parent: u32) -> anyhow::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)
        .context("asking for a signal when bulwark up dies (prctl PR_SET_PDEATHSIG)")?;
    let ppid = nix::unistd::getppid().as_raw();
    if u32::try_from(ppid).ok() != Some(parent) {
        anyhow::bail!(
            "bulwark up (pid {parent}) is gone (our parent is now pid {ppid}); not starting"
        );
    }
    Ok(())
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("exited ({status})"),
    }
}
