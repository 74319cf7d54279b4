//! An opened image: its identity (manifest and config digests), its parsed
//! configuration and its layers, ready to be walked.

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::ImageError;
use crate::limits::{Limit, Limits};
use crate::platform::Platform;
use crate::registry::RegistryOptions;
use crate::resolve::{self, Documents, Resolved, Selection};
use crate::source::archive::{ArchiveStore, TarIndex};
use crate::source::oci_layout::OciLayoutStore;
use crate::source::{ImageInput, Locator, Store, docker_archive, read_small};
use crate::spec::{Descriptor, Document, ImageConfig, Manifest, media};

/// How to open an image.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Resource limits.
    pub limits: Limits,
    /// Platform to pick from a multi-platform index; `None` means this
    /// host's platform (and a single-platform image of another platform is
    /// accepted).
    pub platform: Option<Platform>,
    /// Registry access (credentials, TLS, plain HTTP opt-in).
    pub registry: RegistryOptions,
}

impl OpenOptions {
    pub(crate) fn selection(&self, name: Option<String>) -> Selection {
        Selection {
            platform: self.platform.clone().unwrap_or_else(Platform::host),
            explicit_platform: self.platform.is_some(),
            name,
        }
    }
}

/// One layer of an image, base layer first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Position, 0 for the base layer.
    pub index: usize,
    /// Digest of the (compressed) blob, when the source addresses layers by
    /// digest (not docker archives, not root filesystems).
    pub digest: Option<Digest>,
    /// Digest of the uncompressed tar stream, from the image config.
    pub diff_id: Option<Digest>,
    /// Media type as the manifest declares it (the compression actually
    /// used is sniffed from the bytes).
    pub media_type: String,
    /// Blob size in bytes, when known before reading.
    pub size: Option<u64>,
    pub(crate) locator: Locator,
}

/// The kind of source an image was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceKind {
    /// OCI image layout directory.
    OciLayout,
    /// OCI archive.
    OciArchive,
    /// Docker archive.
    DockerArchive,
    /// Root filesystem directory.
    RootFs,
    /// Registry.
    Registry,
}

pub(crate) enum Backing {
    Store(Box<dyn Store>),
    RootFs(PathBuf),
}

/// An opened image. Its manifest and config were verified against their
/// digests when it was opened; its layers are verified while walked.
pub struct Image {
    pub(crate) input: String,
    pub(crate) kind: SourceKind,
    pub(crate) backing: Backing,
    pub(crate) manifest_digest: Option<Digest>,
    pub(crate) manifest_media_type: Option<String>,
    pub(crate) config_digest: Option<Digest>,
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<Layer>,
    pub(crate) repo_tags: Vec<String>,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("input", &self.input)
            .field("kind", &self.kind)
            .field("manifest_digest", &self.manifest_digest)
            .field("config_digest", &self.config_digest)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

impl Image {
    /// Opens the image `arg` names (see [`ImageInput::detect`]).
    pub fn open(arg: &str, options: &OpenOptions) -> Result<Image, ImageError> {
        Image::open_input(&ImageInput::detect(arg)?, options)
    }

    /// Opens an already detected input.
    pub fn open_input(input: &ImageInput, options: &OpenOptions) -> Result<Image, ImageError> {
        match input {
            ImageInput::OciLayout { path, name } => open_oci_layout(path, name.clone(), options),
            ImageInput::OciArchive { path, name } => open_oci_archive(path, name.clone(), options),
            ImageInput::DockerArchive { path, name } => {
                docker_archive::open(path, name.as_deref(), &options.limits)
            }
            ImageInput::RootFs { path } => open_rootfs(path, &options.limits),
            ImageInput::Registry(reference) => crate::registry::open_image(reference, options),
        }
    }

    /// The input as the user named it, for messages and reports.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What kind of source this image came from.
    pub fn source_kind(&self) -> &SourceKind {
        &self.kind
    }

    /// Digest of the image manifest (OCI layouts, OCI archives, registries).
    pub fn manifest_digest(&self) -> Option<&Digest> {
        self.manifest_digest.as_ref()
    }

    /// Media type of the image manifest.
    pub fn manifest_media_type(&self) -> Option<&str> {
        self.manifest_media_type.as_deref()
    }

    /// Digest of the image config: the image ID `docker images` shows.
    pub fn config_digest(&self) -> Option<&Digest> {
        self.config_digest.as_ref()
    }

    /// The parsed image configuration (empty for root filesystems).
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// Layers, base first (a root filesystem is one layer without digests).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// `repo:tag` names recorded in a docker archive or OCI layout.
    pub fn repo_tags(&self) -> &[String] {
        &self.repo_tags
    }

    /// The limits this image is read under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

struct StoreDocuments<'a> {
    store: &'a dyn Store,
    limits: &'a Limits,
}

impl Documents for StoreDocuments<'_> {
    fn document(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let what = format!("{}@{}", self.store.name(), d.digest);
        let bytes = read_small(
            self.store,
            &Locator::Blob(d.digest.clone()),
            Some(d.size),
            self.limits.max_manifest_bytes,
            Limit::ManifestBytes,
            &what,
        )?;
        resolve::verify(&bytes, &d.digest, &what)?;
        Ok(bytes)
    }
}

