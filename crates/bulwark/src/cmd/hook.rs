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
//! (or `prestart`) the stages run in order: the image check (when the trust
//! stage is configured) then Protect-mode registration, which returns once
//! the container's policy is in the kernel, before its first instruction.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bulwark_enforce::hook::{self, HookContext, ProtectStage, ReleaseStage, Stage};
use bulwark_enforce::policy::FailMode;

use super::enforce::DEFAULT_SOCKET;

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
    let stages: Vec<&dyn Stage> = match args.point {
        Point::CreateRuntime | Point::Prestart => vec![&protect],
        // Teardown after the container is gone: never block its deletion.
        Point::Poststop => vec![&release],
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
