//! The walk's visitor: hands the files the path patterns select to the
//! inventory and, on the side, the files named like a package database
//! somewhere no pattern looks, in case the image's final links make them
//! one ([`alias::by_name`]).

use bulwark_image::{Entry, EntryKind, VisitError, Visitor};

use super::read::{Content, read, read_both};
use crate::alias::{self, Aliases};
use crate::catalog::FileKind;
use crate::inventory::{CatalogedFile, Inventory};

/// What the cataloger keeps of a file: what its path makes it, what its
/// name would make it behind a link, or both.
pub(super) struct Cataloged {
    pub file: Option<CatalogedFile>,
    pub maybe: Option<CatalogedFile>,
}

/// The visitor. Without aliases it reads what the path patterns select, and
/// the maybe-aliases; with them (the second walk, when some alias is not
/// one a name selects) only the files that stand for a fixed location
/// through symbolic links.
pub(super) struct Cataloger {
    pub inventory: Inventory,
    /// Layer history of the maybe-aliases, apart from the real files'.
    pub maybes: Inventory,
    pub aliases: Option<Aliases>,
}

impl Cataloger {
    pub fn new(inventory: Inventory, maybes: Inventory, aliases: Option<Aliases>) -> Self {
        Cataloger {
            inventory,
            maybes,
            aliases,
        }
    }

    /// The cataloger for a file, the note that says why when the file is
    /// read as another path, and the kind it is read as on the side.
    fn wants(
        &self,
        path: &str,
        mode: u32,
    ) -> (Option<(FileKind, Option<String>)>, Option<FileKind>) {
        match &self.aliases {
            None => (
                self.inventory.wants(path, mode).map(|kind| (kind, None)),
                alias::by_name(path),
            ),
            Some(aliases) => (
                aliases
                    .read_as(path)
                    .map(|(as_fixed, kind)| (kind, Some(alias::note(&as_fixed)))),
                None,
            ),
        }
    }
}

fn catalog(
    inventory: &mut Inventory,
    layer: usize,
    path: &str,
    kind: FileKind,
    content: Content,
) -> Option<CatalogedFile> {
    match content {
        Content::Bytes(bytes) => Some(inventory.file(layer, path, kind, Ok(&bytes))),
        Content::TooLarge(error) => Some(inventory.file(layer, path, kind, Err(error))),
        Content::NotElf => None,
    }
}

impl Visitor for Cataloger {
    type Keep = Cataloged;

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<Cataloged>, VisitError> {
        let layer = entry.layer().index;
        let path = entry.path().to_string();
        match entry.kind() {
            EntryKind::Whiteout | EntryKind::Opaque => {
                self.inventory.deleted(layer, &path);
                self.maybes.deleted(layer, &path);
                return Ok(None);
            }
            EntryKind::File => {}
            _ => return Ok(None),
        }
        let (wanted, maybe) = self.wants(&path, entry.mode());
        let limits = *self.inventory.limits();
        let (file, maybe) = match (wanted, maybe) {
            (None, None) => return Ok(None),
            (Some((kind, note)), None) => {
                let content = read(entry, kind, &limits)?;
                let file = catalog(&mut self.inventory, layer, &path, kind, content);
                (file.map(|f| with_note(f, note)), None)
            }
            (None, Some(kind)) => {
                let content = read(entry, kind, &limits)?;
                (None, catalog(&mut self.maybes, layer, &path, kind, content))
            }
            (Some((kind, note)), Some(maybe_kind)) => {
                let [content, maybe_content] = read_both(entry, [kind, maybe_kind], &limits)?;
                let file = catalog(&mut self.inventory, layer, &path, kind, content);
                let maybe = catalog(&mut self.maybes, layer, &path, maybe_kind, maybe_content);
                (file.map(|f| with_note(f, note)), maybe)
            }
        };
        Ok((file.is_some() || maybe.is_some()).then_some(Cataloged { file, maybe }))
    }
}

fn with_note(mut file: CatalogedFile, note: Option<String>) -> CatalogedFile {
    if let Some(note) = note {
        file.note(note);
    }
    file
}
