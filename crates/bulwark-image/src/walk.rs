//! Walking an image: every layer in order, every entry once, content
//! streamed to a visitor that may read or skip it. Whiteouts are reported
//! and honoured, digests verified, limits enforced; at the end the paths the
//! visitor kept are reduced to those that survive in the squashed
//! filesystem.

use std::io::{self, Read};

use crate::compression::Compression;
use crate::digest::{Algorithm, Digest};
use crate::error::ImageError;
use crate::image::{Backing, Image, Layer};
use crate::limits::{Limit, Limits};
use crate::path::EntryPath;
use crate::squash::{Kept, Squash};
use crate::symlinks::Symlinks;

mod both;
mod layer;

pub use both::Both;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file; its content can be read from the entry.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target as written (resolve paths through
    /// the image's links with [`Walked::symlinks`]).
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry of the same layer (its path as that
    /// entry was reported).
    Hardlink(EntryPath),
    /// A whiteout: the entry's path (already stripped of `.wh.`) is deleted
    /// from lower layers.
    Whiteout,
    /// An opaque marker: lower-layer content below the entry's path (a
    /// directory) is hidden.
    Opaque,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// Anything else (sparse files, sockets, vendor types): no content.
    Other,
}

impl EntryKind {
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self, EntryKind::Dir)
    }
}

/// Where an entry's content comes from.
pub(crate) trait Content {
    fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// One entry of a layer, handed to a [`Visitor`]. Reading it yields the
/// content (regular files only), at most [`Limits::max_file_read`] bytes.
pub struct Entry<'a> {
    pub(crate) layer: &'a Layer,
    pub(crate) path: &'a EntryPath,
    pub(crate) kind: &'a EntryKind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
    pub(crate) content: &'a mut dyn Content,
    pub(crate) read: u64,
    pub(crate) max_read: u64,
    pub(crate) failure: Option<String>,
}

impl Entry<'_> {
    /// The layer this entry belongs to.
    pub fn layer(&self) -> &Layer {
        self.layer
    }

    /// Where the entry lands in the image: its name normalised, with the
    /// parent directory resolved through the symbolic links of its own layer
    /// the way a runtime unpacks it (see [`Symlinks`]). An entry written
    /// through `evil -> /etc` as `evil/passwd` is `etc/passwd` here.
    pub fn path(&self) -> &EntryPath {
        self.path
    }

    /// What it is.
    pub fn kind(&self) -> &EntryKind {
        self.kind
    }

    /// Permission bits and set-id bits (`0o4755`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Owner uid.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Owner gid.
    pub fn gid(&self) -> u64 {
        self.gid
    }

    /// Content size in bytes (0 for everything but regular files).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole content if it is at most `max` bytes; `Ok(None)` if
    /// it is larger (nothing is read then).
    pub fn read_to_vec(&mut self, max: u64) -> io::Result<Option<Vec<u8>>> {
        if self.size > max {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        self.read_to_end(&mut out)?;
        Ok(Some(out))
    }
}

impl Read for Entry<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.max_read && self.read < self.size {
            return Err(
                ImageError::limit(Limit::FileRead, self.max_read, self.path.to_string()).into_io(),
            );
        }
        let room = usize::try_from(self.max_read - self.read).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        match self.content.read_content(&mut buf[..want]) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failure = Some(e.to_string());
                Err(e)
            }
        }
    }
}

/// The error type visitors return.
pub type VisitError = Box<dyn std::error::Error + Send + Sync>;

/// Receives every entry of every layer, in order.
pub trait Visitor {
    /// What the visitor attaches to an entry it keeps.
    type Keep;

    /// Called before the first entry of each layer.
    fn layer_start(&mut self, _layer: &Layer) -> Result<(), VisitError> {
        Ok(())
    }

    /// Called for each entry. Return `Some(value)` to keep the entry: at the
    /// end of the walk, kept entries that a later layer deleted or replaced
    /// are dropped, the others come back in [`Walked::kept`].
    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<Self::Keep>, VisitError>;
}

/// What one layer turned out to be, after it was read to the end and
/// verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// Layer index.
    pub index: usize,
    /// Compression found in the bytes.
    pub compression: Option<Compression>,
    /// Digest of the blob as read (verified when the source named one).
    pub digest: Option<Digest>,
    /// Digest of the uncompressed stream (verified against the config).
    pub diff_id: Option<Digest>,
    /// Blob bytes read.
    pub compressed_bytes: u64,
    /// Uncompressed bytes read.
    pub uncompressed_bytes: u64,
    /// Entries reported.
    pub entries: u64,
}

/// The result of a complete, verified walk. Only a walk that read every
/// layer to the end with all digests matching returns one.
#[derive(Debug)]
pub struct Walked<K> {
    /// Kept entries that survive in the squashed filesystem, by path.
    pub kept: Vec<Kept<K>>,
    /// One summary per layer.
    pub layers: Vec<LayerSummary>,
    /// The symbolic links of the squashed filesystem, to resolve paths the
    /// way a process in the container sees them.
    pub symlinks: Symlinks,
}

pub(crate) struct WalkState<K> {
    pub squash: Squash<K>,
    pub symlinks: Symlinks,
    pub max_symlinks: usize,
    pub entries: u64,
    pub image_bytes: u64,
}

