//! Reading advisory inputs: OSV JSON/YAML files, directories of them, `.zip`
//! exports (osv.dev's per-ecosystem `all.zip`), `.tar`, `.tar.gz`/`.tgz`
//! and `.tar.zst` archives, the Debian security tracker's DSA/DLA lists and
//! Alpine secdb YAML.
//!
//! Archives are read entry by entry in memory; nothing is extracted to
//! disk, so entry names cannot escape anywhere. Each entry and the whole
//! input are size-capped against decompression bombs. A bad record is
//! reported as an [`Item::Invalid`] and reading goes on; only an unreadable
//! input (missing file, corrupt archive, a limit hit) stops the import.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::osv::{Format, Record, parse_record};

mod alpine;
mod debian;

pub use debian::release_number as debian_release_number;

/// Caps against oversized or malicious inputs.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest single file or archive entry, uncompressed.
    pub max_entry_bytes: u64,
    /// Largest total of all entries of one input, uncompressed.
    pub max_total_bytes: u64,
    /// Most entries in one input.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: 64 << 20,
            max_total_bytes: 8 << 30,
            max_entries: 2_000_000,
        }
    }
}

/// One result of reading: a valid record, or a record that was rejected.
#[derive(Debug)]
pub enum Item {
    Record { origin: String, record: Box<Record> },
    Invalid { origin: String, problem: String },
}

/// Why an input could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "{path}: not an advisory input (expected a directory, .json, .yaml, .zip, .tar, .tar.gz or .tar.zst)"
    )]
    UnknownInput { path: String },
    #[error("{path}: {what} exceeds the limit of {limit}")]
    Limit {
        path: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{path}: corrupt archive: {message}")]
    Archive { path: String, message: String },
    #[error("storing records: {0}")]
    Sink(String),
}

/// Receives every item read.
pub type Sink<'a> = dyn FnMut(Item) -> Result<(), ImportError> + 'a;

/// Reads every input in order, passing records to `sink`.
pub fn read_inputs(
    paths: &[PathBuf],
    limits: &Limits,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let mut alpine = alpine::Aggregator::default();
    for path in paths {
        let mut reader = InputReader {
            limits,
            total: 0,
            entries: 0,
            alpine: &mut alpine,
        };
        reader.read_path(path, sink)?;
    }
    for value in alpine.finish() {
        let origin = format!("alpine-secdb:{}", value["id"].as_str().unwrap_or_default());
        sink(to_item(
            origin,
            Record::from_value(value).map_err(|e| e.to_string()),
        ))?;
    }
    Ok(())
}

fn to_item(origin: String, result: Result<Record, String>) -> Item {
    match result {
        Ok(record) => Item::Record {
            origin,
            record: Box::new(record),
        },
        Err(problem) => Item::Invalid { origin, problem },
    }
}

