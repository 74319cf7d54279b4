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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        image: super::super::ImageStageArgs,
    }

    /// The hook's view of a container whose bundle carries `annotations`.
    fn context(dir: &Path, annotations: serde_json::Value) -> HookContext {
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let config = serde_json::json!({"ociVersion": "1.0.2", "annotations": annotations});
        std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
        let state = serde_json::json!({"ociVersion": "1.0.2", "id": "c1", "status": "creating",
                                       "pid": 1, "bundle": bundle});
        HookContext::from_stdin(&state.to_string()).unwrap()
    }

    fn args(data: &Path) -> super::super::ImageStageArgs {
        let flags = <Flags as clap::Parser>::try_parse_from([
            "t".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--image-layout".as_ref(),
            "relative/oci".as_ref(),
        ])
        .unwrap();
        flags.image
    }

    #[test]
    fn a_traversing_image_name_is_queued_inside_the_queue_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let ctx = context(
            dir.path(),
            serde_json::json!({"io.bulwark.image": "../../../../etc/cron.d/x",
                               "io.bulwark.image.digest": digest}),
        );
        queue_scan(&args(&data), &ctx).unwrap();
        let queue = queue::dir(&data);
        assert_eq!(queue::keys(&queue).unwrap(), vec!["ab".repeat(32)]);
        let entry = queue::read(&queue, &"ab".repeat(32)).unwrap().unwrap();
        assert_eq!(entry.reference, "../../../../etc/cron.d/x");
        let layout = entry.layout.unwrap();
        assert!(layout.is_absolute() && layout.ends_with("relative/oci"));
        // Nothing was written anywhere but the queue.
        let written: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
        assert_eq!(written.len(), 1, "{written:?}");
    }

    #[test]
    fn a_container_without_an_image_is_not_queued() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let ctx = context(dir.path(), serde_json::json!({}));
        queue_scan(&args(&data), &ctx).unwrap();
        assert!(!data.exists());
    }

    #[test]
    fn an_unwritable_queue_is_an_error_for_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::write(&data, "a file, not a directory").unwrap();
        let ctx = context(dir.path(), serde_json::json!({"io.bulwark.image": "web:1"}));
        let err = queue_scan(&args(&data), &ctx).unwrap_err();
        assert!(err.contains("scan-queue"), "{err}");
    }
}
