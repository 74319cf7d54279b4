//! From an `AdmissionReview` request to its response: every container
//! image decided, denials explained, tags pinned to digests by JSON patch.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use super::review::{
    API_VERSION, AdmissionResponse, AdmissionReview, KIND, ReviewResponse, Status,
};
use super::workload::{ContainerImage, container_images};
use crate::gate::Gate;
use crate::policy::{PolicyMode, Verdict};
use crate::reference::ImageRef;

/// Decides one image in one namespace. The [`Gate`] is the real one.
pub trait Decider: Send + Sync {
    fn decide(&self, image: &ImageRef, namespace: Option<&str>) -> Result<Arc<Verdict>, String>;
}

impl Decider for Gate {
    fn decide(&self, image: &ImageRef, namespace: Option<&str>) -> Result<Arc<Verdict>, String> {
        Gate::decide(self, image, namespace).map_err(|e| e.to_string())
    }
}

/// How the webhook behaves.
#[derive(Clone, Debug, Default)]
pub struct AdmissionOptions {
    /// Pin allowed tag references to their digest with a JSON patch.
    pub mutate: bool,
    /// The webhook's own namespace: always admitted, so the webhook can
    /// never lock itself out (its own pods come back after a restart).
    pub own_namespace: Option<String>,
    /// Allow (with a warning) when an image cannot be decided, instead of
    /// denying. Off by default: fail closed.
    pub fail_open: bool,
}

/// Why a request body is not an admission review we can answer.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("request body is not an AdmissionReview: {0}")]
    Parse(String),
    #[error("AdmissionReview {0}: expected {API_VERSION} {KIND}")]
    Version(String),
    #[error("AdmissionReview has no request")]
    NoRequest,
}

/// Parse and check the envelope.
pub fn parse(body: &[u8]) -> Result<AdmissionReview, AdmissionError> {
    let review: AdmissionReview =
        serde_json::from_slice(body).map_err(|e| AdmissionError::Parse(e.to_string()))?;
    if review.api_version != API_VERSION || review.kind != KIND {
        return Err(AdmissionError::Version(format!(
            "{} {}",
            review.api_version, review.kind
        )));
    }
    if review.request.is_none() {
        return Err(AdmissionError::NoRequest);
    }
    Ok(review)
}

/// The response when no verdict came in time (the caller's deadline).
pub fn deadline_response(uid: &str, options: &AdmissionOptions) -> ReviewResponse {
    let message = "bulwark: image verification did not finish before the deadline".to_string();
    ReviewResponse::new(if options.fail_open {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: true,
            warnings: vec![message],
            ..Default::default()
        }
    } else {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: false,
            status: Some(forbidden(message)),
            ..Default::default()
        }
    })
}

fn forbidden(message: String) -> Status {
    Status {
        code: 403,
        message,
        reason: Some("Forbidden".into()),
    }
}

fn allow(uid: &str) -> ReviewResponse {
    ReviewResponse::new(AdmissionResponse {
        uid: uid.to_string(),
        allowed: true,
        ..Default::default()
    })
}

/// Answer a parsed review.
pub fn respond(
    review: &AdmissionReview,
    decider: &dyn Decider,
    options: &AdmissionOptions,
) -> ReviewResponse {
    let Some(req) = &review.request else {
        return allow("");
    };
    let excluded = options.own_namespace.is_some() && req.namespace == options.own_namespace;
    if excluded || !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
        return allow(&req.uid);
    }
    let Some(images) = req
        .object
        .as_ref()
        .and_then(|o| container_images(&req.kind.kind, o))
    else {
        return allow(&req.uid);
    };
    let mut acc = Accumulator::default();
    let mut memo: BTreeMap<String, Result<Arc<Verdict>, String>> = BTreeMap::new();
    for c in &images {
        let result = memo
            .entry(c.image.clone())
            .or_insert_with(|| decide_one(decider, &c.image, req.namespace.as_deref()))
            .clone();
        acc.add(c, result, options);
    }
    acc.into_response(&req.uid)
}

fn decide_one(
    decider: &dyn Decider,
    image: &str,
    namespace: Option<&str>,
) -> Result<Arc<Verdict>, String> {
    let reference: ImageRef = image.parse().map_err(|e| format!("{e}"))?;
    decider.decide(&reference, namespace)
}

#[derive(Default)]
struct Accumulator {
    denials: Vec<String>,
    warnings: Vec<String>,
    patch: Vec<serde_json::Value>,
    decisions: Vec<serde_json::Value>,
    audit_failures: Vec<String>,
}

impl Accumulator {
    fn add(
        &mut self,
        c: &ContainerImage,
        result: Result<Arc<Verdict>, String>,
        options: &AdmissionOptions,
    ) {
        let who = format!("{} {:?} image {:?}", c.list, c.container, c.image);
        let verdict = match result {
            Ok(v) => v,
            Err(e) if options.fail_open => {
                self.warnings
                    .push(format!("{who}: not verified (fail-open): {e}"));
                return;
            }
            Err(e) => {
                self.denials.push(format!("{who}: cannot be verified: {e}"));
                return;
            }
        };
        self.decisions.push(json!({"container": c.container, "image": c.image, "digest": verdict.digest().to_string(), "outcome": verdict.outcome()}));
        for f in verdict.failures(PolicyMode::Enforce) {
            self.denials.push(format!("{who}: {f}"));
        }
        if verdict.policies().is_empty() && !verdict.allowed() {
            self.denials
                .push(format!("{who}: no ImagePolicy selects this image"));
        }
        self.warnings.extend(
            verdict
                .failures(PolicyMode::Warn)
                .into_iter()
                .map(|f| format!("{who}: {f}")),
        );
        self.audit_failures.extend(
            verdict
                .failures(PolicyMode::Audit)
                .into_iter()
                .map(|f| format!("{who}: {f}")),
        );
        if options.mutate && verdict.allowed() && !c.image.contains('@') {
            self.patch.push(json!({"op": "replace", "path": c.pointer, "value": format!("{}@{}", c.image, verdict.digest())}));
        }
    }

    fn into_response(self, uid: &str) -> ReviewResponse {
        let allowed = self.denials.is_empty();
        let mut audit = BTreeMap::new();
        if !self.decisions.is_empty() {
            audit.insert(
                "bulwark.dev/images".to_string(),
                serde_json::Value::Array(self.decisions).to_string(),
            );
        }
        if !self.audit_failures.is_empty() {
            audit.insert(
                "bulwark.dev/audit-failures".to_string(),
                self.audit_failures.join("; "),
            );
        }
        let (patch, patch_type) = if allowed && !self.patch.is_empty() {
            (
                Some(B64.encode(serde_json::Value::Array(self.patch).to_string())),
                Some("JSONPatch".to_string()),
            )
        } else {
            (None, None)
        };
        ReviewResponse::new(AdmissionResponse {
            uid: uid.to_string(),
            allowed,
            status: (!allowed).then(|| forbidden(format!("bulwark: {}", self.denials.join("; ")))),
            patch,
            patch_type,
            audit_annotations: audit,
            warnings: self.warnings,
        })
    }
}
