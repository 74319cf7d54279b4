//! The image stage of `bulwark hook`: the container's image (from its
//! annotations) is decided under the ImagePolicy documents by
//! `bulwark-trust` before anything else; a refused image means runc
//! does not start the container.

use bulwark_enforce::hook::{HookContext, HookError, Outcome, Stage};
use bulwark_trust::gate::GateOptions;

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
