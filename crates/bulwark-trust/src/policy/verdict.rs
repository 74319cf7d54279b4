//! The outcome of evaluating an image: a decision and why, rule by rule.

use serde::Serialize;

use super::document::PolicyMode;
use crate::digest::Digest;
use crate::signature::VerifiedSignature;

/// What should happen to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every rule in force passed (audit-mode failures are only recorded).
    Allow,
    /// Allowed, but a warn-mode rule failed.
    Warn,
    /// An enforce-mode rule failed, or no policy selects the image.
    Deny,
}

/// One rule's result.
#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    pub policy: String,
    pub mode: PolicyMode,
    /// `kind/name`, e.g. `signatures/release`, `config/non-root`.
    pub rule: String,
    /// The CIS Docker Benchmark item the rule implements, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cis: Option<&'static str>,
    pub passed: bool,
    pub reason: String,
}

/// The decision about one image. Only [`evaluate`](super::evaluate) makes
/// one, so holding a `Verdict` proves the policy was evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    image: String,
    digest: Digest,
    outcome: Outcome,
    policies: Vec<String>,
    rules: Vec<RuleResult>,
    signatures: Vec<VerifiedSignature>,
}

impl Verdict {
    pub(super) fn new(
        image: String,
        digest: Digest,
        policies: Vec<String>,
        rules: Vec<RuleResult>,
        signatures: Vec<VerifiedSignature>,
        no_match_denies: bool,
    ) -> Verdict {
        let failed = |mode| rules.iter().any(|r| !r.passed && r.mode == mode);
        let outcome = if failed(PolicyMode::Enforce) || (policies.is_empty() && no_match_denies) {
            Outcome::Deny
        } else if failed(PolicyMode::Warn) {
            Outcome::Warn
        } else {
            Outcome::Allow
        };
        Verdict {
            image,
            digest,
            outcome,
            policies,
            rules,
            signatures,
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    pub fn allowed(&self) -> bool {
        self.outcome != Outcome::Deny
    }
    pub fn image(&self) -> &str {
        &self.image
    }
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    pub fn policies(&self) -> &[String] {
        &self.policies
    }
    pub fn rules(&self) -> &[RuleResult] {
        &self.rules
    }
    pub fn signatures(&self) -> &[VerifiedSignature] {
        &self.signatures
    }

    /// Failed rules of `mode`, as one-line messages.
    pub fn failures(&self, mode: PolicyMode) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| !r.passed && r.mode == mode)
            .map(|r| format!("{}: {}: {}", r.policy, r.rule, r.reason))
            .collect()
    }

    /// A one-line summary for admission responses and logs.
    pub fn summary(&self) -> String {
        if self.policies.is_empty() {
            return format!("{}: no ImagePolicy selects this image", self.image);
        }
        match self.outcome {
            Outcome::Allow => format!("{}@{}: allowed", self.image, self.digest),
            Outcome::Warn => format!(
                "{}@{}: allowed with warnings: {}",
                self.image,
                self.digest,
                self.failures(PolicyMode::Warn).join("; ")
            ),
            Outcome::Deny => format!(
                "{}@{}: denied: {}",
                self.image,
                self.digest,
                self.failures(PolicyMode::Enforce).join("; ")
            ),
        }
    }
}
