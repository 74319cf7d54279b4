//! Where images come from: the inputs a user can name, detected from the
//! command-line argument, and the blob stores behind them.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::ImageError;
use crate::reference::Reference;

pub(crate) mod archive;
pub(crate) mod docker_archive;
pub(crate) mod oci_layout;
pub(crate) mod rootfs;

/// An image the user named, before it is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageInput {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    OciLayout {
        /// The directory.
        path: PathBuf,
        /// `org.opencontainers.image.ref.name` to pick, if several.
        name: Option<String>,
    },
    /// A tar archive of an OCI image layout (`skopeo copy ... oci-archive:`).
    OciArchive {
        /// The archive.
        path: PathBuf,
        /// Ref name to pick, if several.
        name: Option<String>,
    },
    /// A `docker save` archive (`manifest.json` + configs + layer tars).
    DockerArchive {
        /// The archive.
        path: PathBuf,
        /// `repo:tag` to pick, if the archive holds several images.
        name: Option<String>,
    },
    /// A plain root filesystem directory, read as one layer.
    RootFs {
        /// The directory.
        path: PathBuf,
    },
    /// An image in a registry, pulled over the OCI distribution API.
    Registry(Reference),
}

const PREFIXES: &[&str] = &[
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "rootfs:",
    "docker://",
    "registry:",
];

impl ImageInput {
    /// Detects what `arg` names. Explicit transports (`oci:DIR[:NAME]`,
    /// `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:REPO:TAG]`,
    /// `rootfs:DIR`, `docker://REF`, `registry:REF`) are taken as said.
    /// Otherwise an existing directory is an OCI layout if it has an
    /// `oci-layout` file and a root filesystem if not; an existing file is
    /// an OCI or docker archive by its members; anything else must parse as
    /// a registry reference.
    pub fn detect(arg: &str) -> Result<ImageInput, ImageError> {
        if let Some(input) = Self::with_prefix(arg)? {
            return Ok(input);
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(Self::sniff_dir(path)),
            Ok(_) => Self::sniff_file(path, None),
            Err(_) => arg
                .parse::<Reference>()
                .map(ImageInput::Registry)
                .map_err(|e| ImageError::UnknownInput {
                    input: arg.to_owned(),
                    reason: format!(
                        "no such file or directory, and not a registry reference ({})",
                        e.reason
                    ),
                }),
        }
    }

    fn with_prefix(arg: &str) -> Result<Option<ImageInput>, ImageError> {
        let Some(prefix) = PREFIXES.iter().find(|p| arg.starts_with(**p)) else {
            return Ok(None);
        };
        let rest = &arg[prefix.len()..];
        let registry = |text: &str| {
            text.parse::<Reference>()
                .map(ImageInput::Registry)
                .map_err(|e| ImageError::UnknownInput {
                    input: arg.to_owned(),
                    reason: e.to_string(),
                })
        };
        let input = match *prefix {
            "docker://" | "registry:" => registry(rest)?,
            "rootfs:" => ImageInput::RootFs { path: rest.into() },
            _ => {
                let (path, name) = split_existing(arg, rest)?;
                match *prefix {
                    "oci:" => ImageInput::OciLayout { path, name },
                    "oci-archive:" => ImageInput::OciArchive { path, name },
                    _ => ImageInput::DockerArchive { path, name },
                }
            }
        };
        Ok(Some(input))
    }

    fn sniff_dir(path: &Path) -> ImageInput {
        if path.join("oci-layout").is_file() {
            ImageInput::OciLayout {
                path: path.to_owned(),
                name: None,
            }
        } else {
            ImageInput::RootFs {
                path: path.to_owned(),
            }
        }
    }

    fn sniff_file(path: &Path, name: Option<String>) -> Result<ImageInput, ImageError> {
        let index = archive::TarIndex::open(path, &crate::Limits::default())?;
        if index.contains("oci-layout") && index.contains("index.json") {
            Ok(ImageInput::OciArchive {
                path: path.to_owned(),
                name,
            })
        } else if index.contains("manifest.json") {
            Ok(ImageInput::DockerArchive {
                path: path.to_owned(),
                name,
            })
        } else {
            Err(ImageError::UnknownInput {
                input: path.display().to_string(),
                reason: "a tar archive with neither oci-layout/index.json nor manifest.json".into(),
            })
        }
    }

    /// Short text for messages.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ImageInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = |f: &mut fmt::Formatter<'_>, kind: &str, path: &Path, name: &Option<String>| {
            write!(f, "{kind}:{}", path.display())?;
            if let Some(n) = name {
                write!(f, ":{n}")?;
            }
            Ok(())
        };
        match self {
            ImageInput::OciLayout { path, name } => named(f, "oci", path, name),
            ImageInput::OciArchive { path, name } => named(f, "oci-archive", path, name),
            ImageInput::DockerArchive { path, name } => named(f, "docker-archive", path, name),
            ImageInput::RootFs { path } => write!(f, "rootfs:{}", path.display()),
            ImageInput::Registry(r) => write!(f, "docker://{r}"),
        }
    }
}

/// Splits `PATH[:NAME]` where PATH must exist: the first `:` whose left side
/// exists ends the path.
fn split_existing(arg: &str, rest: &str) -> Result<(PathBuf, Option<String>), ImageError> {
    if Path::new(rest).exists() {
        return Ok((rest.into(), None));
    }
    for (i, _) in rest.match_indices(':') {
        let (path, name) = (&rest[..i], &rest[i + 1..]);
        if !path.is_empty() && Path::new(path).exists() && !name.is_empty() {
            return Ok((path.into(), Some(name.to_owned())));
        }
    }
    Err(ImageError::UnknownInput {
        input: arg.to_owned(),
        reason: "no such file or directory".into(),
    })
}

/// Where a blob lives in its store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Locator {
    /// Content-addressed (layouts, registries).
    Blob(Digest),
    /// A member of a docker archive.
    Member(String),
}

/// A read-only source of blobs. Implementations never follow a name outside
/// their root and bound reads by what the caller asks.
pub(crate) trait Store: Send + Sync {
    /// Opens a blob for streaming. `size` is the descriptor's size, when
    /// known; the stream may end early or late and the caller verifies.
    fn open(
        &self,
        locator: &Locator,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError>;

    /// Names the store in messages.
    fn name(&self) -> &str;
}

/// Reads a whole small blob (manifest, config), refusing more than `max`.
pub(crate) fn read_small(
    store: &dyn Store,
    locator: &Locator,
    size: Option<u64>,
    max: u64,
    limit: crate::Limit,
    what: &str,
) -> Result<Vec<u8>, ImageError> {
    if size.is_some_and(|s| s > max) {
        return Err(ImageError::limit(limit, max, what));
    }
    let reader = store.open(locator, size)?;
    let mut bytes = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImageError::from_stream(what, e))?;
    if bytes.len() as u64 > max {
        return Err(ImageError::limit(limit, max, what));
    }
    Ok(bytes)
}
