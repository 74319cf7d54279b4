//! Scanning an opened image: `bulwark-image` streams the layers, this module
//! hands the files the catalogers want to the [`Inventory`] and turns the
//! survivors into an [`Sbom`]. Files are read into memory one at a time and
//! only when a cataloger wants them; nothing is extracted to disk.

use std::io::Read;

use bulwark_image::{Entry, EntryKind, Image, ImageError, SourceKind, VisitError, Visitor};

use crate::catalog::{CatalogError, FileKind, Limits, looks_like_elf};
use crate::inventory::{CatalogedFile, Inventory, Survivor};
use crate::model::{Layer, Sbom, Source};

/// Why an image could not be scanned (reading it failed; cataloging
/// problems are warnings in the SBOM instead).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ScanError(#[from] ImageError);

/// Catalogs every package in `image`. `reference` is what the user named
/// (recorded as the SBOM's source).
pub fn scan(image: &Image, reference: &str, limits: Limits) -> Result<Sbom, ScanError> {
    let mut visitor = Cataloger {
        inventory: Inventory::new(limits),
    };
    let walked = image.walk(&mut visitor)?;
    let layers = image
        .layers()
        .iter()
        .map(|l| Layer {
            index: l.index,
            diff_id: l
                .diff_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        })
        .collect();
    let survivors = walked.kept.into_iter().map(|kept| Survivor {
        path: kept.path.to_string(),
        layer: kept.layer,
        file: kept.value,
    });
    Ok(visitor
        .inventory
        .finish(source(image, reference), layers, survivors))
}

fn source(image: &Image, reference: &str) -> Source {
    let config = image.config();
    let platform =
        (!config.os.is_empty() && !config.architecture.is_empty()).then(|| match &config.variant {
            Some(v) => format!("{}/{}/{v}", config.os, config.architecture),
            None => format!("{}/{}", config.os, config.architecture),
        });
    Source {
        kind: source_kind(image.source_kind()).to_owned(),
        reference: reference.to_owned(),
        digest: image.manifest_digest().map(ToString::to_string),
        platform,
    }
}

fn source_kind(kind: &SourceKind) -> &'static str {
    match kind {
        SourceKind::OciLayout => "oci-layout",
        SourceKind::OciArchive => "oci-archive",
        SourceKind::DockerArchive => "docker-archive",
        SourceKind::RootFs => "rootfs",
        SourceKind::Registry => "registry",
        _ => "image",
    }
}

struct Cataloger {
    inventory: Inventory,
}

impl Visitor for Cataloger {
    type Keep = CatalogedFile;

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<CatalogedFile>, VisitError> {
        let layer = entry.layer().index;
        let path = entry.path().to_string();
        match entry.kind() {
            EntryKind::Whiteout | EntryKind::Opaque => {
                self.inventory.deleted(layer, &path);
                return Ok(None);
            }
            EntryKind::File => {}
            _ => return Ok(None),
        }
        let Some(kind) = self.inventory.wants(&path, entry.mode()) else {
            return Ok(None);
        };
        let file = match read(entry, kind, self.inventory.limits())? {
            Content::Bytes(bytes) => self.inventory.file(layer, &path, kind, Ok(&bytes)),
            Content::TooLarge(error) => self.inventory.file(layer, &path, kind, Err(error)),
            Content::NotElf => return Ok(None),
        };
        Ok(Some(file))
    }
}

enum Content {
    Bytes(Vec<u8>),
    /// An executable that is not an ELF binary (a script): not cataloged.
    NotElf,
    TooLarge(CatalogError),
}

/// Reads what a cataloger needs: nothing for databases reported unread, the
/// first four bytes of an executable before the rest, at most the kind's
/// limit of anything.
fn read(entry: &mut Entry<'_>, kind: FileKind, limits: &Limits) -> std::io::Result<Content> {
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
        return Ok(Content::TooLarge(CatalogError::TooLarge {
            what: format!("{size}-byte file"),
            limit,
        }));
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
