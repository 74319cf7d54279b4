//! `bulwark scan IMAGE` / `bulwark scan --sbom FILE`: findings for an image
//! (cataloged here with bulwark-sbom, from the same inputs as `bulwark
//! sbom`) or a stored SBOM, kept in the store under the image digest for
//! the continuous re-match, and with `--server` sent to the control plane
//! together with the image's CIS section 4 checks ([`image_checks`]).

mod image_checks;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use bulwark_control::compliance::Check;
use bulwark_core::Severity;
use bulwark_image::{Image, ImageInput, OpenOptions};
use bulwark_sbom::Sbom;
use bulwark_sbom::catalog::Limits;
use bulwark_vulndb::report::{ScanReport, cyclonedx, sarif, table};
use bulwark_vulndb::scan::{ImageFacts, ScanOptions, scan_sbom};
use bulwark_vulndb::store::Store;
use bulwark_vulndb::{time_fmt, vex};

use super::db::StaleArgs;
use super::{DataDir, ImageArgs};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Sarif,
    Cyclonedx,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["image", "sbom"])))]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    stale: StaleArgs,
    /// The image: an OCI layout directory, an OCI or docker archive, a root
    /// filesystem directory, or a registry reference (as `bulwark sbom`).
    image: Option<String>,
    /// Match a Bulwark SBOM (`bulwark sbom --format json`) instead of an image.
    #[arg(long, value_name = "FILE", conflicts_with = "image")]
    sbom: Option<PathBuf>,
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
    #[command(flatten)]
    image_args: ImageArgs,
    #[command(flatten)]
    push: super::server_push::PushArgs,
}

/// The report in `format`; an image's CIS checks follow the table and are
/// the `image_checks` member of the JSON report (SARIF and CycloneDX VDR
/// carry vulnerabilities only).
fn render(
    format: Format,
    report: &ScanReport,
    checks: Option<&[Check]>,
    now: &str,
) -> anyhow::Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    Ok(match format {
        Format::Table => {
            let mut text = table(report);
            if let Some(checks) = checks {
                text.push_str(&image_checks::table(checks));
            }
            text
        }
        Format::Json => {
            let mut value = serde_json::to_value(report)?;
            if let (Some(checks), Some(members)) = (checks, value.as_object_mut()) {
                members.insert("image_checks".to_owned(), serde_json::to_value(checks)?);
            }
            serde_json::to_string_pretty(&value)? + "\n"
        }
        Format::Sarif => serde_json::to_string_pretty(&sarif(report, version))? + "\n",
        Format::Cyclonedx => serde_json::to_string_pretty(&cyclonedx(report, version, now))? + "\n",
    })
}

fn read_sbom(path: &PathBuf) -> anyhow::Result<Sbom> {
    let bytes = std::fs::read(path).with_context(|| format!("reading SBOM {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a Bulwark SBOM (bulwark sbom --format json)",
            path.display()
        )
    })
}

/// What a scan of an image found: the findings report and the image's CIS
/// section 4 checks (`None` for an SBOM given instead of an image).
pub struct Scanned {
    pub report: ScanReport,
    pub checks: Option<Vec<Check>>,
}

/// An image read once: its SBOM, what the SBOM does not carry, and its
/// CIS section 4 checks.
struct Cataloged {
    sbom: Sbom,
    facts: ImageFacts,
    checks: Option<Vec<Check>>,
}

/// Catalogs the image `input` names (reported as `reference`) and matches
/// it against the store, keeping the result there for the continuous
/// re-match: what `bulwark scan IMAGE` does, for the scan queue of `bulwark up`.
pub fn scan_image(
    store: &Store,
    input: &ImageInput,
    reference: &str,
    options: &OpenOptions,
) -> anyhow::Result<Scanned> {
    let image = catalog_image(input, reference, options)?;
    let now = time_fmt::format(SystemTime::now());
    let report = scan_sbom(
        store,
        &image.sbom,
        &image.facts,
        &[],
        ScanOptions::default(),
        &now,
    )?;
    Ok(Scanned {
        report,
        checks: image.checks,
    })
}

/// Catalogs the image and reads what the SBOM does not carry: the image ID,
/// the build step of each layer and, from the same walk, the set-id files
/// for the CIS checks.
fn catalog_image(
    input: &ImageInput,
    reference: &str,
    options: &OpenOptions,
) -> anyhow::Result<Cataloged> {
    let image = Image::open_input(input, options)
        .with_context(|| format!("cannot open image {reference}"))?;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "bulwark: cataloging {} layer(s) of {reference}",
            image.layers().len()
        );
    }
    let set_ids = super::trust::setuid::SetIdFiles::default();
    let (sbom, kept) = bulwark_sbom::scan_with(&image, reference, Limits::default(), set_ids)
        .with_context(|| format!("cannot read image {reference}"))?;
    for warning in &sbom.warnings {
        eprintln!("bulwark: warning: {warning}");
    }
    let setid = super::trust::setuid::survivors(kept);
    let checks = image_checks::of(&image, Ok(&setid));
    let facts = ImageFacts {
        image_id: image.config_digest().map(ToString::to_string),
        layer_steps: layer_steps(&image),
    };
    Ok(Cataloged {
        sbom,
        facts,
        checks: Some(checks),
    })
}

/// `created_by` of the history entries that made a layer, base first.
fn layer_steps(image: &Image) -> Vec<Option<String>> {
    let steps: Vec<Option<String>> = image
        .config()
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone())
        .collect();
    // A history that does not account for every layer cannot be aligned.
    if steps.len() == image.layers().len() {
        steps
    } else {
        Vec::new()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pusher = args.push.pusher()?;
    let mut vex_docs = Vec::new();
    for path in &args.vex {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading VEX {}", path.display()))?;
        vex_docs.push(vex::parse(&path.display().to_string(), &bytes)?);
    }
    let store = Store::open_existing(&args.data.vulndb())?;
    args.stale.enforce(&store)?;
    let Cataloged {
        sbom,
        facts,
        checks,
    } = match (&args.sbom, &args.image) {
        (Some(path), _) => Cataloged {
            sbom: read_sbom(path)?,
            facts: ImageFacts::default(),
            checks: None,
        },
        (None, Some(image)) => {
            let input =
                ImageInput::detect(image).with_context(|| format!("cannot open image {image}"))?;
            catalog_image(&input, image, &args.image_args.open_options()?)?
        }
        (None, None) => anyhow::bail!("name an IMAGE or --sbom FILE"),
    };
    let now = time_fmt::format(SystemTime::now());
    let options = ScanOptions {
        ignore_unfixed: args.ignore_unfixed,
    };
    let report = scan_sbom(&store, &sbom, &facts, &vex_docs, options, &now)?;
    let text = render(args.format, &report, checks.as_deref(), &now)?;
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
    if let Some(pusher) = &pusher {
        let body = super::server_push::scan_body(&report, checks)?;
        pusher.push(&body)?;
        eprintln!(
            "bulwark: pushed {} ({}, {} findings) to the server",
            body.reference,
            body.digest,
            body.findings.len()
        );
    }
    match args.fail_on {
        Some(threshold) if report.fails(threshold) => Ok(ExitCode::from(1)),
        _ => Ok(ExitCode::SUCCESS),
    }
}
