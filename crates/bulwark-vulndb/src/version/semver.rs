//! SemVer 2.0 precedence (npm, crates.io, OSV `SEMVER` ranges).
//!
//! Parsing is lenient the way OSV consumers are: an optional `v` prefix,
//! missing minor/patch numbers read as `0`, numeric components of any size,
//! and components after the third treated as build metadata. Build metadata
//! never affects precedence.

use std::cmp::Ordering;

use super::digits::{all_digits, cmp_numeric, ordered_by_compare};

#[derive(Clone, Debug)]
pub struct SemVer {
    original: String,
    core: [String; 3],
    pre: Vec<String>,
}

impl SemVer {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _build)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let mut parts = core.split('.');
        let mut numbers: [String; 3] = Default::default();
        for slot in &mut numbers {
            match parts.next() {
                Some(p) if all_digits(p) => *slot = p.to_string(),
                Some(_) => return Err("major, minor and patch must be numbers"),
                None => *slot = "0".to_string(),
            }
        }
        let pre = match pre {
            Some(p) => p.split('.').map(str::to_string).collect(),
            None => Vec::new(),
        };
        Ok(SemVer {
            original: input.to_string(),
            core: numbers,
            pre,
        })
    }

    pub(crate) fn compare(&self, other: &Self) -> Ordering {
        self.core
            .iter()
            .zip(&other.core)
            .map(|(a, b)| cmp_numeric(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| cmp_prerelease(&self.pre, &other.pre))
    }

    pub(crate) fn from_parts(original: &str, core: [String; 3], pre: Vec<String>) -> Self {
        SemVer {
            original: original.to_string(),
            core,
            pre,
        }
    }
}

ordered_by_compare!(SemVer);

/// A version without pre-release identifiers is newer than one with them;
/// otherwise identifiers compare left to right (numbers numerically and below
/// alphanumerics, alphanumerics by ASCII), and a longer list wins a tie.
fn cmp_prerelease(a: &[String], b: &[String]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    for (x, y) in a.iter().zip(b) {
        let ord = match (all_digits(x), all_digits(y)) {
            (true, true) => cmp_numeric(x, y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        SemVer::parse(a).unwrap().cmp(&SemVer::parse(b).unwrap())
    }

    #[test]
    fn prerelease_precedence_from_the_spec() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in chain.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(cmp("1.2.3+build", "1.2.3+other"), Ordering::Equal);
        assert_eq!(cmp("v1.2.3", "1.2.3"), Ordering::Equal);
    }

    #[test]
    fn rejects_non_numeric_core() {
        assert!(SemVer::parse("1.x.3").is_err());
        assert!(SemVer::parse("").is_err());
    }
}
