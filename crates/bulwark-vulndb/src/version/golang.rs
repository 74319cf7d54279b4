//! Go module versions: SemVer with a `v` prefix (pseudo-versions such as
//! `v0.0.0-20210101000000-abcdef123456` are pre-releases and order as such;
//! `+incompatible` is build metadata), and the toolchain's own names for the
//! standard library (`go1.21.3`, `go1.20`, `go1.21rc1`, `go1.9beta2`), which
//! OSV writes as `1.21.3`, `1.20.0`, `1.21.0-rc.1`, `1.9.0-beta.2`.

use std::cmp::Ordering;

use super::digits::{all_digits, ordered_by_compare};
use super::semver::SemVer;

#[derive(Clone, Debug)]
pub struct GoVersion {
    original: String,
    semver: SemVer,
}

impl GoVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let semver = match input.trim().strip_prefix("go") {
            Some(toolchain) => parse_toolchain(input, toolchain)?,
            None => SemVer::parse(input)?,
        };
        Ok(GoVersion {
            original: input.to_string(),
            semver,
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        self.semver.compare(&other.semver)
    }
}

ordered_by_compare!(GoVersion);

/// `1.21.3`, `1.21rc1`, `1.9beta2`, optionally followed by ` X:experiment`
/// or `-bigcorp` style suffixes, which do not change the release.
fn parse_toolchain(original: &str, s: &str) -> Result<SemVer, &'static str> {
    let s = s.split([' ', '-', '+']).next().unwrap_or(s);
    let (numbers, pre) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let mut core: [String; 3] = ["0".into(), "0".into(), "0".into()];
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| !all_digits(p)) {
        return Err("not a Go toolchain version (go1.N[.P][rcN|betaN])");
    }
    for (slot, part) in core.iter_mut().zip(&parts) {
        *slot = (*part).to_string();
    }
    let pre = if pre.is_empty() {
        Vec::new()
    } else {
        let (kind, n) = pre.split_at(pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len()));
        if !matches!(kind, "rc" | "beta" | "alpha") || !(n.is_empty() || all_digits(n)) {
            return Err("unknown Go pre-release (expected rcN or betaN)");
        }
        let mut ids = vec![kind.to_string()];
        if !n.is_empty() {
            ids.push(n.to_string());
        }
        ids
    };
    Ok(SemVer::from_parts(original, core, pre))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        GoVersion::parse(a)
            .unwrap()
            .cmp(&GoVersion::parse(b).unwrap())
    }

    #[test]
    fn stdlib_toolchain_names_order_like_osv_semver() {
        assert_eq!(cmp("go1.21.3", "1.21.3"), Ordering::Equal);
        assert_eq!(cmp("go1.20", "1.20.0"), Ordering::Equal);
        assert_eq!(cmp("go1.21rc1", "1.21.0-rc.1"), Ordering::Equal);
        assert_eq!(cmp("go1.21rc2", "1.21.0"), Ordering::Less);
        assert_eq!(cmp("go1.9beta2", "1.9.0-beta.2"), Ordering::Equal);
        assert_eq!(
            cmp("go1.22.1 X:nocoverageredesign", "1.22.1"),
            Ordering::Equal
        );
    }

    #[test]
    fn pseudo_versions_are_prereleases_of_the_next_patch() {
        assert_eq!(
            cmp("v0.0.0-20210101000000-abcdef123456", "v0.0.1"),
            Ordering::Less
        );
        assert_eq!(
            cmp("v1.2.4-0.20210101000000-abcdef123456", "v1.2.3"),
            Ordering::Greater
        );
        assert_eq!(
            cmp("v1.2.4-0.20210101000000-abcdef123456", "v1.2.4"),
            Ordering::Less
        );
        assert_eq!(
            cmp(
                "v1.2.4-0.20210101000000-abcdef123456",
                "v1.2.4-0.20220101000000-012345abcdef"
            ),
            Ordering::Less
        );
        assert_eq!(cmp("v2.0.0+incompatible", "2.0.0"), Ordering::Equal);
    }

    #[test]
    fn rejects_garbage_toolchain_names() {
        assert!(GoVersion::parse("gofoo").is_err());
        assert!(GoVersion::parse("go1.2.3.4").is_err());
    }
}