impl<K> WalkState<K> {
    pub(crate) fn count_entry(&mut self, limits: &Limits, input: &str) -> Result<(), ImageError> {
        self.entries += 1;
        if self.entries > limits.max_entries {
            return Err(ImageError::limit(Limit::Entries, limits.max_entries, input));
        }
        Ok(())
    }
}

/// Hands one entry to the visitor and records the outcome.
pub(crate) fn visit<V: Visitor>(
    visitor: &mut V,
    state: &mut WalkState<V::Keep>,
    entry: &mut Entry<'_>,
    input: &str,
) -> Result<(), ImageError> {
    let layer = entry.layer.index;
    let path = entry.path.clone();
    apply(state, entry.kind, layer, &path, input)?;
    let is_dir = entry.kind.is_dir();
    let outcome = visitor.entry(entry);
    if let Some(failure) = entry.failure.take() {
        return Err(ImageError::Truncated {
            input: input.to_owned(),
            reason: format!("reading {path}: {failure}"),
        });
    }
    match outcome {
        Ok(Some(value)) => {
            state.squash.keep(layer, path, is_dir, value);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(source) => Err(visitor_error(source, input, &path)),
    }
}

/// Records what an entry does to the squashed filesystem: kept paths it
/// hides, links it creates or replaces.
fn apply<K>(
    state: &mut WalkState<K>,
    kind: &EntryKind,
    layer: usize,
    path: &EntryPath,
    input: &str,
) -> Result<(), ImageError> {
    match kind {
        EntryKind::Whiteout => {
            state.squash.whiteout(layer, path);
            state.symlinks.whiteout(layer, path);
        }
        EntryKind::Opaque => {
            state.squash.opaque(layer, path);
            state.symlinks.opaque(layer, path);
        }
        EntryKind::Dir => {
            state.squash.entry(layer, path, true);
            state.symlinks.directory(path);
        }
        EntryKind::Symlink(target) => {
            state.squash.entry(layer, path, false);
            state.symlinks.link(layer, path, target);
            if state.symlinks.len() > state.max_symlinks {
                return Err(ImageError::limit(
                    Limit::Symlinks,
                    state.max_symlinks as u64,
                    input,
                ));
            }
        }
        _ => {
            state.squash.entry(layer, path, false);
            state.symlinks.non_directory(path);
        }
    }
    Ok(())
}

fn visitor_error(source: VisitError, input: &str, path: &EntryPath) -> ImageError {
    match source.downcast::<io::Error>() {
        Ok(io) if io.get_ref().is_some_and(|e| e.is::<ImageError>()) => {
            ImageError::from_stream(input, *io)
        }
        Ok(io) => ImageError::Visitor {
            input: input.to_owned(),
            path: path.to_string(),
            source: io,
        },
        Err(source) => ImageError::Visitor {
            input: input.to_owned(),
            path: path.to_string(),
            source,
        },
    }
}

impl Image {
    /// Walks every layer, base first, calling `visitor` for every entry.
    /// Returns only after every layer was read to its end and verified; on
    /// any error, whatever the visitor saw must be discarded.
    pub fn walk<V: Visitor>(&self, visitor: &mut V) -> Result<Walked<V::Keep>, ImageError> {
        let mut state = WalkState {
            squash: Squash::new(),
            symlinks: Symlinks::default(),
            max_symlinks: self.limits.max_symlinks,
            entries: 0,
            image_bytes: 0,
        };
        let mut summaries = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            visitor
                .layer_start(layer)
                .map_err(|source| ImageError::Visitor {
                    input: self.layer_name(layer),
                    path: String::new(),
                    source,
                })?;
            let summary = match &self.backing {
                Backing::Store(store) => {
                    layer::walk_layer(self, store.as_ref(), layer, visitor, &mut state)?
                }
                Backing::RootFs(root) => {
                    crate::source::rootfs::walk(self, root, layer, visitor, &mut state)?
                }
            };
            summaries.push(summary);
        }
        Ok(Walked {
            kept: state.squash.finish(),
            layers: summaries,
            symlinks: state.symlinks,
        })
    }

    /// Decompresses and walks every layer without looking at any entry: the
    /// baseline that cataloguing is measured against.
    pub fn walk_only(&self) -> Result<Walked<()>, ImageError> {
        struct Nothing;
        impl Visitor for Nothing {
            type Keep = ();
            fn entry(&mut self, _: &mut Entry<'_>) -> Result<Option<()>, VisitError> {
                Ok(None)
            }
        }
        self.walk(&mut Nothing)
    }

    pub(crate) fn layer_name(&self, layer: &Layer) -> String {
        match (&layer.digest, &layer.diff_id) {
            (Some(d), _) => format!("{} layer {} ({})", self.input, layer.index, d.short()),
            (None, Some(d)) => format!(
                "{} layer {} (diffID {})",
                self.input,
                layer.index,
                d.short()
            ),
            (None, None) => self.input.clone(),
        }
    }
}

pub(crate) fn digest_algorithm(layer: &Layer) -> Algorithm {
    layer
        .digest
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm)
}
