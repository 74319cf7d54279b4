//! Paths as a container sees them, validated once so that nothing later has
//! to wonder about `..`, NUL bytes or relative paths.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::PolicyError;

/// Longest path accepted, as the kernel's `PATH_MAX`.
pub const MAX_PATH_LEN: usize = 4096;

/// An absolute, normalised path inside a container's root filesystem: starts
/// with `/`, no `.` or `..` components, no empty components, no NUL. Never
/// ends in `/` (except the root itself).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerPath(String);

impl ContainerPath {
    pub fn new(value: impl Into<String>) -> Result<Self, PolicyError> {
        let value = value.into();
        check_path(&value)?;
        let trimmed = if value.len() > 1 {
            value.trim_end_matches('/').to_owned()
        } else {
            value
        };
        Ok(ContainerPath(trimmed))
    }

    /// A path the kernel reported (`readlink` of `/proc/self/fd/N`), made
    /// safe: control characters become `?` so rules still match by prefix
    /// and a crafted file name cannot forge log lines. A ` (deleted)` suffix
    /// or a path outside any root (`anon_inode:...`) gives `None`.
    pub fn from_kernel(raw: &str) -> Option<Self> {
        if raw.ends_with(" (deleted)") {
            return None;
        }
        let cleaned: String = raw
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        ContainerPath::new(cleaned).ok()
    }

    /// `/`.
    pub fn root() -> Self {
        ContainerPath("/".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path without its leading `/`, for resolving below a root.
    pub fn relative(&self) -> &str {
        self.0.trim_start_matches('/')
    }

    /// True when `self` is `dir` or lies below it.
    pub fn is_within(&self, dir: &ContainerPath) -> bool {
        dir.0 == "/"
            || self.0 == dir.0
            || (self.0.starts_with(&dir.0) && self.0.as_bytes().get(dir.0.len()) == Some(&b'/'))
    }
}

fn check_path(value: &str) -> Result<(), PolicyError> {
    let bad = |problem: &'static str| PolicyError::BadPath {
        path: value.escape_debug().to_string(),
        problem,
    };
    if value.len() > MAX_PATH_LEN {
        return Err(bad("is longer than PATH_MAX (4096 bytes)"));
    }
    if !value.starts_with('/') {
        return Err(bad("is not absolute"));
    }
    if value.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    let body = value.trim_end_matches('/');
    for component in body.split('/').skip(1) {
        match component {
            "" => return Err(bad("has an empty component (`//`)")),
            "." | ".." => return Err(bad("has a `.` or `..` component")),
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Display for ContainerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ContainerPath {
    type Error = PolicyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ContainerPath::new(value)
    }
}

impl From<ContainerPath> for String {
    fn from(path: ContainerPath) -> String {
        path.0
    }
}

/// What a rule names: one path exactly, or a directory and everything below
/// it. Written as `/etc/shadow` (exact) or `/usr/bin/` (trailing `/`: the
/// directory and everything below).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PathPattern {
    Exact(ContainerPath),
    Below(ContainerPath),
}

impl PathPattern {
    pub fn parse(value: &str) -> Result<Self, PolicyError> {
        let path = ContainerPath::new(value)?;
        if value.ends_with('/') {
            Ok(PathPattern::Below(path))
        } else {
            Ok(PathPattern::Exact(path))
        }
    }

    pub fn path(&self) -> &ContainerPath {
        match self {
            PathPattern::Exact(p) | PathPattern::Below(p) => p,
        }
    }

    pub fn matches(&self, path: &ContainerPath) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Below(dir) => path.is_within(dir),
        }
    }

    /// How specific the pattern is: longer wins, an exact path beats a
    /// directory of the same length.
    pub fn specificity(&self) -> (usize, u8) {
        match self {
            PathPattern::Exact(p) => (p.as_str().len(), 1),
            PathPattern::Below(p) => (p.as_str().len(), 0),
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Exact(p) => write!(f, "{p}"),
            PathPattern::Below(p) if p.as_str() == "/" => f.write_str("/"),
            PathPattern::Below(p) => write!(f, "{p}/"),
        }
    }
}

impl TryFrom<String> for PathPattern {
    type Error = PolicyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PathPattern::parse(&value)
    }
}

impl From<PathPattern> for String {
    fn from(pattern: PathPattern) -> String {
        pattern.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> ContainerPath {
        ContainerPath::new(s).unwrap()
    }

    #[test]
    fn path_traversal_components_are_refused() {
        for bad in [
            "/etc/../root",
            "/./etc",
            "relative/path",
            "/a//b",
            "",
            "/a\0b",
        ] {
            assert!(ContainerPath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn kernel_paths_with_control_characters_still_match_rules() {
        let p = ContainerPath::from_kernel("/etc/evil\nname").unwrap();
        assert_eq!(p.as_str(), "/etc/evil?name");
        assert!(p.is_within(&path("/etc")));
        assert!(ContainerPath::from_kernel("/bin/x (deleted)").is_none());
        assert!(ContainerPath::from_kernel("anon_inode:[eventfd]").is_none());
    }

    #[test]
    fn trailing_slash_is_normalised_away() {
        assert_eq!(path("/usr/bin/").as_str(), "/usr/bin");
        assert_eq!(path("/").as_str(), "/");
    }

    #[test]
    fn within_respects_component_boundaries() {
        assert!(path("/usr/bin/ls").is_within(&path("/usr/bin")));
        assert!(!path("/usr/binary").is_within(&path("/usr/bin")));
        assert!(path("/anything").is_within(&path("/")));
    }

    #[test]
    fn pattern_trailing_slash_means_below() {
        let below = PathPattern::parse("/etc/").unwrap();
        assert!(below.matches(&path("/etc/shadow")));
        assert!(below.matches(&path("/etc")));
        let exact = PathPattern::parse("/etc/shadow").unwrap();
        assert!(!exact.matches(&path("/etc/shadow.bak")));
        assert_eq!(below.to_string(), "/etc/");
        assert_eq!(PathPattern::parse("/").unwrap().to_string(), "/");
    }

    #[test]
    fn exact_beats_directory_of_same_length() {
        let exact = PathPattern::parse("/etc").unwrap();
        let below = PathPattern::parse("/etc/").unwrap();
        assert!(exact.specificity() > below.specificity());
    }
}