fn open_oci_layout(
    path: &Path,
    name: Option<String>,
    options: &OpenOptions,
) -> Result<Image, ImageError> {
    let store = OciLayoutStore::open(path)?;
    from_oci_store(Box::new(store), SourceKind::OciLayout, name, options)
}

fn open_oci_archive(
    path: &Path,
    name: Option<String>,
    options: &OpenOptions,
) -> Result<Image, ImageError> {
    let index = TarIndex::open(path, &options.limits)?;
    from_oci_store(
        Box::new(ArchiveStore::new(index)),
        SourceKind::OciArchive,
        name,
        options,
    )
}

fn from_oci_store(
    store: Box<dyn Store>,
    kind: SourceKind,
    name: Option<String>,
    options: &OpenOptions,
) -> Result<Image, ImageError> {
    let limits = &options.limits;
    let input = store.name().to_owned();
    let index_name = format!("{input}/index.json");
    let bytes = read_small(
        store.as_ref(),
        &Locator::Member("index.json".into()),
        None,
        limits.max_manifest_bytes,
        Limit::ManifestBytes,
        &index_name,
    )?;
    let index = match Document::parse(&bytes, Some(media::OCI_INDEX)) {
        Ok(Document::Index(index)) => index,
        Ok(Document::Manifest(_)) => {
            return Err(ImageError::malformed(
                &index_name,
                "is a manifest, not an index",
            ));
        }
        Err(reason) => return Err(ImageError::malformed(&index_name, reason)),
    };
    let docs = StoreDocuments {
        store: store.as_ref(),
        limits,
    };
    let resolved = resolve::resolve(&docs, index, &index_name, &options.selection(name), limits)?;
    let repo_tags = Vec::new();
    build_from_manifest(store, kind, input, resolved, repo_tags, limits)
}

/// Builds an image from a verified manifest: reads and verifies the config,
/// pairs layers with diffIDs.
pub(crate) fn build_from_manifest(
    store: Box<dyn Store>,
    kind: SourceKind,
    input: String,
    resolved: Resolved,
    repo_tags: Vec<String>,
    limits: &Limits,
) -> Result<Image, ImageError> {
    let Resolved {
        manifest,
        digest,
        media_type,
    } = resolved;
    let config = read_config(store.as_ref(), &manifest, &input, limits)?;
    let layers = pair_layers(&manifest, &config, &input, limits)?;
    Ok(Image {
        input,
        kind,
        backing: Backing::Store(store),
        manifest_digest: Some(digest),
        manifest_media_type: Some(media_type),
        config_digest: Some(manifest.config.digest.clone()),
        config,
        layers,
        repo_tags,
        limits: limits.clone(),
    })
}

fn read_config(
    store: &dyn Store,
    manifest: &Manifest,
    input: &str,
    limits: &Limits,
) -> Result<ImageConfig, ImageError> {
    let d = &manifest.config;
    let what = format!("{input} config {}", d.digest);
    if d.media_type != media::OCI_CONFIG && d.media_type != media::DOCKER_CONFIG {
        return Err(ImageError::Unsupported {
            input: input.to_owned(),
            what: format!(
                "artifact: config media type {:?} is not a container image",
                d.media_type
            ),
        });
    }
    let bytes = read_small(
        store,
        &Locator::Blob(d.digest.clone()),
        Some(d.size),
        limits.max_config_bytes,
        Limit::ConfigBytes,
        &what,
    )?;
    resolve::verify(&bytes, &d.digest, &what)?;
    parse_config(&bytes, &what)
}

pub(crate) fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfig, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
        input: what.to_owned(),
        source,
    })
}

fn pair_layers(
    manifest: &Manifest,
    config: &ImageConfig,
    input: &str,
    limits: &Limits,
) -> Result<Vec<Layer>, ImageError> {
    if manifest.layers.len() > limits.max_layers {
        return Err(ImageError::limit(
            Limit::Layers,
            limits.max_layers as u64,
            input,
        ));
    }
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::malformed(
            input,
            format!(
                "manifest lists {} layers but the config lists {} diffIDs",
                manifest.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    manifest
        .layers
        .iter()
        .zip(diff_ids)
        .enumerate()
        .map(|(index, (d, diff_id))| {
            if media::is_encrypted_layer(&d.media_type) {
                return Err(ImageError::Unsupported {
                    input: format!("{input} layer {index}"),
                    what: format!("encrypted layer ({})", d.media_type),
                });
            }
            Ok(Layer {
                index,
                digest: Some(d.digest.clone()),
                diff_id: Some(diff_id.clone()),
                media_type: d.media_type.clone(),
                size: Some(d.size),
                locator: Locator::Blob(d.digest.clone()),
            })
        })
        .collect()
}

fn open_rootfs(path: &Path, limits: &Limits) -> Result<Image, ImageError> {
    let input = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| ImageError::io(&input, e))?;
    if !meta.is_dir() {
        return Err(ImageError::UnknownInput {
            input,
            reason: "not a directory".into(),
        });
    }
    Ok(Image {
        input,
        kind: SourceKind::RootFs,
        backing: Backing::RootFs(path.to_owned()),
        manifest_digest: None,
        manifest_media_type: None,
        config_digest: None,
        config: ImageConfig::default(),
        layers: vec![Layer {
            index: 0,
            digest: None,
            diff_id: None,
            media_type: "rootfs".into(),
            size: None,
            locator: Locator::Member(String::new()),
        }],
        repo_tags: Vec::new(),
        limits: limits.clone(),
    })
}
