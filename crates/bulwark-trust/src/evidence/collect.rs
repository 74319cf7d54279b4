//! Gathering [`ImageEvidence`] through an [`ArtifactStore`].

use serde::Deserialize;

use super::store::{ArtifactStore, Descriptor, Fetched, StoreError};
use super::{BaseEvidence, ImageConfig, ImageEvidence};
use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::signature::{SignatureMaterial, media_types};

/// Upper bounds on what is fetched for one image.
const MAX_REFERRERS: usize = 32;
const MAX_SIGNATURE_BYTES: u64 = 1 << 20;
const MAX_SIGNATURE_LAYERS: usize = 16;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Why evidence could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{image}: {source}")]
    Store {
        image: String,
        #[source]
        source: StoreError,
    },
    #[error("{image}: {problem}")]
    Invalid { image: String, problem: String },
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Gather evidence for `image` (resolving a tag to a digest) and for each
/// of `bases` (the policy's trusted base images).
pub fn collect(
    store: &dyn ArtifactStore,
    image: &ImageRef,
    bases: &[(String, ImageRef)],
) -> Result<ImageEvidence, CollectError> {
    let top = fetch_manifest(store, image)?;
    let pinned = image.with_digest(top.digest.clone());
    let (platform, manifest) = resolve_platform(store, &pinned, &top)?;
    let config = read_config(store, &pinned, &manifest)?;
    let mut signatures = signatures_for(store, &pinned, &top.digest);
    if let Some(p) = &platform {
        signatures.extend(signatures_for(store, &pinned, p));
    }
    let bases = bases
        .iter()
        .filter_map(|(entry, base)| collect_base(store, entry, base).ok())
        .collect();
    Ok(ImageEvidence {
        reference: image.clone(),
        digest: top.digest,
        platform_digest: platform,
        config,
        signatures,
        bases,
        findings: None,
        setuid_files: None,
    })
}

fn invalid(image: &ImageRef, problem: impl ToString) -> CollectError {
    CollectError::Invalid {
        image: image.to_string(),
        problem: problem.to_string(),
    }
}

fn store_err(image: &ImageRef) -> impl FnOnce(StoreError) -> CollectError + '_ {
    move |source| CollectError::Store {
        image: image.to_string(),
        source,
    }
}

/// Fetch a manifest and check its bytes against the digest asked for.
fn fetch_manifest(store: &dyn ArtifactStore, image: &ImageRef) -> Result<Fetched, CollectError> {
    let fetched = store.manifest(image).map_err(store_err(image))?;
    if !fetched.digest.matches(&fetched.bytes) {
        return Err(invalid(
            image,
            "manifest bytes do not hash to the digest the store reported",
        ));
    }
    if let Some(want) = image.digest()
        && *want != fetched.digest
    {
        return Err(invalid(
            image,
            format!(
                "store returned manifest {} for a pinned reference",
                fetched.digest
            ),
        ));
    }
    Ok(fetched)
}

fn parse_manifest(image: &ImageRef, bytes: &[u8]) -> Result<Manifest, CollectError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(image, format!("manifest: {e}")))
}

/// For an index, pick the linux/amd64 manifest (or the only one); return
/// its digest and the parsed image manifest.
fn resolve_platform(
    store: &dyn ArtifactStore,
    image: &ImageRef,
    top: &Fetched,
) -> Result<(Option<Digest>, Manifest), CollectError> {
    let manifest = parse_manifest(image, &top.bytes)?;
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| top.media_type.clone());
    if !INDEX_TYPES.contains(&media_type.as_str()) {
        if !MANIFEST_TYPES.contains(&media_type.as_str()) {
            return Err(invalid(
                image,
                format!("media type {media_type:?} is not an image manifest or index"),
            ));
        }
        return Ok((None, manifest));
    }
    let chosen = manifest
        .manifests
        .iter()
        .find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == "linux"
                    && p.architecture
                        == std::env::consts::ARCH
                            .replace("x86_64", "amd64")
                            .replace("aarch64", "arm64")
            })
        })
        .or_else(|| (manifest.manifests.len() == 1).then(|| &manifest.manifests[0]))
        .ok_or_else(|| invalid(image, "index has no manifest for this platform"))?;
    let child = fetch_manifest(store, &image.with_digest(chosen.digest.clone()))?;
    Ok((Some(child.digest), parse_manifest(image, &child.bytes)?))
}

