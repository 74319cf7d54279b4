//! Walking one tar layer from a blob store.

use std::io::{self, BufReader};

use crate::compression::{LayerDigests, LayerStream};
use crate::error::{ImageError, show_path};
use crate::image::{Image, Layer};
use crate::limits::Limit;
use crate::path::EntryPath;
use crate::source::Store;
use crate::source::archive::tar_error;
use crate::symlinks::Symlinks;
use crate::tar::{Streamed, TarHeader, TarKind, TarReader};
use crate::walk::{
    Content, Entry, EntryKind, LayerSummary, Visitor, WalkState, digest_algorithm, visit,
};

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

type Tar<'s> = TarReader<Streamed<BufReader<LayerStream<Box<dyn io::Read + Send + 's>>>>>;

impl Content for Tar<'_> {
    fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TarReader::read_content(self, buf)
    }
}

pub(crate) fn walk_layer<V: Visitor>(
    image: &Image,
    store: &dyn Store,
    layer: &Layer,
    visitor: &mut V,
    state: &mut WalkState<V::Keep>,
) -> Result<LayerSummary, ImageError> {
    let input = image.layer_name(layer);
    let limits = &image.limits;
    let blob = store.open(&layer.locator, layer.size)?;
    let budget = limits.max_image_bytes.saturating_sub(state.image_bytes);
    let stream = LayerStream::new(blob, digest_algorithm(layer), limits, budget, input.clone())?;
    let compression = stream.compression();
    let mut tar: Tar<'_> = TarReader::new(
        Streamed(BufReader::with_capacity(256 * 1024, stream)),
        limits,
    );
    let mut entries = 0;
    while let Some(header) = tar.next_header().map_err(|e| tar_error(&input, e))? {
        state.count_entry(limits, &input)?;
        if header.size > limits.max_layer_bytes {
            return Err(ImageError::limit(
                Limit::LayerBytes,
                limits.max_layer_bytes,
                &input,
            ));
        }
        let Some((path, kind)) = classify(&header, &input, &mut state.symlinks, layer.index)?
        else {
            continue;
        };
        entries += 1;
        let mut entry = Entry {
            layer,
            path: &path,
            kind: &kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            size: if kind == EntryKind::File {
                header.size
            } else {
                0
            },
            content: &mut tar,
            read: 0,
            max_read: if kind == EntryKind::File {
                limits.max_file_read
            } else {
                0
            },
            failure: None,
        };
        visit(visitor, state, &mut entry, &input)?;
    }
    let stream = tar.into_inner().0.into_inner();
    let digests = stream.finish()?;
    state.image_bytes += digests.uncompressed;
    verify_layer(layer, &digests, &input)?;
    Ok(LayerSummary {
        index: layer.index,
        compression: Some(compression),
        digest: Some(digests.blob),
        diff_id: Some(digests.diff_id),
        compressed_bytes: digests.blob_size,
        uncompressed_bytes: digests.uncompressed,
        entries,
    })
}

fn verify_layer(layer: &Layer, digests: &LayerDigests, input: &str) -> Result<(), ImageError> {
    if let Some(expected) = layer.digest.as_ref().filter(|d| **d != digests.blob) {
        return Err(ImageError::DigestMismatch {
            input: input.to_owned(),
            expected: expected.clone(),
            actual: digests.blob.clone(),
        });
    }
    if let Some(size) = layer.size.filter(|s| *s != digests.blob_size) {
        return Err(ImageError::SizeMismatch {
            input: input.to_owned(),
            expected: size,
            actual: digests.blob_size,
        });
    }
    if let Some(expected) = layer.diff_id.as_ref().filter(|d| **d != digests.diff_id) {
        return Err(ImageError::DigestMismatch {
            input: format!("{input} diffID"),
            expected: expected.clone(),
            actual: digests.diff_id.clone(),
        });
    }
    Ok(())
}

/// Normalises the name, places it through the layer's symbolic links and
/// works out the kind, whiteouts included. `None` for entries that are not
/// reported (the root directory, aufs metadata).
fn classify(
    header: &TarHeader,
    input: &str,
    symlinks: &mut Symlinks,
    layer: usize,
) -> Result<Option<(EntryPath, EntryKind)>, ImageError> {
    let unsafe_path = |raw: &[u8], reason| ImageError::UnsafePath {
        input: input.to_owned(),
        path: show_path(raw),
        reason,
    };
    const LOOP: &str = "passes through too many symbolic links (a loop)";
    let literal =
        EntryPath::normalize(&header.name).map_err(|e| unsafe_path(&header.name, e.reason()))?;
    if literal.is_root() {
        return Ok(None);
    }
    let path = symlinks
        .place(layer, &literal)
        .map_err(|_| unsafe_path(&header.name, LOOP))?;
    let name = path.file_name();
    if let Some(deleted) = name.strip_prefix(WHITEOUT) {
        if name == OPAQUE {
            return Ok(Some((path.parent(), EntryKind::Opaque)));
        }
        if deleted.starts_with(WHITEOUT) {
            return Ok(None); // aufs hard-link and metadata files, as Docker ignores them
        }
        if deleted.is_empty() || deleted == b"." || deleted == b".." {
            return Err(unsafe_path(
                &header.name,
                "whiteout names no entry of its directory",
            ));
        }
        return Ok(Some((
            path.parent().join_component(deleted),
            EntryKind::Whiteout,
        )));
    }
    let kind = match header.kind {
        TarKind::File if header.name.ends_with(b"/") => EntryKind::Dir,
        TarKind::File => EntryKind::File,
        TarKind::Dir => EntryKind::Dir,
        TarKind::Symlink => EntryKind::Symlink(header.link.clone()),
        TarKind::Hardlink => {
            let target = EntryPath::normalize(&header.link)
                .map_err(|e| unsafe_path(&header.link, e.reason()))?;
            if target.is_root() {
                return Err(unsafe_path(&header.link, "hard link to the root"));
            }
            let target = symlinks
                .locate(layer, &target)
                .map_err(|_| unsafe_path(&header.link, LOOP))?;
            EntryKind::Hardlink(target)
        }
        TarKind::CharDevice => EntryKind::CharDevice,
        TarKind::BlockDevice => EntryKind::BlockDevice,
        TarKind::Fifo => EntryKind::Fifo,
        TarKind::Sparse | TarKind::Unknown(_) => EntryKind::Other,
    };
    Ok(Some((path, kind)))
}
