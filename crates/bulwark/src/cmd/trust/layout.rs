//! An [`ArtifactStore`] over an OCI image layout directory (`oci-layout`,
//! `index.json`, `blobs/sha256/`). Tags are the index entries'
//! `org.opencontainers.image.ref.name` annotations, either the bare tag or
//! the full `registry/repository:tag`; referrers are found by reading the
//! `subject` of the small manifests in `blobs/`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bulwark_trust::evidence::{ArtifactStore, Descriptor, Fetched, StoreError};
use bulwark_trust::{Digest, ImageRef};
use serde::Deserialize;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests larger than this are not considered as referrers.
const MAX_REFERRER_BYTES: u64 = 1 << 20;
/// Blobs larger than this are refused (a layer walk streams; this store
/// only serves manifests, configs and signatures).
const MAX_BLOB_BYTES: u64 = 64 << 20;

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

pub struct LayoutStore {
    root: PathBuf,
    index: Vec<Descriptor>,
}

impl LayoutStore {
    pub fn open(root: &Path) -> anyhow::Result<LayoutStore> {
        let marker = root.join("oci-layout");
        let layout: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&marker)
                .with_context(|| format!("{}: not an OCI layout", root.display()))?,
        )
        .with_context(|| format!("{}", marker.display()))?;
        anyhow::ensure!(
            layout["imageLayoutVersion"].as_str() == Some("1.0.0"),
            "{}: imageLayoutVersion must be 1.0.0",
            marker.display()
        );
        let index_path = root.join("index.json");
        let index: Index = serde_json::from_slice(
            &std::fs::read(&index_path)
                .with_context(|| format!("read {}", index_path.display()))?,
        )
        .with_context(|| format!("{}", index_path.display()))?;
        Ok(LayoutStore {
            root: root.to_path_buf(),
            index: index.manifests,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ref name `index.json` gives the manifest or index `digest`
    /// (how an image walker picks it from the layout).
    pub fn ref_name(&self, digest: &Digest) -> Option<&str> {
        self.index
            .iter()
            .find(|d| d.digest == *digest)
            .and_then(|d| d.annotations.get(REF_NAME))
            .map(String::as_str)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // `Digest` only holds 64 lowercase hex digits: no path traversal.
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn read(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let meta =
            std::fs::metadata(&path).map_err(|_| StoreError::NotFound(digest.to_string()))?;
        if meta.len() > limit {
            return Err(fail(
                &path,
                format!("{} bytes, over the {limit}-byte limit", meta.len()),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| fail(&path, e))?;
        if !digest.matches(&bytes) {
            return Err(fail(&path, "content does not match its digest"));
        }
        Ok(bytes)
    }

    fn lookup_tag(&self, image: &ImageRef, tag: &str) -> Option<&Descriptor> {
        let full = format!("{}:{tag}", image.name());
        self.index
            .iter()
            .find(|d| d.annotations.get(REF_NAME).is_some_and(|n| *n == full))
            .or_else(|| {
                self.index
                    .iter()
                    .find(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == tag))
            })
    }
}

fn fail(path: &Path, problem: impl ToString) -> StoreError {
    StoreError::Failed {
        what: path.display().to_string(),
        problem: problem.to_string(),
    }
}

fn media_type_of(bytes: &[u8], fallback: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| fallback.to_string())
}

impl ArtifactStore for LayoutStore {
    fn manifest(&self, image: &ImageRef) -> Result<Fetched, StoreError> {
        let (digest, declared) = match (image.digest(), image.tag()) {
            // A manifest may leave out its own mediaType (umoci does); the
            // index entry that lists it declares it.
            (Some(d), _) => {
                let declared = self.index.iter().find(|e| e.digest == *d);
                (
                    d.clone(),
                    declared.map(|e| e.media_type.clone()).unwrap_or_default(),
                )
            }
            (None, Some(tag)) => {
                let d = self
                    .lookup_tag(image, tag)
                    .ok_or_else(|| StoreError::NotFound(image.to_string()))?;
                (d.digest.clone(), d.media_type.clone())
            }
            (None, None) => return Err(StoreError::NotFound(image.to_string())),
        };
        let bytes = self.read(&digest, MAX_REFERRER_BYTES * 4)?;
        Ok(Fetched {
            media_type: media_type_of(&bytes, &declared),
            digest,
            bytes,
        })
    }

    fn blob(&self, _image: &ImageRef, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.read(digest, MAX_BLOB_BYTES)
    }

    fn referrers(&self, _image: &ImageRef, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let entries = std::fs::read_dir(&dir).map_err(|e| fail(&dir, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let small = entry
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_REFERRER_BYTES);
            let Some(candidate) = entry
                .file_name()
                .to_str()
                .and_then(|h| format!("sha256:{h}").parse::<Digest>().ok())
            else {
                continue;
            };
            if !small {
                continue;
            }
            let Ok(bytes) = self.read(&candidate, MAX_REFERRER_BYTES) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if v["subject"]["digest"].as_str() == Some(digest.to_string().as_str()) {
                out.push(Descriptor {
                    media_type: media_type_of(&bytes, ""),
                    digest: candidate,
                    size: bytes.len() as u64,
                    artifact_type: v["artifactType"].as_str().map(str::to_string),
                    annotations: Default::default(),
                    platform: None,
                });
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }
}
