//! `kind: ImagePolicy` documents and their evaluation.
//!
//! A [`PolicySet`] is parsed from one or more YAML documents. Every policy
//! whose image globs and namespaces select an image applies, and every
//! rule of every applying policy must pass (AND across rules; a signature
//! rule is satisfied by `threshold` of its authorities). Evaluation is
//! pure: it reads [`ImageEvidence`](crate::evidence::ImageEvidence) and
//! verifies the signatures in it, nothing else.

mod benchmark;
mod cis;
mod compile;
mod document;
mod evaluate;
mod glob;
mod verdict;

pub use benchmark::{CisCheck, CisStatus, image_checks};
pub use compile::{Policy, PolicyError, PolicySet, Unmatched};
pub use document::{API_VERSION, ConfigChecks, FindingLimit, KIND, PolicyMode};
pub use evaluate::evaluate;
pub use glob::ImageGlob;
pub use verdict::{Outcome, RuleResult, Verdict};
