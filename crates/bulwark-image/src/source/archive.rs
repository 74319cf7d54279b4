//! Tar archives that hold a whole image (oci-archive, docker-archive): an
//! index of members built by reading headers and seeking over content, then
//! members read in place. Nothing is extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::error::{ImageError, show_path};
use crate::limits::{Limit, Limits};
use crate::path::EntryPath;
use crate::source::{Locator, Store};
use crate::tar::{Seekable, TarError, TarKind, TarReader};

/// Regular-file members of an archive: normalised name -> (offset, size).
pub(crate) struct TarIndex {
    path: PathBuf,
    name: String,
    members: HashMap<String, (u64, u64)>,
}

impl TarIndex {
    /// Indexes the archive at `path`.
    pub(crate) fn open(path: &Path, limits: &Limits) -> Result<TarIndex, ImageError> {
        let name = path.display().to_string();
        let mut file = File::open(path).map_err(|e| ImageError::io(&name, e))?;
        refuse_compressed(&mut file, &name)?;
        let mut reader = TarReader::new(Seekable(BufReader::new(file)), limits);
        let mut members = HashMap::new();
        let mut count: u64 = 0;
        while let Some(header) = reader.next_header().map_err(|e| tar_error(&name, e))? {
            count += 1;
            if count > limits.max_entries {
                return Err(ImageError::limit(Limit::Entries, limits.max_entries, &name));
            }
            if header.kind != TarKind::File {
                continue;
            }
            let member = member_name(&header.name, &name)?;
            let offset = reader
                .content_position()
                .ok_or_else(|| ImageError::malformed(&name, "cannot locate member"))?;
            if members
                .insert(member.clone(), (offset, header.size))
                .is_some()
            {
                return Err(ImageError::malformed(
                    &name,
                    format!("duplicate member {member:?}: the archive is ambiguous"),
                ));
            }
        }
        Ok(TarIndex {
            path: path.to_owned(),
            name,
            members,
        })
    }

    /// Whether a regular-file member of that (normalised) name exists.
    pub(crate) fn contains(&self, member: &str) -> bool {
        self.members.contains_key(member)
    }

    /// The size of a regular-file member.
    pub(crate) fn member_size(&self, member: &str) -> Option<u64> {
        self.members.get(member).map(|&(_, size)| size)
    }

    /// Opens a member for reading.
    pub(crate) fn open_member(
        &self,
        member: &str,
    ) -> Result<(Box<dyn Read + Send>, u64), ImageError> {
        let &(offset, size) = self
            .members
            .get(member)
            .ok_or_else(|| ImageError::malformed(&self.name, format!("no member {member:?}")))?;
        let mut file = File::open(&self.path).map_err(|e| ImageError::io(&self.name, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| ImageError::io(&self.name, e))?;
        Ok((Box::new(BufReader::new(file).take(size)), size))
    }

    /// The archive's name for messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

fn member_name(raw: &[u8], archive: &str) -> Result<String, ImageError> {
    let path = EntryPath::normalize(raw).map_err(|e| ImageError::UnsafePath {
        input: archive.to_owned(),
        path: show_path(raw),
        reason: e.reason(),
    })?;
    Ok(String::from_utf8_lossy(path.as_bytes()).into_owned())
}

fn refuse_compressed(file: &mut File, name: &str) -> Result<(), ImageError> {
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(|e| ImageError::io(name, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ImageError::io(name, e))?;
    match Compression::sniff(&head[..n]) {
        Compression::None => Ok(()),
        other => Err(ImageError::Unsupported {
            input: name.to_owned(),
            what: format!(
                "{other:?}-compressed image archive (decompress it first, e.g. with gunzip or zstd -d)"
            ),
        }),
    }
}

pub(crate) fn tar_error(input: &str, err: TarError) -> ImageError {
    match err {
        TarError::Io(e) => ImageError::from_stream(input, e),
        TarError::Truncated(reason) => ImageError::Truncated {
            input: input.to_owned(),
            reason: reason.to_owned(),
        },
        TarError::Malformed(reason) => ImageError::malformed(input, reason),
        TarError::Limit(what, limit) => ImageError::limit(what, limit, input),
    }
}

/// A store over an indexed archive: OCI blobs by digest under `blobs/`, or
/// docker-archive members by name.
pub(crate) struct ArchiveStore {
    index: TarIndex,
}

impl ArchiveStore {
    pub(crate) fn new(index: TarIndex) -> Self {
        ArchiveStore { index }
    }

    pub(crate) fn index(&self) -> &TarIndex {
        &self.index
    }
}

impl Store for ArchiveStore {
    fn open(
        &self,
        locator: &Locator,
        _size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let member = match locator {
            Locator::Blob(d) => format!("blobs/{}/{}", d.algorithm().name(), d.hex()),
            Locator::Member(m) => m.clone(),
        };
        Ok(self.index.open_member(&member)?.0)
    }

    fn name(&self) -> &str {
        self.index.name()
    }
}
