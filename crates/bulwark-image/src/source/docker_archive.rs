//! `docker save` archives: `manifest.json` names a config file and layer
//! tars by member path. There is no registry manifest, so the image has no
//! manifest digest; the config is verified when its member name carries its
//! digest, and every layer against the config's diffIDs while walked.

use std::path::Path;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::image::{Backing, Image, Layer, SourceKind, parse_config};
use crate::limits::{Limit, Limits};
use crate::resolve;
use crate::source::archive::{ArchiveStore, TarIndex};
use crate::source::{Locator, Store, read_small};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub(crate) fn open(path: &Path, name: Option<&str>, limits: &Limits) -> Result<Image, ImageError> {
    let index = TarIndex::open(path, limits)?;
    let store = ArchiveStore::new(index);
    let input = store.name().to_owned();
    let manifest_name = format!("{input}/manifest.json");
    let bytes = read_small(
        &store,
        &Locator::Member("manifest.json".into()),
        None,
        limits.max_manifest_bytes,
        Limit::ManifestBytes,
        &manifest_name,
    )?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
            input: manifest_name.clone(),
            source,
        })?;
    let entry = choose(entries, name, &manifest_name)?;
    let config_member = normalize_member(&entry.config, &manifest_name)?;
    let config_what = format!("{input}/{config_member}");
    let config_bytes = read_small(
        &store,
        &Locator::Member(config_member.clone()),
        None,
        limits.max_config_bytes,
        Limit::ConfigBytes,
        &config_what,
    )?;
    let config_digest = Digest::sha256(&config_bytes);
    if let Some(named) = digest_in_name(&config_member) {
        resolve::verify(&config_bytes, &named, &config_what)?;
    }
    let config = parse_config(&config_bytes, &config_what)?;
    if entry.layers.len() > limits.max_layers {
        return Err(ImageError::limit(
            Limit::Layers,
            limits.max_layers as u64,
            &input,
        ));
    }
    if entry.layers.len() != config.rootfs.diff_ids.len() {
        return Err(ImageError::malformed(
            &manifest_name,
            format!(
                "lists {} layers but the config lists {} diffIDs",
                entry.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    let layers = entry
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .enumerate()
        .map(|(index, (member, diff_id))| {
            let member = normalize_member(member, &manifest_name)?;
            let size = store.index().member_size(&member);
            if size.is_none() {
                return Err(ImageError::malformed(
                    &manifest_name,
                    format!("layer {index} names missing member {member:?}"),
                ));
            }
            Ok(Layer {
                index,
                digest: None,
                diff_id: Some(diff_id.clone()),
                media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
                size,
                locator: Locator::Member(member),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Image {
        input,
        kind: SourceKind::DockerArchive,
        backing: Backing::Store(Box::new(store)),
        manifest_digest: None,
        manifest_media_type: None,
        config_digest: Some(config_digest),
        config,
        layers,
        repo_tags: entry.repo_tags.unwrap_or_default(),
        limits: limits.clone(),
    })
}

fn choose(entries: Vec<Entry>, name: Option<&str>, input: &str) -> Result<Entry, ImageError> {
    let tags = |e: &Entry| e.repo_tags.clone().unwrap_or_default();
    let available = || {
        let all: Vec<String> = entries.iter().flat_map(tags).collect();
        if all.is_empty() {
            "untagged images".to_owned()
        } else {
            all.join(", ")
        }
    };
    match name {
        Some(name) => {
            let wanted = |t: &String| t == name || t.ends_with(&format!("/{name}"));
            let pos = entries.iter().position(|e| tags(e).iter().any(wanted));
            match pos {
                Some(i) => Ok(entries
                    .into_iter()
                    .nth(i)
                    .ok_or_else(|| ImageError::malformed(input, "index"))?),
                None => Err(ImageError::NoMatch {
                    input: input.to_owned(),
                    wanted: format!("name {name:?}"),
                    available: available(),
                }),
            }
        }
        None if entries.len() == 1 => entries
            .into_iter()
            .next()
            .ok_or_else(|| ImageError::malformed(input, "no images")),
        None if entries.is_empty() => Err(ImageError::malformed(input, "lists no images")),
        None => Err(ImageError::NoMatch {
            input: input.to_owned(),
            wanted:
                "one image (the archive holds several; name one as docker-archive:FILE:REPO:TAG)"
                    .into(),
            available: available(),
        }),
    }
}

fn normalize_member(name: &str, input: &str) -> Result<String, ImageError> {
    crate::path::EntryPath::normalize(name.as_bytes())
        .map(|p| p.to_string())
        .map_err(|e| ImageError::UnsafePath {
            input: input.to_owned(),
            path: name.to_owned(),
            reason: e.reason(),
        })
}

/// `<hex>.json` or `blobs/sha256/<hex>` carry the config's digest.
fn digest_in_name(member: &str) -> Option<Digest> {
    if let Some(hex) = member.strip_prefix("blobs/sha256/") {
        return format!("sha256:{hex}").parse().ok();
    }
    let hex = member.strip_suffix(".json")?;
    format!("sha256:{hex}").parse().ok()
}
