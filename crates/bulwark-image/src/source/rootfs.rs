//! Plain root filesystem directories, walked as a single layer: depth first
//! in name order, symlinks reported and never followed, files opened with
//! `O_NOFOLLOW` only when a visitor reads them, and other filesystems
//! mounted below the root (`/proc`, `/sys` when scanning `/`) not entered.
//! Whiteout names have no meaning here and are reported as plain files.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::ImageError;
use crate::image::{Image, Layer};
use crate::path::EntryPath;
use crate::walk::{Content, Entry, EntryKind, LayerSummary, Visitor, WalkState, visit};

struct LazyFile<'a> {
    path: &'a Path,
    file: Option<File>,
}

impl Content for LazyFile<'_> {
    fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.file.is_none() {
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(self.path)?;
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.read(buf),
            None => Ok(0),
        }
    }
}

pub(crate) fn walk<V: Visitor>(
    image: &Image,
    root: &Path,
    layer: &Layer,
    visitor: &mut V,
    state: &mut WalkState<V::Keep>,
) -> Result<LayerSummary, ImageError> {
    let input = image.input.clone();
    let root_dev = fs::metadata(root)
        .map_err(|e| ImageError::io(&input, e))?
        .dev();
    // Each stack level: the directory's entry path and its remaining
    // children (sorted, popped from the end).
    let mut stack: Vec<(EntryPath, Vec<PathBuf>)> = vec![(EntryPath::default(), children(root)?)];
    let mut entries = 0u64;
    while let Some((dir, pending)) = stack.last_mut() {
        let Some(fs_path) = pending.pop() else {
            stack.pop();
            continue;
        };
        let name = fs_path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let path = dir.join_component(&name);
        // A live root (`/`) changes while it is walked: an entry that is
        // gone by the time it is looked at was deleted, and is skipped.
        let Some(meta) = metadata_if_exists(&fs_path)? else {
            continue;
        };
        state.count_entry(&image.limits, &input)?;
        entries += 1;
        let kind = kind_of(&meta, &fs_path)?;
        report(image, layer, visitor, state, &path, &kind, &meta, &fs_path)?;
        if kind == EntryKind::Dir && meta.dev() == root_dev {
            let kids = match children(&fs_path) {
                Err(ImageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    Vec::new()
                }
                other => other?,
            };
            stack.push((path, kids));
        }
    }
    Ok(LayerSummary {
        index: layer.index,
        compression: None,
        digest: None,
        diff_id: None,
        compressed_bytes: 0,
        uncompressed_bytes: 0,
        entries,
    })
}

#[allow(clippy::too_many_arguments)]
fn report<V: Visitor>(
    image: &Image,
    layer: &Layer,
    visitor: &mut V,
    state: &mut WalkState<V::Keep>,
    path: &EntryPath,
    kind: &EntryKind,
    meta: &Metadata,
    fs_path: &Path,
) -> Result<(), ImageError> {
    let is_file = *kind == EntryKind::File;
    let mut content = LazyFile {
        path: fs_path,
        file: None,
    };
    let mut entry = Entry {
        layer,
        path,
        kind,
        mode: meta.mode() & 0o7777,
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        size: if is_file { meta.len() } else { 0 },
        content: &mut content,
        read: 0,
        max_read: if is_file {
            image.limits.max_file_read
        } else {
            0
        },
        failure: None,
    };
    visit(visitor, state, &mut entry, &image.input)
}

/// `lstat`, with `None` for a path that no longer exists.
fn metadata_if_exists(fs_path: &Path) -> Result<Option<Metadata>, ImageError> {
    match fs::symlink_metadata(fs_path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImageError::io(fs_path.display().to_string(), e)),
    }
}

fn kind_of(meta: &Metadata, fs_path: &Path) -> Result<EntryKind, ImageError> {
    let t = meta.file_type();
    Ok(if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        let target =
            fs::read_link(fs_path).map_err(|e| ImageError::io(fs_path.display().to_string(), e))?;
        EntryKind::Symlink(target.as_os_str().as_bytes().to_vec())
    } else if t.is_char_device() {
        EntryKind::CharDevice
    } else if t.is_block_device() {
        EntryKind::BlockDevice
    } else if t.is_fifo() {
        EntryKind::Fifo
    } else {
        EntryKind::Other
    })
}

/// Children of a directory, sorted so that popping from the end yields
/// them in name order.
fn children(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let input = dir.display().to_string();
    let mut kids = fs::read_dir(dir)
        .map_err(|e| ImageError::io(&input, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ImageError::io(&input, e))?;
    kids.sort_unstable_by(|a, b| b.as_os_str().cmp(a.as_os_str()));
    Ok(kids)
}
