//! `bulwark hook POINT`: the OCI runtime hook. Put it in a bundle's
//! `config.json` (or the runtime's hooks directory):
//!
//! ```json
//! "hooks": {
//!   "createRuntime": [{"path": "/usr/bin/bulwark", "args": ["bulwark", "hook", "create-runtime"]}],
//!   "poststop":      [{"path": "/usr/bin/bulwark", "args": ["bulwark", "hook", "poststop"]}]
//! }
//! ```
//!
//! The runtime passes the container state on stdin and waits; exit code 0
//! lets the container start, anything else aborts it. At `create-runtime`
//! (or `prestart`) the stages run in order: the image check (when
//! `--image-policy FILE` names ImagePolicy documents; see `bulwark verify`) then
//! Protect-mode registration, which returns once the container's policy is
//! in the kernel, before its first instruction. Before the stages, the
//! container's image is queued for scanning in `--data-dir`'s
//! `scan-queue/` (one file write; see `bulwark scan-queue`). A refused start is reported
//! to the enforcement service: one alert and one audit record.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bulwark_enforce::hook::{self, HookContext, ProtectStage, ReleaseStage, Stage};
use bulwark_enforce::policy::FailMode;

use super::DataDir;
use super::db::StaleArgs;
use super::enforce::DEFAULT_SOCKET;
use super::trust::TrustArgs;

mod image;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lifecycle point this invocation is for.
    #[arg(value_enum)]
    point: Point,
    /// The enforcement service's control socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// What to do when a stage cannot run (service down, bad state):
    /// `closed` refuses the container, `open` lets it start unprotected.
    #[arg(long, value_enum, default_value = "closed")]
    on_error: OnError,
    /// Refuse containers no enforcement policy applies to.
    #[arg(long)]
    require_policy: bool,
    /// How long to wait for the service, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    image: ImageStageArgs,
}

/// The image stage's options (those of `bulwark verify`, under names that
/// say they are about the image).
#[derive(clap::Args, Debug)]
struct ImageStageArgs {
    /// Decide the container's image (from its annotations) under these
    /// ImagePolicy documents before anything else; a refused image never starts.
    #[arg(long = "image-policy")]
    image_policy: Option<PathBuf>,
    /// OCI image layout holding the images and their signatures; without
    /// it, images are read from their registries (by the image check and
    /// by `bulwark up`'s scanner).
    #[arg(long = "image-layout")]
    layout: Option<PathBuf>,
    /// Sigstore `trusted_root.json` for keyless signatures.
    #[arg(long = "trusted-root", requires = "image_policy")]
    trusted_root: Option<PathBuf>,
    /// Extra PEM CA certificates to trust for registries.
    #[arg(long = "registry-ca")]
    registry_ca: Vec<PathBuf>,
    /// Talk plain HTTP to registries.
    #[arg(long = "plain-http")]
    plain_http: bool,
    /// Registry network timeout per operation, seconds.
    #[arg(long = "registry-timeout", default_value_t = 10)]
    registry_timeout: u64,
    /// Allow images no ImagePolicy selects (default: refuse them).
    #[arg(long = "allow-unmatched-images", requires = "image_policy")]
    allow_unmatched: bool,
    /// The vulnerability DB that ImagePolicy `findings` limits use, and
    /// where the image is queued for scanning (`D/scan-queue/`).
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    stale: StaleArgs,
}

impl ImageStageArgs {
    fn trust(&self) -> Option<TrustArgs> {
        Some(TrustArgs {
            policy: self.image_policy.clone()?,
            trusted_root: self.trusted_root.clone(),
            layout: self.layout.clone(),
            registry_ca: self.registry_ca.clone(),
            plain_http: self.plain_http,
            registry_timeout: self.registry_timeout,
            allow_unmatched: self.allow_unmatched,
            data: self.data.clone(),
            stale: self.stale.clone(),
            vex: Vec::new(),
        })
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    CreateRuntime,
    Prestart,
    Poststop,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OnError {
    Closed,
    Open,
}

/// Largest hook state read from stdin.
const MAX_STDIN: u64 = 4 << 20;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stdin = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut stdin)
        .context("reading the container state from stdin")?;
    let on_error = match args.on_error {
        OnError::Closed => FailMode::Closed,
        OnError::Open => FailMode::Open,
    };
    let ctx = match HookContext::from_stdin(&stdin) {
        Ok(c) => c,
        Err(e) if on_error == FailMode::Open || args.point == Point::Poststop => {
            eprintln!("bulwark hook: {e} (ignored: fail-open)");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).context("bulwark hook: refusing the container"),
    };
    if args.point != Point::Poststop
        && let Err(e) = image::queue_scan(&args.image, &ctx)
    {
        eprintln!(
            "bulwark hook: {}: the image was not queued for scanning (the container still starts): {e}",
            ctx.state.id
        );
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let protect = ProtectStage {
        socket: args.socket.clone(),
        timeout,
        require_policy: args.require_policy,
    };
    let release = ReleaseStage {
        socket: args.socket.clone(),
        timeout,
    };
    let image = args.image.trust().map(|trust| image::ImageStage { trust });
    let stages: Vec<&dyn Stage> = match (args.point, &image) {
        (Point::CreateRuntime | Point::Prestart, Some(image)) => vec![image, &protect],
        (Point::CreateRuntime | Point::Prestart, None) => vec![&protect],
        // Teardown after the container is gone: never block its deletion.
        (Point::Poststop, _) => vec![&release],
    };
    let on_error = if args.point == Point::Poststop {
        FailMode::Open
    } else {
        on_error
    };
    let verdict = hook::run(&stages, &ctx, on_error);
    for line in &verdict.lines {
        eprintln!("bulwark hook: {}: {line}", ctx.state.id);
    }
    if let Some(refused) = &verdict.refused {
        // The container stays refused whether or not the report arrives.
        if let Err(e) = hook::report_refusal(&args.socket, timeout, &ctx, refused) {
            eprintln!(
                "bulwark hook: {}: the refusal could not be reported to the enforcement service: {e}",
                ctx.state.id
            );
        }
    }
    Ok(if verdict.allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
