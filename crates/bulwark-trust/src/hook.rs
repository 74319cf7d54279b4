//! The image-policy stage of the node-side OCI runtime hook: a container
//! whose image fails the policy does not start.
//!
//! The hook (runc/containerd/CRI-O/podman run it at `createRuntime`) knows
//! the container only by its annotations. The image comes from them (see
//! `bulwark-containers`' metadata); a container that does not say which
//! image it runs is refused, because nothing can be verified about it.

use crate::admission::Decider;
use crate::policy::PolicyMode;
use crate::reference::ImageRef;

/// What the hook does with the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookDecision {
    pub allowed: bool,
    /// One line for the runtime's error output (and the audit log).
    pub message: String,
}

/// Decide a container from the image reference and digest its annotations
/// give, in `namespace` when it belongs to a pod.
pub fn decide(
    decider: &dyn Decider,
    image: Option<&str>,
    digest: Option<&str>,
    namespace: Option<&str>,
) -> HookDecision {
    let deny = |message: String| HookDecision {
        allowed: false,
        message,
    };
    let Some(image) = image else {
        return deny(
            "bulwark: container has no image annotation: image policy cannot be checked".into(),
        );
    };
    let mut reference: ImageRef = match image.parse() {
        Ok(r) => r,
        Err(e) => return deny(format!("bulwark: {e}")),
    };
    if let Some(d) = digest {
        match d.parse() {
            Ok(d) if reference.digest().is_none_or(|own| *own == d) => {
                reference = reference.with_digest(d)
            }
            Ok(_) => {
                return deny(format!(
                    "bulwark: image {image}: digest annotation {d} contradicts the reference"
                ));
            }
            Err(e) => return deny(format!("bulwark: image {image}: {e}")),
        }
    }
    match decider.decide(&reference, namespace) {
        Ok(v) if v.allowed() => {
            let warnings = v.failures(PolicyMode::Warn);
            let suffix = if warnings.is_empty() {
                String::new()
            } else {
                format!(" (warnings: {})", warnings.join("; "))
            };
            HookDecision {
                allowed: true,
                message: format!("bulwark: {}{suffix}", v.summary()),
            }
        }
        Ok(v) => deny(format!("bulwark: {}", v.summary())),
        Err(e) => deny(format!("bulwark: image {image} cannot be verified: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Verdict;
    use std::sync::Arc;

    struct Unreachable;
    impl Decider for Unreachable {
        fn decide(&self, _: &ImageRef, _: Option<&str>) -> Result<Arc<Verdict>, String> {
            Err("registry unreachable".into())
        }
    }

    #[test]
    fn containers_without_an_image_or_a_verdict_are_refused() {
        assert!(!decide(&Unreachable, None, None, None).allowed);
        assert!(!decide(&Unreachable, Some("Bad Ref"), None, None).allowed);
        assert!(!decide(&Unreachable, Some("registry.example/a:1"), None, None).allowed);
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        let contradicting = decide(
            &Unreachable,
            Some(&format!("registry.example/a@{d1}")),
            Some(&d2),
            None,
        );
        assert!(
            contradicting.message.contains("contradicts"),
            "{}",
            contradicting.message
        );
    }
}
