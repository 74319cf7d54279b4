//! `bulwark proxy`: the identity-authorised mTLS proxy of one workload.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use bulwark_core::spiffe::SpiffeId;
use bulwark_mesh::{
    DecisionLog, FileSource, IdentityHandle, InboundRoute, Mode, OutboundRoute, PolicyFiles, Proxy,
    ProxyConfig, from_workload_api,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Get the SVID from this SPIFFE Workload API (e.g. unix:///run/bulwark/workload.sock).
    #[arg(long, env = "SPIFFE_ENDPOINT_SOCKET", conflicts_with = "svid")]
    workload_api: Option<String>,
    /// Or from PEM files: certificate chain (leaf first)...
    #[arg(long, requires_all = ["svid_key", "bundle"])]
    svid: Option<PathBuf>,
    /// ...its PKCS#8 key (mode 0600, owned by us)...
    #[arg(long)]
    svid_key: Option<PathBuf>,
    /// ...and the trust bundle's CA certificates.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// mTLS listener forwarding plaintext to the workload: LISTEN=UPSTREAM.
    #[arg(long, value_name = "LISTEN=UPSTREAM")]
    inbound: Vec<String>,
    /// Plaintext listener for the workload, carried over mTLS: LISTEN=REMOTE@SPIFFE_ID.
    #[arg(long, value_name = "LISTEN=REMOTE@SPIFFE_ID")]
    outbound: Vec<String>,
    /// AccessPolicy YAML files, enforced on inbound and outbound connections
    /// (none = deny everything); re-read when they change, a broken change
    /// keeps the previous policies.
    #[arg(long)]
    policy: Vec<PathBuf>,
    /// Parse HTTP/1.1 in both directions and authorise each request by method and path.
    #[arg(long)]
    http: bool,
    /// `enforce`, or `audit` to log denials without enforcing them.
    #[arg(long, default_value = "enforce", value_parser = ["enforce", "audit"])]
    mode: String,
    /// Decision log file (JSON lines); default stdout.
    #[arg(long)]
    decision_log: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = ProxyConfig {
        inbound: args
            .inbound
            .iter()
            .map(|s| inbound(s))
            .collect::<anyhow::Result<_>>()?,
        outbound: args
            .outbound
            .iter()
            .map(|s| outbound(s))
            .collect::<anyhow::Result<_>>()?,
        http: args.http,
        mode: if args.mode == "audit" {
            Mode::Audit
        } else {
            Mode::Enforce
        },
        handshake_timeout: Duration::from_secs(10),
    };
    if cfg.inbound.is_empty() && cfg.outbound.is_empty() {
        bail!("nothing to proxy: give at least one --inbound or --outbound");
    }
    let policy_files = PolicyFiles::new(args.policy.clone());
    let policies = Arc::new(ArcSwap::from_pointee(policy_files.load()?));
    let log = match &args.decision_log {
        Some(p) => DecisionLog::file(p).with_context(|| format!("opening {}", p.display()))?,
        None => DecisionLog::stdout(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let identity = identity(&args).await?;
        eprintln!("bulwark: proxy identity {}", identity.current().id);
        policy_files.watch(Arc::clone(&policies), Duration::from_secs(1));
        let proxy = Proxy::bind(cfg, identity, policies, Arc::new(log)).await?;
        for addr in proxy.local_addrs() {
            eprintln!("bulwark: listening on {addr}");
        }
        proxy.run(shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn identity(args: &Args) -> anyhow::Result<Arc<IdentityHandle>> {
    if let (Some(cert), Some(key), Some(bundle)) = (&args.svid, &args.svid_key, &args.bundle) {
        let source = FileSource {
            cert: cert.clone(),
            key: key.clone(),
            bundle: bundle.clone(),
        };
        let handle = IdentityHandle::new(source.load()?);
        source.watch(Arc::clone(&handle), Duration::from_secs(1));
        return Ok(handle);
    }
    let Some(endpoint) = &args.workload_api else {
        bail!(
            "no identity: give --workload-api unix:///PATH (or SPIFFE_ENDPOINT_SOCKET), or --svid/--svid-key/--bundle"
        );
    };
    Ok(from_workload_api(endpoint).await?)
}

fn inbound(spec: &str) -> anyhow::Result<InboundRoute> {
    let (listen, upstream) = spec
        .split_once('=')
        .with_context(|| format!("--inbound {spec:?}: expected LISTEN=UPSTREAM"))?;
    Ok(InboundRoute {
        listen: addr(listen, spec)?,
        upstream: addr(upstream, spec)?,
    })
}

fn outbound(spec: &str) -> anyhow::Result<OutboundRoute> {
    let err = || format!("--outbound {spec:?}: expected LISTEN=REMOTE@SPIFFE_ID");
    let (listen, rest) = spec.split_once('=').with_context(err)?;
    let (remote, id) = rest.split_once('@').with_context(err)?;
    let expect = SpiffeId::new(id).with_context(|| format!("--outbound {spec:?}"))?;
    Ok(OutboundRoute {
        listen: addr(listen, spec)?,
        remote: addr(remote, spec)?,
        expect,
    })
}

fn addr(text: &str, spec: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("{spec:?}: {text:?} is not an IP:PORT address"))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
