//! What the policy evaluator knows about an image, gathered before it runs.
//!
//! The evaluator is pure: it reads an [`ImageEvidence`] and never fetches.
//! [`collect`] fills one through an [`ArtifactStore`] (a registry or an OCI
//! layout, implemented at the edges), so the same evidence shape serves
//! `bulwark verify`, the admission webhook and the OCI hook.

mod collect;
mod config;
mod memory;
mod store;

pub use collect::{CollectError, collect};
pub use config::{ImageConfig, SetuidFile};
pub use memory::{MemoryStore, RepoContents};
pub use store::{ArtifactStore, Descriptor, Fetched, StoreError};

use bulwark_core::Severity;
use serde::Serialize;

use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::signature::SignatureMaterial;

/// Everything known about one image (one platform manifest).
#[derive(Clone, Debug)]
pub struct ImageEvidence {
    /// The reference as requested (tag and/or digest).
    pub reference: ImageRef,
    /// The manifest digest the reference resolved to: what is admitted.
    pub digest: Digest,
    /// For an index, the platform manifest chosen from it (bound to
    /// `digest` because the index bytes hash to `digest`).
    pub platform_digest: Option<Digest>,
    /// The parsed image configuration, if it could be read.
    pub config: Option<ImageConfig>,
    /// Signatures and attestations found, each with the digest it was
    /// found for (`digest` or `platform_digest`), not yet verified.
    pub signatures: Vec<(Digest, SignatureMaterial)>,
    /// Trusted base candidates named by the policy, with their evidence.
    pub bases: Vec<BaseEvidence>,
    /// Vulnerability findings: `None` when the image was not scanned,
    /// `Some(Err(why))` when scanning it failed (rules needing findings
    /// then fail, naming why).
    pub findings: Option<Result<Vec<Finding>, String>>,
    /// Set-uid/set-gid files that survive in the image, each with the
    /// layer that wrote it: `None` when the layers were not walked,
    /// `Some(Err(why))` when walking them failed.
    pub setuid_files: Option<Result<Vec<SetuidFile>, String>>,
}

/// Evidence that only reading the image's layers gives, beyond what the
/// store's manifests, configs and signatures say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Vulnerability findings (a policy has `findings` limits).
    pub findings: bool,
    /// Set-uid/set-gid files (a policy has `config.noSetuidAdded`).
    pub setuid_files: bool,
}

impl Needs {
    pub fn any(self) -> bool {
        self.findings || self.setuid_files
    }
}

/// A trusted base image as the policy names it, resolved.
#[derive(Clone, Debug)]
pub struct BaseEvidence {
    /// The `trustedBases[].image` entry this resolves.
    pub entry: String,
    pub reference: ImageRef,
    pub digest: Digest,
    pub platform_digest: Option<Digest>,
    pub diff_ids: Vec<Digest>,
    pub signatures: Vec<(Digest, SignatureMaterial)>,
}

/// One vulnerability finding, as the scanner reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub severity: Severity,
    /// The version that fixes it, if one exists.
    #[serde(default)]
    pub fixed_version: Option<String>,
}
