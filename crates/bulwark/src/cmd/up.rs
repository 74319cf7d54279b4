//! `bulwark up`: the whole platform on this machine from the embedded
//! default. Creates what is missing (trust-domain CA, SVIDs for the server
//! and this node; the server creates its first administrator), then starts
//! and supervises the control plane (API + dashboard), the SPIFFE Workload
//! API, the Protect-mode enforcement service and the agent (eBPF sensor +
//! nano-segmentation, Discover by default, reporting to the server over
//! mTLS) and, once the scanner token exists, the scanner of the images the
//! OCI hook queued (`bulwark scan-queue`). Each part is this binary's own
//! subcommand in a child process; this module only composes them and does
//! not reimplement any of them.

mod init;
mod scanner;
mod supervise;

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

pub use supervise::die_with_parent;
use supervise::{ChildSpec, Supervisor};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: super::DataDir,
    /// API and dashboard (plain HTTP: keep it on localhost). Port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: SocketAddr,
    /// The agents' mTLS listener. Port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8481")]
    mtls_listen: SocketAddr,
    /// The agent's Prometheus metrics (http://ADDR/metrics). Port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8482")]
    agent_metrics: SocketAddr,
    /// Trust domain of the CA created on first start.
    #[arg(long, default_value = "bulwark.local")]
    trust_domain: String,
    /// The SPIFFE Workload API socket.
    #[arg(long, default_value = "/run/bulwark/workload.sock")]
    workload_socket: PathBuf,
    /// Protect mode's control socket (the one `bulwark hook` talks to).
    #[arg(long, default_value = super::enforce::DEFAULT_SOCKET)]
    enforce_socket: PathBuf,
    /// Name of the enforcement service's pinned eBPF objects and state.
    #[arg(long, default_value = "default")]
    enforce_name: String,
    /// The agent reports (and heartbeats) at least this often.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    report_secs: u64,
    /// Lifetime of the server's and the node's SVIDs (s, m, h or d); they
    /// are renewed at half-life, and the server and agent pick the new
    /// ones up without a restart.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    svid_ttl: String,
    /// A part that dies is restarted; more than this many deaths within a
    /// minute stop the whole platform.
    #[arg(long, default_value_t = 3)]
    max_restarts: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stop = supervise::stop_on_signals()?;
    let listen = concrete(args.listen, "--listen")?;
    let mtls = concrete(args.mtls_listen, "--mtls-listen")?;
    let metrics = concrete(args.agent_metrics, "--agent-metrics")?;
    let ttl = bulwark_identity::entry::parse_ttl(Some(&args.svid_ttl), Duration::ZERO)
        .map_err(anyhow::Error::msg)
        .context("--svid-ttl")?;
    let ids = init::prepare(&args.data, &args.trust_domain, &args.svid_ttl)?;
    let mut renewal = init::Renewal::new(&args.data, &ids, ttl);
    let mut platform = Supervisor::new(stop, args.max_restarts);
    platform.start(server(&args, &ids, listen, mtls))?;
    platform.start(identity(&args))?;
    platform.start(enforce(&args))?;
    platform.start(agent(&args, &ids, mtls, metrics))?;
    // The server answers and the agent's sensor is attached (it serves
    // metrics only after): containers started from now on are watched.
    let limit = Duration::from_secs(120);
    if platform.wait_for_port("server", listen, limit, &mut || renewal.tick())?
        && platform.wait_for_port("agent", metrics, limit, &mut || renewal.tick())?
    {
        print_login(&args.data, listen, metrics);
        if let Some(token) = print_scanner(&args.data, listen) {
            platform.start(scan_queue(&args, listen, &token))?;
        }
    }
    platform.run(|| renewal.tick())
}

/// Port 0 becomes a free port now, so a restarted child binds the same one.
fn concrete(addr: SocketAddr, flag: &str) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let l = TcpListener::bind(addr).with_context(|| format!("{flag} {addr}: cannot bind"))?;
    l.local_addr()
        .with_context(|| format!("{flag} {addr}: no local address"))
}

