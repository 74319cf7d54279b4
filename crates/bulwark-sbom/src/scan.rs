//! Scanning an opened image: `bulwark-image` streams the layers, this module
//! hands the files the catalogers want to the [`Inventory`] and turns the
//! survivors into an [`Sbom`]. Files are read into memory one at a time and
//! only when a cataloger wants them; nothing is extracted to disk.
//!
//! Paths are where the files land (the walker places entries written through
//! symbolic links). If the image's final links lead a fixed location such as
//! `var/lib/dpkg` somewhere no path pattern covers ([`Aliases`]), the layers
//! are walked a second time to read just those files; ordinary images are
//! walked once.

use std::io::Read;

use bulwark_image::{
    Entry, EntryKind, EntryPath, Image, ImageError, Kept, SourceKind, VisitError, Visitor,
};

use crate::alias::Aliases;
use crate::catalog::{CatalogError, FileKind, Limits, looks_like_elf};
use crate::inventory::{CatalogedFile, Inventory, OS_RELEASE, Survivor};
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
        aliases: None,
    };
    let walked = image.walk(&mut visitor)?;
    let mut survivors: Vec<Survivor> = walked.kept.into_iter().map(survivor).collect();
    let aliases = Aliases::find(&walked.symlinks);
    if !aliases.is_empty() {
        let mut again = Cataloger {
            inventory: Inventory::new(limits),
            aliases: Some(aliases),
        };
        survivors.extend(image.walk(&mut again)?.kept.into_iter().map(survivor));
    }
    let os_release: Vec<String> = OS_RELEASE
        .iter()
        .map(|p| {
            let fixed = EntryPath::from(*p);
            walked.symlinks.resolve(&fixed).unwrap_or(fixed).to_string()
        })
        .collect();
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
    Ok(visitor
        .inventory
        .finish(source(image, reference), layers, survivors, &os_release))
}

fn survivor(kept: Kept<CatalogedFile>) -> Survivor {
    Survivor {
        path: kept.path.to_string(),
        layer: kept.layer,
        file: kept.value,
    }
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

/// The visitor. Without aliases it reads what the path patterns select;
/// with them (the second walk) only the files that stand for a fixed
/// location through symbolic links.
struct Cataloger {
    inventory: Inventory,
    aliases: Option<Aliases>,
}

impl Cataloger {
    /// The cataloger for a file, and the note that says why when the file
    /// is read as another path.
    fn wants(&self, path: &str, mode: u32) -> Option<(FileKind, Option<String>)> {
        match &self.aliases {
            None => self.inventory.wants(path, mode).map(|kind| (kind, None)),
            Some(aliases) => aliases.read_as(path).map(|(as_fixed, kind)| {
                let note = format!(
                    "read as /{as_fixed}: the image's symbolic links lead /{as_fixed} here"
                );
                (kind, Some(note))
            }),
        }
    }
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
        let Some((kind, note)) = self.wants(&path, entry.mode()) else {
            return Ok(None);
        };
        let mut file = match read(entry, kind, self.inventory.limits())? {
            Content::Bytes(bytes) => self.inventory.file(layer, &path, kind, Ok(&bytes)),
            Content::TooLarge(error) => self.inventory.file(layer, &path, kind, Err(error)),
            Content::NotElf => return Ok(None),
        };
        if let Some(note) = note {
            file.note(note);
        }
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
