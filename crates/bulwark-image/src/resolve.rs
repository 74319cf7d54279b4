//! From an index (OCI layout `index.json`, a registry manifest list) down to
//! one image manifest: by ref name, then by platform, through nested indexes
//! with a depth limit and loop detection.

use std::collections::HashSet;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::limits::{Limit, Limits};
use crate::platform::Platform;
use crate::spec::{Descriptor, Document, Index, Manifest, REF_NAME_ANNOTATION, media};

/// Which image of an index the user wants.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    pub platform: Platform,
    /// The user asked for this platform (a single image of another platform
    /// is then an error rather than accepted).
    pub explicit_platform: bool,
    /// A ref name (OCI layout annotation) to pick.
    pub name: Option<String>,
}

/// Fetches a manifest or index by descriptor, verified against its digest.
pub(crate) trait Documents {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, ImageError>;
}

/// The chosen manifest and how it was reached.
pub(crate) struct Resolved {
    pub manifest: Manifest,
    pub digest: Digest,
    pub media_type: String,
}

/// Walks from `index` to a manifest.
pub(crate) fn resolve(
    docs: &dyn Documents,
    index: Index,
    input: &str,
    selection: &Selection,
    limits: &Limits,
) -> Result<Resolved, ImageError> {
    let mut seen = HashSet::new();
    let mut current = index;
    let mut name = selection.name.as_deref();
    for _depth in 0..=limits.max_nesting {
        let chosen = choose(&current, input, selection, name)?.clone();
        name = None;
        if !seen.insert(chosen.digest.clone()) {
            return Err(ImageError::malformed(
                input,
                format!("index refers to itself through {}", chosen.digest),
            ));
        }
        let bytes = docs.document(&chosen)?;
        let what = format!("{input}@{}", chosen.digest);
        match Document::parse(&bytes, Some(&chosen.media_type))
            .map_err(|reason| ImageError::malformed(&what, reason))?
        {
            Document::Index(next) => current = next,
            Document::Manifest(manifest) => {
                let manifest = *manifest;
                return Ok(Resolved {
                    media_type: manifest
                        .media_type
                        .clone()
                        .unwrap_or_else(|| chosen.media_type.clone()),
                    manifest,
                    digest: chosen.digest,
                });
            }
        }
    }
    Err(ImageError::limit(
        Limit::Nesting,
        u64::from(limits.max_nesting),
        input,
    ))
}

fn choose<'a>(
    index: &'a Index,
    input: &str,
    selection: &Selection,
    name: Option<&str>,
) -> Result<&'a Descriptor, ImageError> {
    let usable =
        |d: &&Descriptor| media::is_index(&d.media_type) || media::is_manifest(&d.media_type);
    let mut candidates: Vec<&Descriptor> = index.manifests.iter().filter(usable).collect();
    if let Some(name) = name {
        candidates.retain(|d| ref_name_matches(d, name));
        if candidates.is_empty() {
            return Err(no_match(index, input, &format!("name {name:?}")));
        }
    }
    let platform_matches: Vec<&Descriptor> = candidates
        .iter()
        .copied()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| selection.platform.matches(p))
        })
        .collect();
    if let Some(first) = platform_matches.first() {
        return Ok(first);
    }
    match candidates.as_slice() {
        [only] if only.platform.is_none() || !selection.explicit_platform => Ok(only),
        [] => Err(ImageError::malformed(
            input,
            "index lists no image manifests",
        )),
        _ => Err(no_match(
            index,
            input,
            &format!("platform {}", selection.platform),
        )),
    }
}

fn ref_name_matches(d: &Descriptor, name: &str) -> bool {
    d.annotations
        .get(REF_NAME_ANNOTATION)
        .is_some_and(|n| n == name)
        || d.annotations
            .get("io.containerd.image.name")
            .is_some_and(|n| n == name || n.ends_with(&format!("/{name}")))
}

fn no_match(index: &Index, input: &str, wanted: &str) -> ImageError {
    let available: Vec<String> = index
        .manifests
        .iter()
        .map(|d| {
            let name = d
                .annotations
                .get(REF_NAME_ANNOTATION)
                .map(|n| format!("{n} "));
            let platform = d.platform.as_ref().map(|p| format!("{p} "));
            format!(
                "{}{}{}",
                name.unwrap_or_default(),
                platform.unwrap_or_default(),
                d.digest.short()
            )
        })
        .collect();
    ImageError::NoMatch {
        input: input.to_owned(),
        wanted: wanted.to_owned(),
        available: if available.is_empty() {
            "nothing".into()
        } else {
            available.join(", ")
        },
    }
}

/// Verifies that `bytes` hash to `expected`.
pub(crate) fn verify(bytes: &[u8], expected: &Digest, input: &str) -> Result<(), ImageError> {
    let actual = Digest::of(expected.algorithm(), bytes);
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            input: input.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}
