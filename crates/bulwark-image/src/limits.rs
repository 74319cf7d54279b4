//! Resource limits applied while reading an image, so hostile input ends in a
//! typed [`ImageError::LimitExceeded`](crate::ImageError::LimitExceeded)
//! instead of exhausting memory, disk or time.

use std::fmt;

/// Limits on what reading one image may consume. [`Limits::default`] fits real
/// images (a 300,000-file layer, multi-GiB layers) and stops bombs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes a visitor may read from one entry's content.
    pub max_file_read: u64,
    /// Uncompressed bytes of one layer (tar stream, headers included).
    pub max_layer_bytes: u64,
    /// Uncompressed bytes of all layers of one image.
    pub max_image_bytes: u64,
    /// Entries (files, directories, links, whiteouts) in one image.
    pub max_entries: u64,
    /// Layers in one image.
    pub max_layers: usize,
    /// Bytes of one entry path or link target after extension headers.
    pub max_path_bytes: usize,
    /// Bytes of one tar extension header (PAX records, GNU long names).
    pub max_extension_bytes: u64,
    /// Nesting depth: index inside index, and archives inside archives for
    /// the catalogers built on this crate.
    pub max_nesting: u32,
    /// Decompressed-to-compressed ratio of a layer, checked once the output
    /// passes [`Limits::ratio_grace_bytes`].
    pub max_ratio: u64,
    /// Output below which the ratio is not checked (small, very repetitive
    /// layers are legitimate).
    pub ratio_grace_bytes: u64,
    /// Symbolic links present at once in the squashed filesystem (the walker
    /// keeps each one's path and target to resolve paths through them).
    pub max_symlinks: usize,
    /// Bytes of one manifest or index document.
    pub max_manifest_bytes: u64,
    /// Bytes of one image configuration document.
    pub max_config_bytes: u64,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_read: 512 * MIB,
            max_layer_bytes: 32 * GIB,
            max_image_bytes: 128 * GIB,
            max_entries: 10_000_000,
            max_layers: 1_000,
            max_path_bytes: 4_096,
            max_extension_bytes: MIB,
            max_nesting: 8,
            max_ratio: 100,
            ratio_grace_bytes: 256 * MIB,
            max_symlinks: 1_000_000,
            max_manifest_bytes: 4 * MIB,
            max_config_bytes: 8 * MIB,
        }
    }
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_file_read`]
    FileRead,
    /// [`Limits::max_layer_bytes`]
    LayerBytes,
    /// [`Limits::max_image_bytes`]
    ImageBytes,
    /// [`Limits::max_entries`]
    Entries,
    /// [`Limits::max_layers`]
    Layers,
    /// [`Limits::max_path_bytes`]
    PathBytes,
    /// [`Limits::max_extension_bytes`]
    ExtensionBytes,
    /// [`Limits::max_nesting`]
    Nesting,
    /// [`Limits::max_ratio`]
    Ratio,
    /// [`Limits::max_symlinks`]
    Symlinks,
    /// [`Limits::max_manifest_bytes`]
    ManifestBytes,
    /// [`Limits::max_config_bytes`]
    ConfigBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::FileRead => "bytes read from one file",
            Limit::LayerBytes => "uncompressed bytes per layer",
            Limit::ImageBytes => "uncompressed bytes per image",
            Limit::Entries => "entries per image",
            Limit::Layers => "layers per image",
            Limit::PathBytes => "bytes per path",
            Limit::ExtensionBytes => "bytes per tar extension header",
            Limit::Nesting => "nesting depth",
            Limit::Ratio => "decompression ratio",
            Limit::Symlinks => "symbolic links per image",
            Limit::ManifestBytes => "bytes per manifest",
            Limit::ConfigBytes => "bytes per image config",
        })
    }
}
