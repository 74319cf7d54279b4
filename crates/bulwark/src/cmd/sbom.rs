//! `bulwark sbom IMAGE`: the software bill of materials of an image or root
//! filesystem, as a table, Bulwark JSON, CycloneDX 1.6 or SPDX 2.3.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bulwark_image::Image;
use bulwark_sbom::catalog::Limits;
use bulwark_sbom::format::{Format, Producer, render};

use super::ImageArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: an OCI layout directory, an OCI or docker archive, a root
    /// filesystem directory, or a registry reference.
    pub image: String,

    /// Output format: table, json (Bulwark's own), cyclonedx (1.6 JSON) or
    /// spdx (2.3 JSON).
    #[arg(long, short = 'f', default_value = "table", value_parser = parse_format)]
    pub format: Format,

    /// Write the document to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub image_args: ImageArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: bulwark_sbom::format::UnknownFormat| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = std::io::stderr().is_terminal();
    let options = args.image_args.open_options()?;
    let image = Image::open(&args.image, &options)
        .with_context(|| format!("cannot open image {}", args.image))?;
    if progress {
        eprintln!(
            "bulwark: cataloging {} layer(s) of {}",
            image.layers().len(),
            args.image
        );
    }
    let sbom = bulwark_sbom::scan(&image, &args.image, Limits::default())
        .with_context(|| format!("cannot read image {}", args.image))?;
    for warning in &sbom.warnings {
        eprintln!("bulwark: warning: {warning}");
    }
    let producer = Producer {
        tool: "bulwark",
        version: env!("CARGO_PKG_VERSION"),
        created: time::OffsetDateTime::now_utc(),
    };
    let document = render(&sbom, args.format, &producer)?;
    match &args.output {
        Some(path) => write_file(path, document.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(document.as_bytes())?,
    }
    if progress {
        eprintln!(
            "bulwark: {} packages, {} warning(s)",
            sbom.packages.len(),
            sbom.warnings.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the document to stdout; a reader that stopped early (`| head`)
/// is not an error.
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes through a temporary file in the same directory, so a reader never
/// sees half a document and a failed run leaves no file behind.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