fn read_config(
    store: &dyn ArtifactStore,
    image: &ImageRef,
    manifest: &Manifest,
) -> Result<Option<ImageConfig>, CollectError> {
    let Some(desc) = &manifest.config else {
        return Ok(None);
    };
    let bytes = store.blob(image, &desc.digest).map_err(store_err(image))?;
    if !desc.digest.matches(&bytes) {
        return Err(invalid(
            image,
            format!("config blob does not hash to {}", desc.digest),
        ));
    }
    ImageConfig::parse(&bytes)
        .map(Some)
        .map_err(|e| invalid(image, e))
}

/// Every signature of `digest`: cosign `.sig` and `.att` tags, and
/// referrers carrying Sigstore bundles or cosign signatures. Missing tags
/// and unreadable attachments are skipped (a missing signature is the
/// policy's concern), never an error.
fn signatures_for(
    store: &dyn ArtifactStore,
    image: &ImageRef,
    digest: &Digest,
) -> Vec<(Digest, SignatureMaterial)> {
    let mut out = Vec::new();
    for suffix in ["sig", "att"] {
        let tag = image.with_tag(&digest.cosign_tag(suffix));
        if let Ok(fetched) = fetch_manifest(store, &tag) {
            out.extend(layers_as_material(store, image, &fetched));
        }
    }
    if let Ok(referrers) = store.referrers(image, digest) {
        for desc in referrers.iter().take(MAX_REFERRERS) {
            let relevant = desc.artifact_type.as_deref().is_some_and(|t| {
                media_types::is_bundle(t) || t == media_types::COSIGN_SIG_ARTIFACT
            });
            if !relevant {
                continue;
            }
            if let Ok(fetched) = fetch_manifest(store, &image.with_digest(desc.digest.clone())) {
                out.extend(layers_as_material(store, image, &fetched));
            }
        }
    }
    out.into_iter().map(|m| (digest.clone(), m)).collect()
}

fn layers_as_material(
    store: &dyn ArtifactStore,
    image: &ImageRef,
    fetched: &Fetched,
) -> Vec<SignatureMaterial> {
    let Ok(manifest) = parse_manifest(image, &fetched.bytes) else {
        return Vec::new();
    };
    manifest
        .layers
        .iter()
        .take(MAX_SIGNATURE_LAYERS)
        .filter(|l| l.size <= MAX_SIGNATURE_BYTES)
        .filter_map(|layer| {
            SignatureMaterial::from_layer(
                &layer.media_type,
                Vec::new(),
                layer.annotations.clone(),
            )?;
            let bytes = store.blob(image, &layer.digest).ok()?;
            if !layer.digest.matches(&bytes) || bytes.len() as u64 > MAX_SIGNATURE_BYTES {
                return None;
            }
            SignatureMaterial::from_layer(&layer.media_type, bytes, layer.annotations.clone())
        })
        .collect()
}

fn collect_base(
    store: &dyn ArtifactStore,
    entry: &str,
    base: &ImageRef,
) -> Result<BaseEvidence, CollectError> {
    let top = fetch_manifest(store, base)?;
    let pinned = base.with_digest(top.digest.clone());
    let (platform, manifest) = resolve_platform(store, &pinned, &top)?;
    let config =
        read_config(store, &pinned, &manifest)?.ok_or_else(|| invalid(base, "no image config"))?;
    let mut signatures = signatures_for(store, &pinned, &top.digest);
    if let Some(p) = &platform {
        signatures.extend(signatures_for(store, &pinned, p));
    }
    Ok(BaseEvidence {
        entry: entry.to_string(),
        reference: base.clone(),
        digest: top.digest,
        platform_digest: platform,
        diff_ids: config.diff_ids,
        signatures,
    })
}
