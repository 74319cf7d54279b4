//! Image trust for Bulwark: which images may run.
//!
//! One policy engine serves `bulwark verify`, the Kubernetes admission
//! webhook and the node-side OCI hook:
//!
//! - [`signature`]: cosign signatures (legacy simple-signing `.sig` tags,
//!   DSSE `.att` attestations, Sigstore bundles v0.1–v0.3 as OCI 1.1
//!   referrers or beside the image), key-based and keyless, against a
//!   `trusted_root.json` given as data. Verification yields a
//!   [`signature::VerifiedSignature`], which only the verifier can make.
//! - [`policy`]: `kind: ImagePolicy` documents and their evaluation over an
//!   [`evidence::ImageEvidence`] into a [`policy::Verdict`] with a reason
//!   per rule.
//! - [`evidence`]: what the evaluator needs to know about an image, and the
//!   collector that gathers it through the small [`evidence::ArtifactStore`]
//!   trait (implemented over registries and OCI layouts by the edges).
//! - [`admission`]: Kubernetes `AdmissionReview` v1 handling: images of
//!   every container kind of Pods and workload templates, verdicts, the
//!   JSON patch pinning tags to digests, and the decision cache.
//!
//! - [`gate`]: the decision point the three callers share: resolve, collect,
//!   evaluate, and cache verdicts by (reference, digest, policy generation,
//!   trust root, namespace).
//!
//! - [`hook`]: the image stage of the OCI runtime hook: a container whose
//!   image fails the policy does not start.
//!
//! What this crate does not do: network or file I/O (stores are passed in),
//! TLS serving, fetching trust roots (they are data), or scanning images
//! for vulnerabilities (findings come in as evidence).

pub mod admission;
pub mod digest;
pub mod evidence;
pub mod gate;
pub mod hook;
pub mod policy;
pub mod reference;
pub mod signature;

pub use digest::Digest;
pub use reference::ImageRef;
