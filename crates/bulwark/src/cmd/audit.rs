//! `bulwark audit verify`: check the audit log's hash chain.

use std::path::PathBuf;
use std::process::ExitCode;

use bulwark_audit::{AuditError, Head};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Verify every record of the audit log: hashes, order, chain and head.
    /// Exit code 0 if intact, 1 if tampered with, 2 on other errors.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// Audit log file (default: DATA_DIR/audit/audit.log).
    file: Option<PathBuf>,
    /// A `SEQ:HASH` kept elsewhere (printed by an earlier verify): record SEQ
    /// must still have that hash. Catches a log rewritten with its head.
    #[arg(long, value_parser = parse_head)]
    expect: Option<Head>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: super::DataDir,
}

fn parse_head(text: &str) -> Result<Head, String> {
    Head::parse(text).ok_or_else(|| {
        format!("{text:?} is not SEQ:HASH (a number, a colon, 64 lower-case hex digits)")
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Verify(args) => verify(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.unwrap_or_else(|| args.data.audit_log());
    match bulwark_audit::verify_file(&path, args.expect) {
        Ok(v) => {
            if args.json {
                let out = serde_json::json!({
                    "log": path, "intact": true, "records": v.records, "head": v.last.to_string(),
                });
                println!("{out}");
            } else {
                println!(
                    "audit log {}: intact, {} records, head {}",
                    path.display(),
                    v.records,
                    v.last
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(AuditError::Tampered { source, .. }) => {
            if args.json {
                let out = serde_json::json!({
                    "log": path, "intact": false, "problem": source.to_string(),
                });
                println!("{out}");
            }
            eprintln!("bulwark: audit log {}: {source}", path.display());
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
