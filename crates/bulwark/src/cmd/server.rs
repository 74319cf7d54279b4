//! `bulwark server`: the control plane (HTTP API with RBAC and audit,
//! the agents' mTLS link, alert routing, compliance report).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bulwark_mesh::{FileSource, IdentityHandle};
use bulwark_server::app::{App, Settings};
use bulwark_server::db::DbSpec;

/// How often the SVID files are checked for a renewal.
const SVID_POLL: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: super::DataDir,
    /// Plain-HTTP listener for the API and dashboard (keep it on localhost,
    /// or behind a TLS terminator). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: String,
    /// mTLS listener for agents and SVID-holding clients (needs --svid,
    /// --svid-key and --bundle).
    #[arg(long, requires_all = ["svid", "svid_key", "bundle"])]
    mtls_listen: Option<String>,
    /// The server's X.509-SVID certificate chain (PEM, leaf first)...
    #[arg(long)]
    svid: Option<PathBuf>,
    /// ...its PKCS#8 key (mode 0600)...
    #[arg(long)]
    svid_key: Option<PathBuf>,
    /// ...and the trust bundle's CA certificates (PEM): client certificates
    /// must chain to these.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Storage: a `postgres://` URL, or a SQLite file (default:
    /// DATA_DIR/server/control.db).
    #[arg(long, env = "BULWARK_SERVER_DB")]
    db: Option<String>,
    /// SPIFFE IDs bound to the `agent` role at start (`.../*` for every ID
    /// below a path), e.g. spiffe://example.org/bulwark/node/*.
    #[arg(long = "agent-id")]
    agent_ids: Vec<String>,
    /// Flag a node that has not reported for this many seconds.
    #[arg(long, default_value_t = 60)]
    stale_after_secs: u64,
    /// Alert sink: NAME=webhook:URL, NAME=syslog:SOCKET or NAME=file:PATH
    /// (routes send to sinks by NAME).
    #[arg(long = "sink")]
    sinks: Vec<String>,
    /// On first start, the first administrator's name.
    #[arg(long, default_value = "admin")]
    admin: String,
    /// On first start, also write an admin API token to this file (0600).
    #[arg(long)]
    bootstrap_token_file: Option<PathBuf>,
    /// Largest API request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    body_limit: usize,
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let dir = args.data.path.join("server");
    let mut s = Settings::new(&dir);
    if let Some(db) = &args.db {
        s.db = DbSpec::parse(db);
    }
    s.stale_after = Duration::from_secs(args.stale_after_secs.max(1));
    s.body_limit = args.body_limit;
    s.agent_ids.clone_from(&args.agent_ids);
    for text in &args.sinks {
        let (name, spec) =
            bulwark_server::dispatch::parse_sink(text).map_err(anyhow::Error::msg)?;
        s.sinks.insert(name, spec);
    }
    for id in &s.agent_ids {
        if !id.starts_with("spiffe://") {
            anyhow::bail!("--agent-id {id:?}: expected a spiffe:// ID (or a prefix ending in /*)");
        }
    }
    Ok(s)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = settings(&args)?;
    let identity = match (&args.svid, &args.svid_key, &args.bundle) {
        (Some(cert), Some(key), Some(bundle)) => {
            let source = FileSource {
                cert: cert.clone(),
                key: key.clone(),
                bundle: bundle.clone(),
            };
            let handle = IdentityHandle::new(source.load().context("the server's SVID")?);
            Some((source, handle))
        }
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(args, settings, identity))
}

async fn serve(
    args: Args,
    settings: Settings,
    identity: Option<(FileSource, Arc<IdentityHandle>)>,
) -> anyhow::Result<ExitCode> {
    let app = App::open(settings).await?;
    let boot = bulwark_server::bootstrap::first_start(
        &app,
        &args.admin,
        args.bootstrap_token_file.as_deref(),
    )
    .await?;
    let router = bulwark_server::api::router(Arc::clone(&app));
    let http = bulwark_server::serve::bind(&args.listen).await?;
    let http_addr = http.local_addr().context("the HTTP listener's address")?;
    let mut tasks = tokio::task::JoinSet::new();
    let r = router.clone();
    tasks.spawn(async move {
        bulwark_server::serve::serve_http(http, r)
            .await
            .context("serving HTTP")
    });
    println!(
        "bulwark server: API on http://{http_addr}/api/v1/ (OpenAPI at http://{http_addr}{})",
        bulwark_server::api::OPENAPI_PATH
    );
    if let (Some(addr), Some((source, identity))) = (&args.mtls_listen, identity) {
        // A renewed SVID (rewritten files) is used from the next handshake on.
        source.watch(Arc::clone(&identity), SVID_POLL);
        let listener = bulwark_server::serve::bind(addr).await?;
        let mtls_addr = listener
            .local_addr()
            .context("the mTLS listener's address")?;
        println!(
            "bulwark server: mTLS on https://{mtls_addr}/ as {}",
            identity.current().id
        );
        let mtls_app = Arc::clone(&app);
        tasks.spawn(async move {
            bulwark_server::serve::serve_mtls(listener, router, identity, mtls_app)
                .await
                .context("serving mTLS")
        });
    }
    println!("bulwark server: dashboard on http://{http_addr}/ui/");
    if let Some((name, file)) = &boot.admin {
        println!(
            "bulwark server: first start: log in as {name} with the password in {}",
            file.display()
        );
    }
    if let Some(file) = &boot.token_file {
        println!(
            "bulwark server: admin API token written to {}",
            file.display()
        );
    }
    tasks.spawn(async move {
        bulwark_server::serve::sweep_stale_nodes(app).await;
        Ok(())
    });
    tokio::select! {
        done = tasks.join_next() => match done {
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(anyhow::anyhow!("a server task failed: {e}")),
            _ => Ok(ExitCode::SUCCESS),
        },
        () = super::proxy::shutdown_signal() => Ok(ExitCode::SUCCESS),
    }
}
