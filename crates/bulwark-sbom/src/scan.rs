//! Scanning an opened image: `bulwark-image` streams the layers, this module
//! hands the files the catalogers want to the [`Inventory`] and turns the
//! survivors into an [`Sbom`]. Files are read into memory one at a time and
//! only when a cataloger wants them; nothing is extracted to disk.
//!
//! Paths are where the files land (the walker places entries written through
//! symbolic links). The image's final links may lead a fixed location such
//! as `var/lib/dpkg` somewhere no path pattern covers ([`Aliases`]); which
//! ones is known only after the last layer. So the walk also catalogs, on
//! the side, every file named like a package database (`status`,
//! `installed`, `os-release`, rpm database names) where no pattern looks,
//! and keeps those the final links turn into aliases: one walk. Only an
//! alias no name selects (a `status.d` directory moved elsewhere, a link to
//! a file named otherwise, an rpm or `status.d` directory standing for
//! another fixed location) makes the layers walked a second time, to read
//! just those files.

mod cataloger;
mod read;

use bulwark_image::{
    Both, Entry, EntryPath, Image, ImageError, Kept, SourceKind, VisitError, Visitor,
};

use self::cataloger::{Cataloged, Cataloger};
use crate::alias::{self, Aliases};
use crate::catalog::Limits;
use crate::inventory::{Inventory, OS_RELEASE, Survivor};
use crate::model::{Layer, Sbom, Source};

/// Why an image could not be scanned (reading it failed; cataloging
/// problems are warnings in the SBOM instead).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ScanError(#[from] ImageError);

/// Catalogs every package in `image`. `reference` is what the user named
/// (recorded as the SBOM's source).
pub fn scan(image: &Image, reference: &str, limits: Limits) -> Result<Sbom, ScanError> {
    scan_with(image, reference, limits, None::<NoVisitor>).map(|(sbom, _)| sbom)
}

/// The SBOM, and what the other visitor of the walk kept that survives.
pub type Scanned<K> = (Sbom, Vec<Kept<K>>);

/// [`scan`], with `also` visiting every entry of the same walk after the
/// catalogers (so it must not need the content): an image is read once
/// however many things are asked of its layers. Returns what `also` kept
/// that survives in the squashed image.
pub fn scan_with<V: Visitor>(
    image: &Image,
    reference: &str,
    limits: Limits,
    also: V,
) -> Result<Scanned<V::Keep>, ScanError> {
    let cataloger = Cataloger::new(Inventory::new(limits), Inventory::new(limits), None);
    let mut both = Both(cataloger, also);
    let (walked, also_kept) = image.walk(&mut both)?.split();
    let Both(cataloger, _) = both;
    let aliases = Aliases::find(&walked.symlinks);
    let (mut survivors, maybes) = split_kept(walked.kept);
    match aliased(&aliases, maybes) {
        Some(aliased) => survivors.extend(aliased),
        None => {
            // An alias no name selects (status.d, a link to a file named
            // otherwise): read just those files in a second walk.
            let mut again = Cataloger::new(
                Inventory::new(limits),
                Inventory::new(limits),
                Some(aliases),
            );
            let (kept, _) = split_kept(image.walk(&mut again)?.kept);
            survivors.extend(kept);
        }
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
    let sbom = cataloger
        .inventory
        .finish(source(image, reference), layers, survivors, &os_release);
    Ok((sbom, also_kept))
}

/// The `also` of a plain [`scan`].
enum NoVisitor {}

impl Visitor for NoVisitor {
    type Keep = ();

    fn entry(&mut self, _: &mut Entry<'_>) -> Result<Option<()>, VisitError> {
        Ok(None)
    }
}

/// The surviving files as their paths make them, and the surviving
/// maybe-aliases.
fn split_kept(kept: Vec<Kept<Cataloged>>) -> (Vec<Survivor>, Vec<Survivor>) {
    let mut files = Vec::new();
    let mut maybes = Vec::new();
    for Kept { layer, path, value } in kept {
        let path = path.to_string();
        if let Some(file) = value.file {
            files.push(Survivor {
                path: path.clone(),
                layer,
                file,
            });
        }
        if let Some(file) = value.maybe {
            maybes.push(Survivor { path, layer, file });
        }
    }
    (files, maybes)
}

/// The files the final links make package databases, from the
/// maybe-aliases cataloged during the walk; `None` when a second walk must
/// read them (some alias is not one a name selects).
fn aliased(aliases: &Aliases, maybes: Vec<Survivor>) -> Option<Vec<Survivor>> {
    if aliases.is_empty() {
        return Some(Vec::new());
    }
    if !aliases.covered_by_name() {
        return None;
    }
    let mut out = Vec::new();
    for mut maybe in maybes {
        match aliases.read_as(&maybe.path) {
            Some((as_fixed, kind)) if kind == maybe.file.kind() => {
                maybe.file.note(alias::note(&as_fixed));
                out.push(maybe);
            }
            Some(_) => return None,
            None => {}
        }
    }
    Some(out)
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