struct InputReader<'a> {
    limits: &'a Limits,
    total: u64,
    entries: u64,
    alpine: &'a mut alpine::Aggregator,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl InputReader<'_> {
    fn read_path(&mut self, path: &Path, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        let meta = std::fs::symlink_metadata(path).map_err(io_err(path))?;
        if meta.is_dir() {
            return self.read_dir(path, sink);
        }
        let name = path.to_string_lossy().to_ascii_lowercase();
        let file = || File::open(path).map_err(io_err(path));
        if name.ends_with(".zip") {
            self.read_zip(path, sink)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            let dec = zstd::Decoder::new(file()?).map_err(io_err(path))?;
            self.read_tar(path, dec, sink)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            self.read_tar(path, flate2::read::GzDecoder::new(file()?), sink)
        } else if name.ends_with(".tar") {
            self.read_tar(path, file()?, sink)
        } else if entry_kind(&name).is_some() {
            let bytes = self.read_capped(&path.display().to_string(), file()?)?;
            self.entry(&path.display().to_string(), &bytes, sink)
        } else {
            Err(ImportError::UnknownInput {
                path: path.display().to_string(),
            })
        }
    }

    /// Walks a directory (not following symlinks), reading record files
    /// and list files, skipping everything else.
    fn read_dir(&mut self, dir: &Path, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir))?;
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
            if meta.is_dir() {
                self.read_dir(&path, sink)?;
            } else if meta.is_file() && entry_kind(&path.to_string_lossy()).is_some() {
                let bytes = self.read_capped(
                    &path.display().to_string(),
                    File::open(&path).map_err(io_err(&path))?,
                )?;
                self.entry(&path.display().to_string(), &bytes, sink)?;
            }
        }
        Ok(())
    }

    fn read_tar(
        &mut self,
        path: &Path,
        reader: impl Read,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let corrupt = |e: io::Error| ImportError::Archive {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(corrupt)?.to_string_lossy().to_string();
            if entry_kind(&name).is_none() {
                continue;
            }
            let origin = format!("{}!{name}", path.display());
            let bytes = self.read_capped(&origin, entry)?;
            self.entry(&origin, &bytes, sink)?;
        }
        Ok(())
    }

    fn read_zip(&mut self, path: &Path, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        let corrupt = |e: zip::result::ZipError| ImportError::Archive {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(io_err(path))?;
        let mut archive = zip::ZipArchive::new(file).map_err(corrupt)?;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(corrupt)?;
            if !entry.is_file() || entry_kind(entry.name()).is_none() {
                continue;
            }
            let origin = format!("{}!{}", path.display(), entry.name());
            let bytes = self.read_capped(&origin, entry)?;
            self.entry(&origin, &bytes, sink)?;
        }
        Ok(())
    }

    /// Reads one entry, enforcing the per-entry, total and count limits.
    fn read_capped(&mut self, origin: &str, reader: impl Read) -> Result<Vec<u8>, ImportError> {
        let limit = |what, limit| ImportError::Limit {
            path: origin.to_string(),
            what,
            limit,
        };
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(limit("number of entries", self.limits.max_entries));
        }
        let mut bytes = Vec::new();
        reader
            .take(self.limits.max_entry_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ImportError::Archive {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        if bytes.len() as u64 > self.limits.max_entry_bytes {
            return Err(limit("entry size in bytes", self.limits.max_entry_bytes));
        }
        self.total += bytes.len() as u64;
        if self.total > self.limits.max_total_bytes {
            return Err(limit(
                "total uncompressed size in bytes",
                self.limits.max_total_bytes,
            ));
        }
        Ok(bytes)
    }

    fn entry(
        &mut self,
        origin: &str,
        bytes: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        match entry_kind(origin) {
            Some(EntryKind::DebianList) => {
                let text = String::from_utf8_lossy(bytes);
                for result in debian::convert(&text) {
                    let result =
                        result.and_then(|v| Record::from_value(v).map_err(|e| e.to_string()));
                    let origin = match &result {
                        Ok(r) => format!("{origin}#{}", r.vuln.id),
                        Err(_) => origin.to_string(),
                    };
                    sink(to_item(origin, result))?;
                }
                Ok(())
            }
            Some(EntryKind::Yaml) => {
                let doc: Result<serde_json::Value, _> = serde_yaml::from_slice(bytes);
                match doc {
                    Ok(doc) if alpine::is_secdb(&doc) => match self.alpine.add(&doc) {
                        Ok(_) => Ok(()),
                        Err(problem) => sink(Item::Invalid {
                            origin: origin.to_string(),
                            problem,
                        }),
                    },
                    _ => sink(to_item(
                        origin.to_string(),
                        parse_record(bytes, Format::Yaml).map_err(|e| e.to_string()),
                    )),
                }
            }
            Some(EntryKind::Json) => sink(to_item(
                origin.to_string(),
                parse_record(bytes, Format::Json).map_err(|e| e.to_string()),
            )),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    Json,
    Yaml,
    DebianList,
}

fn entry_kind(name: &str) -> Option<EntryKind> {
    if name.ends_with("DSA/list") || name.ends_with("DLA/list") {
        return Some(EntryKind::DebianList);
    }
    match Format::from_path(name)? {
        Format::Json => Some(EntryKind::Json),
        Format::Yaml => Some(EntryKind::Yaml),
    }
}
