//! Subcommands. Add a variant here and a module `cmd/NAME.rs` that wires it.

use std::process::ExitCode;

use clap::Subcommand;

mod admission;
mod audit;
mod profile;
mod trust;
mod verify;
mod version;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print version and build information.
    Version(version::Args),
    /// Check the tamper-evident audit log.
    Audit(audit::Args),
    /// Serve the Kubernetes image admission webhook over HTTPS.
    Admission(admission::Args),
    /// Decide whether an image may run under an ImagePolicy, and say why.
    Verify(verify::Args),
    /// Per-workload behaviour profiles: list, show, diff, export, import, promote, demote.
    Profile(profile::Args),
}

/// The data directory: `--data-dir`, else `$BULWARK_DATA_DIR`, else
/// `/var/lib/bulwark`. Layout: `audit/audit.log` (+ `.head`), `profiles/`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Where Bulwark keeps its state.
    #[arg(
        long = "data-dir",
        env = "BULWARK_DATA_DIR",
        default_value = "/var/lib/bulwark"
    )]
    pub path: std::path::PathBuf,
}

impl DataDir {
    pub fn audit_log(&self) -> std::path::PathBuf {
        self.path.join("audit").join("audit.log")
    }

    pub fn profiles(&self) -> std::path::PathBuf {
        self.path.join("profiles")
    }
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version(args) => version::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Admission(args) => admission::run(args),
        Command::Profile(args) => profile::run(args),
    }
}
