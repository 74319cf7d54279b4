//! Reading a wanted file's content out of the walk: nothing for databases
//! reported unread, the first four bytes of an executable before the rest,
//! at most the kind's limit of anything.

use std::io::Read;

use bulwark_image::Entry;

use crate::catalog::{CatalogError, FileKind, Limits, looks_like_elf};

pub(super) enum Content {
    Bytes(Vec<u8>),
    /// An executable that is not an ELF binary (a script): not cataloged.
    NotElf,
    TooLarge(CatalogError),
}

/// What one cataloger needs of the entry, streamed.
pub(super) fn read(
    entry: &mut Entry<'_>,
    kind: FileKind,
    limits: &Limits,
) -> std::io::Result<Content> {
    let limit = limits.for_kind(kind);
    if kind == FileKind::RpmUnsupported {
        return Ok(Content::Bytes(Vec::new()));
    }
    let size = entry.size();
    if size > limit {
        if kind == FileKind::Executable {
            // Huge executables are not worth a warning unless they are ELF.
            let mut head = [0u8; 4];
            if entry.read_exact(&mut head).is_err() || !looks_like_elf(&head) {
                return Ok(Content::NotElf);
            }
        }
        return Ok(too_large(size, limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    if kind == FileKind::Executable {
        let mut head = [0u8; 4];
        if size < 4 {
            return Ok(Content::NotElf);
        }
        entry.read_exact(&mut head)?;
        if !looks_like_elf(&head) {
            return Ok(Content::NotElf);
        }
        bytes.extend_from_slice(&head);
    }
    entry.take(limit).read_to_end(&mut bytes)?;
    Ok(Content::Bytes(bytes))
}

/// What two catalogers need of the same entry (a file its path makes one
/// kind and its name, through links, another): enough bytes for both, read
/// once, each cut as [`read`] would have read it.
pub(super) fn read_both(
    entry: &mut Entry<'_>,
    kinds: [FileKind; 2],
    limits: &Limits,
) -> std::io::Result<[Content; 2]> {
    let size = entry.size();
    let need = kinds
        .iter()
        .map(|kind| needed(*kind, size, limits))
        .max()
        .unwrap_or(0);
    let mut bytes = Vec::new();
    entry.take(need).read_to_end(&mut bytes)?;
    Ok(kinds.map(|kind| cut(kind, size, &bytes, limits)))
}

fn needed(kind: FileKind, size: u64, limits: &Limits) -> u64 {
    match kind {
        FileKind::RpmUnsupported => 0,
        _ if size <= limits.for_kind(kind) => size,
        FileKind::Executable => 4,
        _ => 0,
    }
}

/// [`read`]'s result for `kind` from the first bytes of a `size`-byte file.
fn cut(kind: FileKind, size: u64, bytes: &[u8], limits: &Limits) -> Content {
    let limit = limits.for_kind(kind);
    let elf = bytes.len() >= 4 && looks_like_elf(&bytes[..4]);
    match kind {
        FileKind::RpmUnsupported => Content::Bytes(Vec::new()),
        FileKind::Executable if !elf => Content::NotElf,
        _ if size > limit => too_large(size, limit),
        _ => {
            let end = usize::try_from(size).map_or(bytes.len(), |s| s.min(bytes.len()));
            Content::Bytes(bytes[..end].to_vec())
        }
    }
}

fn too_large(size: u64, limit: u64) -> Content {
    Content::TooLarge(CatalogError::TooLarge {
        what: format!("{size}-byte file"),
        limit,
    })
}
