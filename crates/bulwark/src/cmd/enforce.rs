//! `bulwark enforce`: the Protect-mode enforcement service of a node. The
//! OCI hook (`bulwark hook`) registers each container with it before the
//! container's first instruction; it arms the container's policy in the
//! kernel and reports every refusal as an alert and an audit record.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bulwark_alert::{JsonLinesSink, Router, Sink, Throttle, ThrottleConfig};
use bulwark_audit::AuditLog;
use bulwark_core::SystemClock;
use bulwark_enforce::control::{self, Request, Response, Server};
use bulwark_enforce::enforcer::{Config, Enforcer};
use bulwark_enforce::from_profile::Options;
use bulwark_enforce::net::resolve::SystemLookup;
use bulwark_enforce::policy::EnforcePolicy;
use bulwark_enforce::sink::Reporter;
use bulwark_enforce::store::{PolicyDir, PolicySource, StoreError, Subject};
use nix::sys::signal::{SigSet, Signal};

/// Default control socket.
pub const DEFAULT_SOCKET: &str = "/run/bulwark/enforce.sock";
/// Default holder socket.
pub const DEFAULT_HOLDER: &str = "/run/bulwark/enforce-hold.sock";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Run the service (until SIGINT/SIGTERM).
    Serve(ServeArgs),
    /// Keep the fanotify groups of a running service alive, and refuse
    /// (or allow, per policy) while it is gone. Run it as its own unit.
    Hold {
        #[arg(long, default_value = DEFAULT_HOLDER)]
        socket: PathBuf,
    },
    /// Ask a running service what it protects and which backends it uses.
    Status {
        #[arg(long, default_value = DEFAULT_SOCKET)]
        socket: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Control socket the hook talks to.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Directories of EnforcementPolicy / WorkloadProfile documents, searched
    /// in order (default: DATA_DIR/policies, then DATA_DIR/profiles).
    #[arg(long = "policies")]
    policies: Vec<PathBuf>,
    /// Names this service's pinned eBPF objects (/sys/fs/bpf/bulwark/NAME)
    /// and state; a restarted service with the same name takes over.
    #[arg(long, default_value = "default")]
    instance: String,
    #[arg(long, default_value = "/sys/fs/bpf")]
    bpffs: PathBuf,
    /// Where registrations are kept across restarts
    /// (default: /run/bulwark/enforce/INSTANCE).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Alerts as JSON lines: a file, or `-` for stdout.
    #[arg(long, default_value = "-")]
    alerts: String,
    /// Refuse every read and write a learned profile did not see (instead of
    /// protecting secrets and the image's code only).
    #[arg(long)]
    strict_files: bool,
    /// Socket of `bulwark enforce hold`: it keeps the fanotify groups (and
    /// each policy's fail-open/fail-closed choice) while this service is down.
    #[arg(long)]
    holder: Option<PathBuf>,
    /// Seconds between self-tests (a refused connect and a refused exec in
    /// a sandbox armed like a container; a failure is a health alert).
    #[arg(long, default_value_t = 60)]
    canary_every: u64,
    /// On exit, tear everything down (detach programs, remove pins) instead
    /// of leaving network enforcement in place for the next start.
    #[arg(long)]
    uninstall_on_exit: bool,
    #[command(flatten)]
    data: super::DataDir,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Serve(a) => serve(a),
        Sub::Status { socket } => status(&socket),
        Sub::Hold { socket } => hold(&socket),
    }
}

/// Several policy directories, searched in order.
struct Chain(Vec<PolicyDir>);

