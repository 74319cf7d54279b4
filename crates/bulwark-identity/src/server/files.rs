//! Reading the registration entries directory, and cheap change detection
//! for it and for the CA state file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::entry::{Entry, EntryError, check_unique_names};
use crate::store::StoreError;

/// Largest entry file read.
const MAX_ENTRY_FILE: u64 = 1024 * 1024;

/// Why the entries directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EntriesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing registration entries in {path}: {problem} (whoever can write entries can grant identities)"
    )]
    Unsafe { path: PathBuf, problem: String },
    #[error("{path} is larger than {MAX_ENTRY_FILE} bytes")]
    TooLarge { path: PathBuf },
    #[error(transparent)]
    Entry(#[from] EntryError),
}

/// What changed-or-not is judged on: name, size, mtime and inode of each file.
pub type Stamp = Vec<(String, u64, i64, i64, u64)>;

pub fn stamp_file(path: &Path) -> Stamp {
    match fs::metadata(path) {
        Ok(m) => vec![(String::new(), m.len(), m.mtime(), m.mtime_nsec(), m.ino())],
        Err(_) => Vec::new(),
    }
}

pub fn stamp_dir(dir: &Path) -> Stamp {
    let mut out: Stamp = entry_files(dir)
        .into_iter()
        .filter_map(|p| {
            let m = fs::metadata(&p).ok()?;
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
        })
        .collect();
    out.sort();
    out
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Every entry in `dir` (`*.yaml`, `*.yml`, in file-name order). A missing
/// directory means no entries.
pub fn load_entries_dir(dir: &Path) -> Result<Vec<Entry>, EntriesError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    check_not_writable_by_others(dir, true)?;
    let mut entries = Vec::new();
    for path in entry_files(dir) {
        check_not_writable_by_others(&path, false)?;
        let meta = fs::metadata(&path).map_err(|source| io(&path, source))?;
        if meta.len() > MAX_ENTRY_FILE {
            return Err(EntriesError::TooLarge { path });
        }
        let text = fs::read_to_string(&path).map_err(|source| io(&path, source))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.extend(Entry::parse_all(&name, &text)?);
    }
    check_unique_names(&entries)?;
    Ok(entries)
}

fn check_not_writable_by_others(path: &Path, dir: bool) -> Result<(), EntriesError> {
    let meta = fs::symlink_metadata(path).map_err(|source| io(path, source))?;
    let euid = nix::unistd::geteuid().as_raw();
    let problem = if dir && !meta.is_dir() {
        Some("not a directory".to_owned())
    } else if !dir && !meta.is_file() {
        Some("not a regular file (symbolic links are not followed)".to_owned())
    } else if meta.uid() != euid && meta.uid() != 0 {
        Some(format!("owned by uid {}", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "mode {:04o} lets group or others write",
            meta.mode() & 0o777
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(EntriesError::Unsafe {
            path: path.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

fn io(path: &Path, source: std::io::Error) -> EntriesError {
    EntriesError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Validates `yaml` and writes it into `dir` as `<first entry name>.yaml`
/// (mode 0644). Returns the entries and the path written.
pub fn add_entry_file(
    dir: &Path,
    source_name: &str,
    yaml: &str,
) -> Result<(Vec<Entry>, PathBuf), EntriesError> {
    let new = Entry::parse_all(source_name, yaml)?;
    let Some(first) = new.first() else {
        return Err(EntriesError::Entry(EntryError::Empty {
            source_name: source_name.to_owned(),
        }));
    };
    let file_name = safe_file_name(&first.name);
    crate::store::ensure_private_dir(dir).map_err(|e| match e {
        StoreError::Io { path, source } => EntriesError::Io { path, source },
        other => EntriesError::Unsafe {
            path: dir.to_owned(),
            problem: other.to_string(),
        },
    })?;
    let target = dir.join(format!("{file_name}.yaml"));
    let mut all = load_entries_dir(dir)?;
    all.retain(|e| e.source != format!("{file_name}.yaml"));
    all.extend(new.iter().cloned());
    check_unique_names(&all)?;
    crate::store::write_atomic(&target, yaml.as_bytes(), 0o644).map_err(|e| {
        EntriesError::Unsafe {
            path: target.clone(),
            problem: e.to_string(),
        }
    })?;
    Ok((new, target))
}

/// Removes the file holding entry `name`; returns whether one was found.
pub fn remove_entry(dir: &Path, name: &str) -> Result<Option<PathBuf>, EntriesError> {
    let entries = load_entries_dir(dir)?;
    let Some(entry) = entries.iter().find(|e| e.name == name) else {
        return Ok(None);
    };
    let others_in_file = entries.iter().filter(|e| e.source == entry.source).count();
    let path = dir.join(&entry.source);
    if others_in_file > 1 {
        return Err(EntriesError::Unsafe {
            path,
            problem: format!(
                "it holds {others_in_file} entries; edit it by hand to remove only {name:?}"
            ),
        });
    }
    fs::remove_file(&path).map_err(|source| io(&path, source))?;
    Ok(Some(path))
}

/// Entry names may contain anything; file names get only `[A-Za-z0-9._-]`.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "entry".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests;