fn print_login(data: &super::DataDir, listen: SocketAddr, metrics: SocketAddr) {
    let server = data.path.join("server");
    println!("bulwark up: the platform is running; stop it with Ctrl-C (SIGINT) or SIGTERM");
    println!("bulwark up: dashboard: http://{listen}/ui/");
    let password = server.join("initial-admin-password");
    if password.exists() {
        println!(
            "bulwark up: log in as admin with the password in {}",
            password.display()
        );
    } else {
        println!("bulwark up: log in as admin (the initial password file was removed)");
    }
    let token = server.join("admin.token");
    if token.exists() {
        println!(
            "bulwark up: API: http://{listen}/api/v1/ with `Authorization: Bearer $(cat {})`",
            token.display()
        );
    }
    println!(
        "bulwark up: the agent's alerts also go to {}; its metrics: http://{metrics}/metrics",
        alerts_file(data).display()
    );
}

/// The scanner token (made on first start) and how to push scans with it.
fn print_scanner(data: &super::DataDir, listen: SocketAddr) -> Option<PathBuf> {
    match scanner::ensure_token(&data.path.join("server"), listen) {
        Ok(Some(token)) => {
            println!(
                "bulwark up: images of containers started with `bulwark hook create-runtime --data-dir {}` are scanned and pushed to the server",
                data.path.display()
            );
            println!(
                "bulwark up: push other image scans with `bulwark scan IMAGE --server http://{listen} --token-file {}` (role scanner)",
                token.display()
            );
            Some(token)
        }
        Ok(None) => {
            eprintln!(
                "bulwark up: warning: no scanner token (admin.token was removed): queued images are not scanned"
            );
            None
        }
        Err(e) => {
            eprintln!("bulwark up: warning: {e:#}; queued images are not scanned");
            None
        }
    }
}

fn alerts_file(data: &super::DataDir) -> PathBuf {
    data.path.join("alerts").join("agent.jsonl")
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_owned()).collect()
}

fn path(p: &Path) -> OsString {
    p.as_os_str().to_owned()
}

fn server(args: &Args, ids: &init::Ids, listen: SocketAddr, mtls: SocketAddr) -> ChildSpec {
    let dir = &args.data.path;
    let argv = os(&[
        &"server",
        &"--data-dir",
        &path(dir),
        &"--listen",
        &listen.to_string(),
        &"--mtls-listen",
        &mtls.to_string(),
        &"--svid",
        &path(&ids.server.join("svid.pem")),
        &"--svid-key",
        &path(&ids.server.join("svid.key")),
        &"--bundle",
        &path(&ids.server.join("bundle.pem")),
        &"--agent-id",
        &format!("spiffe://{}/bulwark/node/*", args.trust_domain),
        &"--bootstrap-token-file",
        &path(&dir.join("server").join("admin.token")),
    ]);
    ChildSpec::new("server", argv)
}

fn identity(args: &Args) -> ChildSpec {
    let argv = os(&[
        &"identity",
        &"--data-dir",
        &path(&args.data.path),
        &"serve",
        &"--socket",
        &path(&args.workload_socket),
    ]);
    ChildSpec::new("identity", argv)
}

fn enforce(args: &Args) -> ChildSpec {
    let argv = os(&[
        &"enforce",
        &"serve",
        &"--data-dir",
        &path(&args.data.path),
        &"--socket",
        &path(&args.enforce_socket),
        &"--instance",
        &args.enforce_name,
        &"--alerts",
        &path(&args.data.path.join("alerts").join("enforce.jsonl")),
    ]);
    ChildSpec::new("enforce", argv)
}

/// The scanner of the hook's queue, pushing with the scanner token.
fn scan_queue(args: &Args, listen: SocketAddr, token: &Path) -> ChildSpec {
    let argv = os(&[
        &"scan-queue",
        &"--data-dir",
        &path(&args.data.path),
        &"--server",
        &format!("http://{listen}"),
        &"--token-file",
        &path(token),
    ]);
    ChildSpec::new("scanner", argv)
}

fn agent(args: &Args, ids: &init::Ids, mtls: SocketAddr, metrics: SocketAddr) -> ChildSpec {
    let argv = os(&[
        &"agent",
        &"--profiles",
        &"--data-dir",
        &path(&args.data.path),
        &"--alerts",
        &format!("file:{}", alerts_file(&args.data).display()),
        &"--server",
        &mtls.to_string(),
        &"--server-id",
        &ids.server_id,
        &"--node-svid",
        &path(&ids.node.join("svid.pem")),
        &"--node-svid-key",
        &path(&ids.node.join("svid.key")),
        &"--bundle",
        &path(&ids.node.join("bundle.pem")),
        &"--report-secs",
        &args.report_secs.to_string(),
        &"--metrics",
        &metrics.to_string(),
    ]);
    ChildSpec::new("agent", argv)
}