impl PolicySource for Chain {
    fn policy_for(&self, subject: &Subject) -> Result<Option<EnforcePolicy>, StoreError> {
        for dir in &self.0 {
            if let Some(p) = dir.policy_for(subject)? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Block the stop signals before any thread starts, then wait for them.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("blocking SIGINT/SIGTERM")?;

    let dirs = if args.policies.is_empty() {
        vec![args.data.path.join("policies"), args.data.profiles()]
    } else {
        args.policies.clone()
    };
    let options = Options {
        strict_files: args.strict_files,
        ..Options::default()
    };
    let source = Chain(
        dirs.into_iter()
            .map(|d| PolicyDir::new(d, options.clone()))
            .collect(),
    );
    let reporter = Arc::new(reporter(&args)?);
    let config = Config {
        state_dir: args
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run/bulwark/enforce").join(&args.instance)),
        instance: args.instance.clone(),
        bpffs: args.bpffs.clone(),
        holder: args.holder.clone(),
        canary_every: Some(Duration::from_secs(args.canary_every.max(1))),
    };
    let enforcer = Arc::new(
        Enforcer::start(
            config,
            Arc::new(source),
            reporter.clone(),
            Arc::new(SystemLookup),
        )
        .context("starting the enforcement service")?,
    );
    let b = enforcer.backends();
    eprintln!(
        "bulwark enforce: exec/file backend {}, network backend {}, BPF-LSM {}",
        b.exec, b.network, b.bpf_lsm
    );
    let canary = enforcer.canary();
    if canary.live() {
        eprintln!("bulwark enforce: self-test passed (refused connect and exec were reported)");
    } else {
        eprintln!(
            "bulwark enforce: SELF-TEST FAILED: {}",
            canary.problems.join("; ")
        );
    }
    for (id, result) in enforcer.recover() {
        match result {
            Ok(p) if p.protected => eprintln!("bulwark enforce: {id}: re-armed after restart"),
            Ok(_) => eprintln!("bulwark enforce: {id}: gone, cleaned up"),
            Err(e) => eprintln!("bulwark enforce: {id}: could not re-arm: {e}"),
        }
    }
    let server = Server::start(&args.socket, enforcer.clone(), Duration::from_secs(1))
        .context("starting the control socket")?;
    eprintln!("bulwark enforce: listening on {}", server.path().display());
    let ticker = reporter.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            ticker.tick();
        }
    });
    let signal = signals.wait().context("waiting for a signal")?;
    eprintln!("bulwark enforce: {signal:?}, stopping");
    drop(server);
    if args.uninstall_on_exit {
        enforcer.uninstall();
    }
    Ok(ExitCode::SUCCESS)
}

fn hold(socket: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("blocking SIGINT/SIGTERM")?;
    let mut holder = bulwark_enforce::holder::Holder::bind(socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    eprintln!("bulwark enforce hold: listening on {}", socket.display());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stopping.clone();
    std::thread::spawn(move || {
        let _ = signals.wait();
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    holder.run(&|| stopping.load(std::sync::atomic::Ordering::Relaxed));
    Ok(ExitCode::SUCCESS)
}

fn reporter(args: &ServeArgs) -> anyhow::Result<Reporter> {
    let audit_path = args.data.audit_log();
    let audit = AuditLog::open(&audit_path, Arc::new(SystemClock))
        .with_context(|| format!("opening the audit log {}", audit_path.display()))?;
    let sink: Box<dyn Sink> = if args.alerts == "-" {
        Box::new(JsonLinesSink::stdout())
    } else {
        let path = PathBuf::from(&args.alerts);
        Box::new(
            JsonLinesSink::file(&path)
                .with_context(|| format!("alerts file {}", path.display()))?,
        )
    };
    let throttle = Throttle::new(ThrottleConfig::default(), Arc::new(SystemClock));
    Ok(Reporter::new(
        Some(audit),
        Router::new(throttle, vec![sink]),
    ))
}

fn status(socket: &std::path::Path) -> anyhow::Result<ExitCode> {
    match control::call(socket, &Request::Status, Duration::from_secs(10))? {
        Response::Status {
            backends,
            containers,
        } => {
            let out = serde_json::json!({ "backends": backends, "containers": containers });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        other => anyhow::bail!("unexpected answer from {}: {other:?}", socket.display()),
    }
}
