//! Normalised entry paths: relative to the image root, no `.` or `..`
//! components, no leading or doubled `/`. Raw names are bytes (tar names need
//! not be UTF-8); normalisation is lexical, like `filepath.Clean` in the
//! runtimes that apply layers, and a name that climbs above the root is
//! refused rather than clamped.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A normalised path inside an image root, e.g. `usr/lib/os-release`.
/// The root itself is the empty path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EntryPath(Vec<u8>);

/// Why a raw name cannot be normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `..` climbs above the root.
    EscapesRoot,
    /// The name holds a NUL byte.
    Nul,
}

impl PathError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            PathError::EscapesRoot => "climbs above the image root",
            PathError::Nul => "contains a NUL byte",
        }
    }
}

impl EntryPath {
    /// Normalises a raw name: a leading `/` is dropped (layers name files
    /// relative to the root either way), `.` and empty components vanish and
    /// `..` removes the previous component.
    pub fn normalize(raw: &[u8]) -> Result<EntryPath, PathError> {
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut out: Vec<u8> = Vec::with_capacity(raw.len());
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    if out.is_empty() {
                        return Err(PathError::EscapesRoot);
                    }
                    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    out.truncate(cut);
                }
                name => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(name);
                }
            }
        }
        Ok(EntryPath(out))
    }

    /// Wraps bytes known to be normalised (or a range bound).
    pub(crate) fn from_raw(bytes: Vec<u8>) -> EntryPath {
        EntryPath(bytes)
    }

    /// Builds a path from components that are already clean (no `/`, `.`,
    /// `..`); used when walking a directory tree.
    pub(crate) fn join_component(&self, name: &[u8]) -> EntryPath {
        let mut out = Vec::with_capacity(self.0.len() + 1 + name.len());
        out.extend_from_slice(&self.0);
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(name);
        EntryPath(out)
    }

    /// The path's bytes, e.g. `b"usr/bin/python3"`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as a relative `Path`.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// The path as UTF-8, if it is.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Whether this is the root (empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last component (empty for the root).
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The parent directory (the root's parent is the root).
    pub fn parent(&self) -> EntryPath {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => EntryPath(self.0[..i].to_vec()),
            None => EntryPath::default(),
        }
    }

    /// Whether `self` is `dir` or lies below it (component-wise).
    pub fn is_within(&self, dir: &EntryPath) -> bool {
        dir.is_root()
            || self.0 == dir.0
            || (self.0.starts_with(&dir.0) && self.0.get(dir.0.len()) == Some(&b'/'))
    }

    /// Resolves a symlink target found at this path into a root-relative
    /// path, the way a container sees it: absolute targets start at the image
    /// root, relative ones at this path's parent, and `..` never climbs above
    /// the root (like `/..` on a real root). Intermediate symlinks are not
    /// followed.
    pub fn resolve_link(&self, target: &[u8]) -> EntryPath {
        let mut joined = if target.first() == Some(&b'/') {
            Vec::new()
        } else {
            self.parent().0
        };
        joined.push(b'/');
        joined.extend_from_slice(target);
        let mut out = EntryPath::default();
        for component in joined.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => out = out.parent(),
                name => out = out.join_component(name),
            }
        }
        out
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl From<&str> for EntryPath {
    /// Normalises a literal; a name that escapes the root becomes the root.
    fn from(text: &str) -> Self {
        EntryPath::default().resolve_link(text.as_bytes())
    }
}

impl PartialEq<str> for EntryPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for EntryPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<String, PathError> {
        EntryPath::normalize(raw.as_bytes()).map(|p| p.to_string())
    }

    #[test]
    fn leading_slash_dot_and_doubled_separators_vanish() {
        assert_eq!(norm("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(norm("./usr//lib/./x/").unwrap(), "usr/lib/x");
        assert_eq!(norm("./").unwrap(), "");
    }

    #[test]
    fn dotdot_inside_the_root_is_resolved_lexically() {
        assert_eq!(norm("a/b/../c").unwrap(), "a/c");
        assert_eq!(norm(".wh.../../x").unwrap(), "x");
    }

    #[test]
    fn dotdot_above_the_root_is_refused() {
        assert_eq!(norm("../etc/passwd"), Err(PathError::EscapesRoot));
        assert_eq!(norm("/../../x"), Err(PathError::EscapesRoot));
        assert_eq!(norm("a/../../x"), Err(PathError::EscapesRoot));
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(EntryPath::normalize(b"a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn non_utf8_names_are_kept_as_bytes() {
        let p = EntryPath::normalize(b"usr/\xff\xfe").unwrap();
        assert_eq!(p.as_bytes(), b"usr/\xff\xfe");
        assert_eq!(p.to_str(), None);
    }

    #[test]
    fn resolve_link_clamps_at_root() {
        let p = EntryPath::from("etc/os-release");
        assert_eq!(
            p.resolve_link(b"../usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(p.resolve_link(b"/../../../etc/shadow"), "etc/shadow");
        assert_eq!(p.resolve_link(b"../../../../x"), "x");
    }

    #[test]
    fn within_is_component_wise() {
        let dir = EntryPath::from("usr/lib");
        assert!(EntryPath::from("usr/lib/x").is_within(&dir));
        assert!(EntryPath::from("usr/lib").is_within(&dir));
        assert!(!EntryPath::from("usr/lib64/x").is_within(&dir));
        assert!(EntryPath::from("anything").is_within(&EntryPath::default()));
    }
}
