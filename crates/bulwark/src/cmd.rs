//! Subcommands. Add a variant here and a module `cmd/NAME.rs` that wires it.

use std::process::ExitCode;

use clap::Subcommand;

mod version;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print version and build information.
    Version(version::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version(args) => version::run(args),
    }
}
