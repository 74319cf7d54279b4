//! Reads container images as streams, never extracting them to disk.
//!
//! An image comes from an OCI image layout directory, an OCI archive, a
//! `docker save` archive, a plain root filesystem directory or a registry
//! (OCI distribution API with anonymous, basic or bearer-token auth); the
//! argument says which ([`ImageInput::detect`]). [`Image::open`] verifies the
//! manifest and config against their digests and picks the platform from a
//! multi-platform index. [`Image::walk`] then streams every layer in order
//! (gzip, zstd or plain tar, sniffed from the bytes) and hands each entry to
//! a [`Visitor`], with a normalised path (no `..`, no leading `/`), its kind,
//! mode and size, and a bounded reader for its content. Whiteouts and opaque
//! directories are reported and honoured: the entries a visitor keeps come
//! back at the end only if they survive in the squashed filesystem, each with
//! the layer that added it. Blob digests and diffIDs are verified while
//! streaming; [`Limits`] turn bombs and oversized input into
//! [`ImageError::LimitExceeded`].
//!
//! ```no_run
//! use bulwark_image::{Entry, Image, OpenOptions, VisitError, Visitor};
//!
//! /// Keeps the content of `etc/os-release` wherever it survives.
//! struct OsRelease;
//!
//! impl Visitor for OsRelease {
//!     type Keep = Vec<u8>;
//!     fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<Vec<u8>>, VisitError> {
//!         if entry.path() == "etc/os-release" {
//!             return Ok(entry.read_to_vec(64 * 1024)?);
//!         }
//!         Ok(None)
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let image = Image::open("debian.tar", &OpenOptions::default())?;
//! println!("config {:?}, {} layers", image.config_digest(), image.layers().len());
//! let walked = image.walk(&mut OsRelease)?;
//! for kept in walked.kept {
//!     let diff_id = image.layers()[kept.layer].diff_id.as_ref();
//!     println!("{} from layer {} ({diff_id:?})", kept.path, kept.layer);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The [`registry`] module also serves other crates directly: manifests and
//! indexes by tag or digest, blobs as verified streams, tag lists and the
//! OCI 1.1 referrers API.
//!
//! This crate does not write images anywhere, does not interpret file
//! contents (that is the catalogers' job) and does not run containers.

mod compression;
mod digest;
mod error;
mod image;
mod limits;
mod path;
mod platform;
mod reference;
mod resolve;
mod source;
mod spec;
mod squash;
mod symlinks;
mod tar;
mod walk;

pub mod registry;

#[cfg(feature = "test-support")]
pub mod testutil;

pub use compression::Compression;
pub use digest::{Algorithm, Digest, DigestParseError, Hasher, HashingReader};
pub use error::ImageError;
pub use image::{Image, Layer, OpenOptions, SourceKind};
pub use limits::{Limit, Limits};
pub use path::{EntryPath, PathError};
pub use platform::{Platform, PlatformParseError};
pub use reference::{Reference, ReferenceParseError};
pub use source::ImageInput;
pub use spec::{
    Descriptor, History, ImageConfig, Index, Manifest, REF_NAME_ANNOTATION, RootFs, RunConfig,
    media,
};
pub use squash::Kept;
pub use symlinks::{MAX_FOLLOWS, Symlinks};
pub use walk::{Both, Entry, EntryKind, LayerSummary, VisitError, Visitor, Walked};
