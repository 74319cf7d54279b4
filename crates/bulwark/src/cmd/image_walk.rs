//! `bulwark image-walk IMAGE` (hidden): decompresses and walks every layer,
//! verifying digests, without looking at any file. It is the baseline that
//! `bulwark sbom` is timed against (bench/), and a quick integrity check.

use std::process::ExitCode;

use crate::cmd::image_args::ImageArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: OCI layout dir, OCI/docker archive, rootfs dir or registry
    /// reference.
    pub image: String,

    #[command(flatten)]
    pub image_args: ImageArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let image = args.image_args.open(&args.image)?;
    let walked = image.walk_only()?;
    let layers: Vec<serde_json::Value> = walked
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "index": l.index,
                "digest": l.digest,
                "diff_id": l.diff_id,
                "compression": l.compression.map(|c| format!("{c:?}").to_lowercase()),
                "compressed_bytes": l.compressed_bytes,
                "uncompressed_bytes": l.uncompressed_bytes,
                "entries": l.entries,
            })
        })
        .collect();
    let summary = serde_json::json!({
        "image": image.input(),
        "manifest_digest": image.manifest_digest(),
        "config_digest": image.config_digest(),
        "entries": walked.layers.iter().map(|l| l.entries).sum::<u64>(),
        "uncompressed_bytes": walked.layers.iter().map(|l| l.uncompressed_bytes).sum::<u64>(),
        "layers": layers,
    });
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
