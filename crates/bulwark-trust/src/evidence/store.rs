//! The I/O edge the collector reads through: a registry or an OCI layout.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::reference::ImageRef;

/// A manifest (or index) as fetched.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An OCI content descriptor (manifest layer, index entry, referrer).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// `platform` of an index entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{what}: {problem}")]
    Failed { what: String, problem: String },
}

/// Read-only access to images and what is attached to them. Registries
/// and OCI layouts implement it at the edges; tests use an in-memory one.
/// Implementations must return manifest and blob bytes that hash to the
/// requested digest; the collector checks again.
pub trait ArtifactStore: Send + Sync {
    /// A manifest or index by tag or digest.
    fn manifest(&self, image: &ImageRef) -> Result<Fetched, StoreError>;
    /// A blob of `image`'s repository.
    fn blob(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// Manifests whose `subject` is `digest`: the OCI 1.1 referrers API,
    /// its tag-schema fallback, or a scan of a layout's blobs.
    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Descriptor>, StoreError>;
}
