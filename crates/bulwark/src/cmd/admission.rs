//! `bulwark admission`: the Kubernetes validating/mutating admission
//! webhook, over HTTPS (rustls, aws-lc-rs).
//!
//! `POST /validate` answers without a patch; `POST /mutate` also pins tags
//! to the digests that were verified. `GET /healthz` is the probe. Each
//! review must be answered within `--deadline` (keep it below the
//! webhook's `timeoutSeconds`); late or undecidable reviews are denied
//! unless `--fail-open`.

mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bulwark_trust::admission::AdmissionOptions;
use bulwark_trust::gate::GateOptions;

use super::trust::TrustArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate chain served to the API server.
    #[arg(long = "tls-cert")]
    pub tls_cert: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    #[arg(long = "tls-key")]
    pub tls_key: PathBuf,
    /// The webhook's own namespace, always admitted.
    #[arg(long = "own-namespace", default_value = "bulwark-system")]
    pub own_namespace: String,
    /// Per-review deadline in milliseconds; keep it below the webhook's
    /// timeoutSeconds (10 s by default in the shipped manifests).
    #[arg(long = "deadline-ms", default_value_t = 8000)]
    pub deadline_ms: u64,
    /// Admit (with a warning) images that cannot be decided in time.
    #[arg(long = "fail-open")]
    pub fail_open: bool,
    /// How long a verdict is reused, seconds (0: decide every review anew).
    #[arg(long = "verdict-ttl", default_value_t = 300)]
    pub verdict_ttl: u64,
    /// How long a tag's resolved digest is reused, seconds.
    #[arg(long = "tag-ttl", default_value_t = 30)]
    pub tag_ttl: u64,
    /// Write the bound address here once listening (for supervisors and tests).
    #[arg(long = "addr-file")]
    pub addr_file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let gate = Arc::new(args.trust.gate(GateOptions {
        verdict_ttl: Duration::from_secs(args.verdict_ttl),
        tag_ttl: Duration::from_secs(args.tag_ttl),
        ..GateOptions::default()
    })?);
    let tls = server::tls_config(&args.tls_cert, &args.tls_key)?;
    let options = AdmissionOptions {
        mutate: true,
        own_namespace: Some(args.own_namespace.clone()),
        fail_open: args.fail_open,
    };
    let state = Arc::new(server::State {
        gate,
        options,
        deadline: Duration::from_millis(args.deadline_ms),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::serve(args.listen, tls, state, args.addr_file))?;
    Ok(ExitCode::SUCCESS)
}
