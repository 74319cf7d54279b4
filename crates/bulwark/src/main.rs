//! The `bulwark` command: CLI parsing, configuration and wiring.
//!
//! Each subcommand lives in its own module under `cmd/` and only wires library
//! crates together; the logic lives in those crates.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "bulwark",
    version,
    about = "Zero-trust security for containers"
)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), logs go to stderr.
    #[arg(long, global = true, env = "BULWARK_LOG", default_value = "warn")]
    log: String,

    /// Set by `bulwark up` on the parts it starts: the process id of `up`;
    /// the part stops (SIGTERM) when that process dies.
    #[arg(long, global = true, hide = true, value_name = "PID")]
    up_parent: Option<u32>,

    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    if let Some(Err(err)) = cli.up_parent.map(cmd::up::die_with_parent) {
        eprintln!("bulwark: {}", one_line(&err));
        return ExitCode::from(2);
    }
    // The one process-wide TLS crypto provider: aws-lc-rs (ring is not built in).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("bulwark: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes on one line: `outer: inner: root`.
fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
