//! The image stage of `bulwark hook`: the container's image (from its
//! annotations) is decided under the ImagePolicy documents by
//! `bulwark-trust` before anything else; a refused image means runc
//! does not start the container. Every container's image is also queued
//! for scanning (`D/scan-queue/`, scanned and pushed by `bulwark up`).

use std::path::Path;

use bulwark_enforce::hook::{HookContext, HookError, Outcome, Stage};
use bulwark_trust::gate::GateOptions;

use super::super::scan_queue::queue::{self, Entry};
use super::super::trust::TrustArgs;

/// Decide the container's image; built from `bulwark hook`'s trust options.
#[derive(Debug)]
pub struct ImageStage {
    pub trust: TrustArgs,
}

impl Stage for ImageStage {
    fn name(&self) -> &'static str {
        "image"
    }

    fn run(&self, ctx: &HookContext) -> Result<Outcome, HookError> {
        // A policy or store that cannot be loaded is a stage failure
        // (--on-error decides), not a verdict about the image.
        let gate = self
            .trust
            .gate(GateOptions::default())
            .map_err(|e| HookError::Stage {
                stage: "image",
                problem: format!("{e:#}"),
            })?;
        let annotations = ctx.annotations();
        let meta = bulwark_containers::from_annotations(&annotations);
        let namespace = meta.pod.as_ref().and_then(|p| p.namespace.as_deref());
        let decision = bulwark_trust::hook::decide(
            &gate,
            meta.image.as_deref(),
            meta.image_digest.as_deref(),
            namespace,
        );
        let message = decision
            .message
            .strip_prefix("bulwark: ")
            .unwrap_or(&decision.message)
            .to_owned();
        Ok(if decision.allowed {
            Outcome::Continue {
                note: Some(message),
            }
        } else {
            Outcome::Refuse { reason: message }
        })
    }
}

/// Queues the container's image for `bulwark up`'s scanner (`bulwark
/// scan-queue`): one atomic file write in `D/scan-queue/`. A queue that
/// cannot be written (or is full) never refuses the container: the
/// problem is returned for the log.
///
/// Only containers whose annotations name an image are queued. A bare
/// bundle's root filesystem is not: `bulwark scan DIR` can catalog a
/// directory, but it has no manifest digest, which is what the server
/// keys images by, and the bundle may be gone before the scanner runs.
pub fn queue_scan(args: &super::ImageStageArgs, ctx: &HookContext) -> Result<(), String> {
    let meta = bulwark_containers::from_annotations(&ctx.annotations());
    let Some(reference) = meta.image else {
        return Ok(());
    };
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let entry = Entry {
        reference,
        digest: meta.image_digest,
        layout: args.layout.as_deref().map(absolute).transpose()?,
        plain_http: args.plain_http,
        registry_ca: args
            .registry_ca
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<_, _>>()?,
    };
    match queue::enqueue(&queue::dir(&args.data.path), &entry) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:#}")),
    }
}
