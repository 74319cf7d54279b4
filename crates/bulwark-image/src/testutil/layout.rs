//! OCI image layouts and docker archives written in code.

use std::fs;
use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::digest::Digest;
use crate::platform::Platform;
use crate::spec::{Descriptor, media};
use crate::testutil::tarball::compress;

/// Writes `bytes` as a blob of the layout at `dir`.
pub fn write_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Descriptor {
    let digest = Digest::sha256(bytes);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(digest.hex()), bytes).unwrap();
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size: bytes.len() as u64,
        platform: None,
        annotations: Default::default(),
        artifact_type: None,
        urls: Vec::new(),
    }
}

/// Writes `oci-layout` and `index.json` listing `manifests`.
pub fn write_index(dir: &Path, manifests: &[Descriptor]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Writes the config, manifest and index of a linux/amd64 image whose layer
/// blobs are already written (possibly hostile: truncated, mislabelled),
/// with the diffIDs given; returns the manifest descriptor.
pub fn write_image(dir: &Path, layers: &[Descriptor], diff_ids: &[Digest]) -> Descriptor {
    let config = serde_json::json!({"os": "linux", "architecture": "amd64",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let config = write_blob(
        dir,
        media::OCI_CONFIG,
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": config, "layers": layers});
    let manifest = write_blob(
        dir,
        media::OCI_MANIFEST,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    write_index(dir, std::slice::from_ref(&manifest));
    manifest
}

/// Builds a single-image OCI layout from tar layers.
pub struct LayoutBuilder {
    dir: PathBuf,
    layers: Vec<(Vec<u8>, Compression)>,
    platform: Platform,
    name: Option<String>,
    config_extra: serde_json::Value,
}

impl LayoutBuilder {
    /// A layout to be written at `dir`, for linux/amd64.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LayoutBuilder {
            dir: dir.into(),
            layers: Vec::new(),
            platform: "linux/amd64".parse().unwrap(),
            name: None,
            config_extra: serde_json::json!({}),
        }
    }

    /// Adds a layer (an uncompressed tar stream) stored with `compression`.
    pub fn layer(mut self, tar: Vec<u8>, compression: Compression) -> Self {
        self.layers.push((tar, compression));
        self
    }

    /// Sets the platform in the config and index.
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = platform.parse().unwrap();
        self
    }

    /// Sets the ref name annotation in the index.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets the `config` object of the image config.
    pub fn run_config(mut self, config: serde_json::Value) -> Self {
        self.config_extra = config;
        self
    }

    /// Writes blobs and returns the manifest descriptor, without an index.
    pub fn write_manifest(&self) -> Descriptor {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        for (tar, compression) in &self.layers {
            let media_type = match compression {
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            layer_descs.push(write_blob(
                &self.dir,
                media_type,
                &compress(tar, *compression),
            ));
            diff_ids.push(Digest::sha256(tar));
        }
        let config = serde_json::json!({
            "os": self.platform.os,
            "architecture": self.platform.architecture,
            "variant": self.platform.variant,
            "config": self.config_extra,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "bulwark testutil"}],
        });
        let config_desc = write_blob(
            &self.dir,
            media::OCI_CONFIG,
            &serde_json::to_vec(&config).unwrap(),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config_desc,
            "layers": layer_descs,
        });
        let mut desc = write_blob(
            &self.dir,
            media::OCI_MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        );
        desc.platform = Some(self.platform.clone());
        if let Some(name) = &self.name {
            desc.annotations
                .insert(crate::spec::REF_NAME_ANNOTATION.to_owned(), name.clone());
        }
        desc
    }

    /// Writes the layout; returns the manifest descriptor.
    pub fn write(self) -> Descriptor {
        let desc = self.write_manifest();
        write_index(&self.dir, std::slice::from_ref(&desc));
        desc
    }
}

/// Builds a `docker save`-style archive from tar layers.
pub struct DockerArchiveBuilder {
    layers: Vec<Vec<u8>>,
    tags: Vec<String>,
}

impl DockerArchiveBuilder {
    /// An archive with one image tagged `tag`.
    pub fn new(tag: &str) -> Self {
        DockerArchiveBuilder {
            layers: Vec::new(),
            tags: vec![tag.to_owned()],
        }
    }

    /// Adds an uncompressed layer.
    pub fn layer(mut self, tar: Vec<u8>) -> Self {
        self.layers.push(tar);
        self
    }

    /// Writes the archive to `path` (old `docker save` layout:
    /// `<id>/layer.tar`, `<config hex>.json`, `manifest.json`).
    pub fn write(self, path: &Path) {
        let diff_ids: Vec<Digest> = self.layers.iter().map(|l| Digest::sha256(l)).collect();
        let config = serde_json::json!({
            "os": "linux", "architecture": "amd64",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_name = format!("{}.json", Digest::sha256(&config).hex());
        let mut b = tar::Builder::new(fs::File::create(path).unwrap());
        let mut layer_names = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let name = format!("{i:064x}/layer.tar");
            append(&mut b, &name, layer);
            layer_names.push(name);
        }
        append(&mut b, &config_name, &config);
        let manifest = serde_json::json!([{
            "Config": config_name, "RepoTags": self.tags, "Layers": layer_names,
        }]);
        append(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        b.finish().unwrap();
    }
}

fn append<W: std::io::Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, data).unwrap();
}
