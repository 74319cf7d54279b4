//! OCI image layout directories. Blobs are opened with `openat2` beneath the
//! layout directory with symlinks refused, so neither a crafted digest nor a
//! symlinked blob can make us read a file outside the layout.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

use crate::error::ImageError;
use crate::source::{Locator, Store};

/// A layout directory, held open.
pub(crate) struct OciLayoutStore {
    dir: OwnedFd,
    name: String,
}

impl OciLayoutStore {
    pub(crate) fn open(path: &Path) -> Result<Self, ImageError> {
        let name = path.display().to_string();
        let dir = File::open(path).map_err(|e| ImageError::io(&name, e))?;
        let store = OciLayoutStore {
            dir: dir.into(),
            name,
        };
        let layout = store.open_file("oci-layout")?;
        let mut text = String::new();
        layout
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| ImageError::io(store.member("oci-layout"), e))?;
        check_layout_version(&text, &store.member("oci-layout"))?;
        Ok(store)
    }

    /// Opens a file beneath the layout: no `..`, no absolute paths, no
    /// symlinks anywhere on the way, regular files only.
    pub(crate) fn open_file(&self, relative: &str) -> Result<File, ImageError> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let input = self.member(relative);
        let fd = openat2(&self.dir, relative, how).map_err(|errno| match errno {
            Errno::ELOOP => ImageError::UnsafePath {
                input: self.name.clone(),
                path: relative.to_owned(),
                reason: "is or passes through a symlink",
            },
            Errno::EXDEV => ImageError::UnsafePath {
                input: self.name.clone(),
                path: relative.to_owned(),
                reason: "leaves the layout directory",
            },
            other => ImageError::io(&input, other.into()),
        })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| ImageError::io(&input, e))?;
        if !meta.is_file() {
            return Err(ImageError::malformed(input, "not a regular file"));
        }
        Ok(file)
    }

    fn member(&self, relative: &str) -> String {
        format!("{}/{relative}", self.name)
    }
}

fn check_layout_version(text: &str, input: &str) -> Result<(), ImageError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ImageError::Json {
            input: input.to_owned(),
            source,
        })?;
    match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(v) if v.starts_with("1.") => Ok(()),
        Some(v) => Err(ImageError::Unsupported {
            input: input.to_owned(),
            what: format!("image layout version {v:?}"),
        }),
        None => Err(ImageError::malformed(input, "no imageLayoutVersion")),
    }
}

impl Store for OciLayoutStore {
    fn open(
        &self,
        locator: &Locator,
        _size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let relative = match locator {
            Locator::Blob(d) => format!("blobs/{}/{}", d.algorithm().name(), d.hex()),
            Locator::Member(m) => m.clone(),
        };
        let file = self.open_file(&relative)?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
    }

    fn name(&self) -> &str {
        &self.name
    }
}
