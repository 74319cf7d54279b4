//! An in-memory [`ArtifactStore`] with builders for images, cosign
//! signature tags and referrers, producing real OCI JSON. For unit tests of
//! the pure logic and benchmarks of the evaluator; real deployments read
//! registries and OCI layouts.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use serde_json::json;

use super::store::{ArtifactStore, Descriptor, Fetched, StoreError};
use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::signature::media_types;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

#[derive(Default)]
struct Repo {
    tags: HashMap<String, Digest>,
    manifests: HashMap<Digest, (String, Vec<u8>)>,
    blobs: HashMap<Digest, Vec<u8>>,
    referrers: HashMap<Digest, Vec<Descriptor>>,
}

/// Images held in memory, keyed by `registry/repository`.
#[derive(Default)]
pub struct MemoryStore {
    repos: RwLock<HashMap<String, Repo>>,
}

fn not_found(what: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound(what.to_string())
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with_repo<T>(&self, image: &ImageRef, f: impl FnOnce(&mut Repo) -> T) -> T {
        let mut repos = self.repos.write().unwrap_or_else(|e| e.into_inner());
        f(repos.entry(image.name()).or_default())
    }

    /// Store a blob; returns its digest.
    pub fn put_blob(&self, image: &ImageRef, bytes: Vec<u8>) -> Digest {
        let digest = Digest::of(&bytes);
        self.with_repo(image, |r| r.blobs.insert(digest.clone(), bytes));
        digest
    }

    /// Store a manifest, tag it if `tag` is given, and index it as a
    /// referrer if it has a `subject`. Returns its digest.
    pub fn put_manifest(
        &self,
        image: &ImageRef,
        tag: Option<&str>,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Digest {
        let digest = Digest::of(&bytes);
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        self.with_repo(image, |r| {
            if let Some(subject) = parsed["subject"]["digest"]
                .as_str()
                .and_then(|s| s.parse::<Digest>().ok())
            {
                r.referrers.entry(subject).or_default().push(Descriptor {
                    media_type: media_type.to_string(),
                    digest: digest.clone(),
                    size: bytes.len() as u64,
                    artifact_type: parsed["artifactType"].as_str().map(str::to_string),
                    annotations: BTreeMap::new(),
                    platform: None,
                });
            }
            r.manifests
                .insert(digest.clone(), (media_type.to_string(), bytes));
            if let Some(tag) = tag {
                r.tags.insert(tag.to_string(), digest.clone());
            }
        });
        digest
    }

    /// Store a single-platform image with the given config and layers
    /// (layer blobs are opaque bytes; `diff_ids` go in the config).
    pub fn put_image(
        &self,
        image: &ImageRef,
        config: serde_json::Value,
        layers: &[Vec<u8>],
    ) -> Digest {
        let config_bytes = config.to_string().into_bytes();
        let config_digest = self.put_blob(image, config_bytes.clone());
        let layer_descs: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                let d = self.put_blob(image, l.clone());
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": l.len()})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
            "layers": layer_descs,
        });
        self.put_manifest(
            image,
            image.tag(),
            OCI_MANIFEST,
            manifest.to_string().into_bytes(),
        )
    }

    /// Attach cosign legacy layers under tag `sha256-<hex>.<suffix>`.
    pub fn put_cosign_tag(
        &self,
        image: &ImageRef,
        digest: &Digest,
        suffix: &str,
        layers: Vec<(&str, Vec<u8>, BTreeMap<String, String>)>,
    ) -> Digest {
        let config = self.put_blob(image, b"{}".to_vec());
        let descs: Vec<serde_json::Value> = layers
            .into_iter()
            .map(|(media_type, bytes, annotations)| {
                let size = bytes.len();
                let d = self.put_blob(image, bytes);
                json!({"mediaType": media_type, "digest": d.to_string(), "size": size, "annotations": annotations})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
            "layers": descs,
        });
        self.put_manifest(
            image,
            Some(&digest.cosign_tag(suffix)),
            OCI_MANIFEST,
            manifest.to_string().into_bytes(),
        )
    }

    /// Attach a Sigstore bundle as an OCI 1.1 referrer of `digest`, the
    /// way cosign v3 does.
    pub fn put_bundle_referrer(
        &self,
        image: &ImageRef,
        digest: &Digest,
        subject_size: usize,
        bundle: Vec<u8>,
    ) -> Digest {
        let empty = self.put_blob(image, b"{}".to_vec());
        let size = bundle.len();
        let layer = self.put_blob(image, bundle);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": media_types::BUNDLE_V03,
            "config": {"mediaType": OCI_EMPTY, "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": media_types::BUNDLE_V03, "digest": layer.to_string(), "size": size}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": subject_size},
        });
        self.put_manifest(image, None, OCI_MANIFEST, manifest.to_string().into_bytes())
    }
}

/// Everything in one repository of a [`MemoryStore`], for writing it out
/// as an OCI layout or pushing it to a registry.
#[derive(Clone, Debug, Default)]
pub struct RepoContents {
    /// `registry/repository`
    pub name: String,
    /// (tag, digest) pairs.
    pub tags: Vec<(String, Digest)>,
    /// (digest, media type, bytes) of every manifest.
    pub manifests: Vec<(Digest, String, Vec<u8>)>,
    /// (digest, bytes) of every blob.
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

impl MemoryStore {
    /// A copy of every repository's contents, sorted for stable output.
    pub fn contents(&self) -> Vec<RepoContents> {
        let repos = self.repos.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<RepoContents> = repos
            .iter()
            .map(|(name, r)| {
                let mut c = RepoContents {
                    name: name.clone(),
                    tags: r.tags.iter().map(|(t, d)| (t.clone(), d.clone())).collect(),
                    manifests: r
                        .manifests
                        .iter()
                        .map(|(d, (m, b))| (d.clone(), m.clone(), b.clone()))
                        .collect(),
                    blobs: r
                        .blobs
                        .iter()
                        .map(|(d, b)| (d.clone(), b.clone()))
                        .collect(),
                };
                c.tags.sort();
                c.manifests.sort_by(|a, b| a.0.cmp(&b.0));
                c.blobs.sort_by(|a, b| a.0.cmp(&b.0));
                c
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

impl ArtifactStore for MemoryStore {
    fn manifest(&self, image: &ImageRef) -> Result<Fetched, StoreError> {
        let repos = self.repos.read().unwrap_or_else(|e| e.into_inner());
        let repo = repos.get(&image.name()).ok_or_else(|| not_found(image))?;
        let digest = match (image.digest(), image.tag()) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => repo.tags.get(t).cloned().ok_or_else(|| not_found(image))?,
            (None, None) => return Err(not_found(image)),
        };
        let (media_type, bytes) = repo
            .manifests
            .get(&digest)
            .cloned()
            .ok_or_else(|| not_found(image))?;
        Ok(Fetched {
            digest,
            media_type,
            bytes,
        })
    }

    fn blob(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let repos = self.repos.read().unwrap_or_else(|e| e.into_inner());
        repos
            .get(&image.name())
            .and_then(|r| r.blobs.get(digest).cloned())
            .ok_or_else(|| not_found(format!("{}@{digest}", image.name())))
    }

    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let repos = self.repos.read().unwrap_or_else(|e| e.into_inner());
        Ok(repos
            .get(&image.name())
            .and_then(|r| r.referrers.get(digest).cloned())
            .unwrap_or_default())
    }
}
