//! An [`ArtifactStore`] over a registry, through `bulwark-image`'s client
//! (auth, digest-verified manifests and blobs, OCI 1.1 referrers with the
//! tag-schema fallback).

use bulwark_image::registry::{Client, RegistryOptions};
use bulwark_trust::evidence::{ArtifactStore, Descriptor, Fetched, StoreError};
use bulwark_trust::{Digest, ImageRef};

/// Manifests, indexes and signature documents are small.
const MAX_MANIFEST: u64 = 4 << 20;
/// Configs and signature blobs are read whole.
const MAX_BLOB: u64 = 16 << 20;

pub struct RegistryStore {
    client: Client,
}

impl RegistryStore {
    pub fn new(options: &RegistryOptions) -> anyhow::Result<RegistryStore> {
        Ok(RegistryStore {
            client: Client::new(options)?,
        })
    }
}

fn to_ref(image: &ImageRef) -> Result<bulwark_image::Reference, StoreError> {
    image.to_string().parse().map_err(|e| StoreError::Failed {
        what: image.to_string(),
        problem: format!("{e}"),
    })
}

fn to_digest(what: &str, d: impl std::fmt::Display) -> Result<Digest, StoreError> {
    d.to_string().parse().map_err(|e| StoreError::Failed {
        what: what.to_string(),
        problem: format!("{e}"),
    })
}

fn failed(image: &ImageRef, e: bulwark_image::registry::RegistryError) -> StoreError {
    match &e {
        bulwark_image::registry::RegistryError::Status { status: 404, .. } => {
            StoreError::NotFound(image.to_string())
        }
        _ => StoreError::Failed {
            what: image.to_string(),
            problem: e.to_string(),
        },
    }
}

impl ArtifactStore for RegistryStore {
    fn manifest(&self, image: &ImageRef) -> Result<Fetched, StoreError> {
        let fetched = self
            .client
            .manifest(&to_ref(image)?, MAX_MANIFEST)
            .map_err(|e| failed(image, e))?;
        Ok(Fetched {
            digest: to_digest(&image.to_string(), &fetched.digest)?,
            media_type: fetched.media_type,
            bytes: fetched.bytes,
        })
    }

    fn blob(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let d: bulwark_image::Digest =
            digest.to_string().parse().map_err(|e| StoreError::Failed {
                what: digest.to_string(),
                problem: format!("{e}"),
            })?;
        self.client
            .blob_bytes(&to_ref(image)?, &d, MAX_BLOB)
            .map_err(|e| failed(image, e))
    }

    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let d: bulwark_image::Digest =
            digest.to_string().parse().map_err(|e| StoreError::Failed {
                what: digest.to_string(),
                problem: format!("{e}"),
            })?;
        let index = self
            .client
            .referrers(&to_ref(image)?, &d, None)
            .map_err(|e| failed(image, e))?;
        // Re-read the index entries through JSON: the two crates describe
        // descriptors with their own types.
        let json = serde_json::to_value(&index.manifests).map_err(|e| StoreError::Failed {
            what: image.to_string(),
            problem: e.to_string(),
        })?;
        serde_json::from_value(json).map_err(|e| StoreError::Failed {
            what: image.to_string(),
            problem: e.to_string(),
        })
    }
}
