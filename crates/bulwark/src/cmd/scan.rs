//! `bulwark scan`: findings for an SBOM, stored for the continuous re-match.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use bulwark_core::Severity;
use bulwark_vulndb::report::{ScanReport, cyclonedx, sarif, table};
use bulwark_vulndb::scan::{ScanOptions, scan_sbom};
use bulwark_vulndb::store::Store;
use bulwark_vulndb::{time_fmt, vex};

use super::DataDir;
use super::db::StaleArgs;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Sarif,
    Cyclonedx,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    stale: StaleArgs,
    /// A Bulwark SBOM (`bulwark sbom --format json`) to match.
    #[arg(long, value_name = "FILE")]
    sbom: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the output here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit with code 1 when a finding is at or above this severity
    /// (unknown, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<Severity>,
    /// Leave out findings without a fixed version.
    #[arg(long)]
    ignore_unfixed: bool,
    /// OpenVEX documents; `not_affected`/`fixed` statements suppress findings.
    #[arg(long, value_name = "FILE")]
    vex: Vec<PathBuf>,
}

fn render(format: Format, report: &ScanReport, now: &str) -> anyhow::Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    Ok(match format {
        Format::Table => table(report),
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Sarif => serde_json::to_string_pretty(&sarif(report, version))? + "\n",
        Format::Cyclonedx => serde_json::to_string_pretty(&cyclonedx(report, version, now))? + "\n",
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.sbom)
        .with_context(|| format!("reading SBOM {}", args.sbom.display()))?;
    let sbom: bulwark_sbom::Sbom = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a Bulwark SBOM (bulwark sbom --format json)",
            args.sbom.display()
        )
    })?;
    let mut vex_docs = Vec::new();
    for path in &args.vex {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading VEX {}", path.display()))?;
        vex_docs.push(vex::parse(&path.display().to_string(), &bytes)?);
    }
    let store = Store::open_existing(&args.data.vulndb())?;
    args.stale.enforce(&store)?;
    let now = time_fmt::format(SystemTime::now());
    let options = ScanOptions {
        ignore_unfixed: args.ignore_unfixed,
    };
    let report = scan_sbom(&store, &sbom, &vex_docs, options, &now)?;
    let text = render(args.format, &report, &now)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    for w in &report.warnings {
        eprintln!(
            "bulwark: warning: {} ({}): {}",
            w.package, w.vuln_id, w.problem
        );
    }
    match args.fail_on {
        Some(threshold) if report.fails(threshold) => Ok(ExitCode::from(1)),
        _ => Ok(ExitCode::SUCCESS),
    }
}
