//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use bulwark_image::{
    Entry, EntryKind, Image, ImageError, OpenOptions, VisitError, Visitor, Walked,
};

/// Records every entry and keeps every regular file with its content.
#[derive(Default, Debug)]
pub struct Recorder {
    pub seen: Vec<(usize, String, EntryKind)>,
}

impl Visitor for Recorder {
    type Keep = Vec<u8>;

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<Vec<u8>>, VisitError> {
        self.seen.push((
            entry.layer().index,
            entry.path().to_string(),
            entry.kind().clone(),
        ));
        if *entry.kind() == EntryKind::File {
            return Ok(entry.read_to_vec(1 << 20)?);
        }
        Ok(None)
    }
}

pub fn walk(image: &Image) -> Result<(Recorder, Walked<Vec<u8>>), ImageError> {
    let mut r = Recorder::default();
    let walked = image.walk(&mut r)?;
    Ok((r, walked))
}

/// Survivors as (layer, path, content) strings.
pub fn survivors(walked: &Walked<Vec<u8>>) -> Vec<(usize, String, String)> {
    walked
        .kept
        .iter()
        .map(|k| {
            (
                k.layer,
                k.path.to_string(),
                String::from_utf8_lossy(&k.value).into_owned(),
            )
        })
        .collect()
}

pub fn open(path: &Path) -> Result<Image, ImageError> {
    Image::open(path.to_str().unwrap(), &OpenOptions::default())
}

/// Tars a directory (an OCI layout) into an oci-archive file.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// Writes the blobs of two single-layer images into the layout at `dir`,
/// linux/amd64 and linux/arm64/v8, each with a file `arch` naming its
/// architecture; returns their manifests' descriptors (no index written).
pub fn two_platforms(dir: &Path) -> [bulwark_image::Descriptor; 2] {
    ["linux/amd64", "linux/arm64/v8"].map(|platform| {
        let arch = platform.split('/').nth(1).unwrap();
        bulwark_image::testutil::LayoutBuilder::new(dir)
            .platform(platform)
            .layer(
                bulwark_image::testutil::TarBuilder::new()
                    .file("arch", arch.as_bytes())
                    .finish(),
                bulwark_image::Compression::Gzip,
            )
            .write_manifest()
    })
}
