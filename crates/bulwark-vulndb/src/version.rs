//! Version ordering, one scheme per package ecosystem.
//!
//! Each scheme parses a version string into a value that orders exactly as
//! the ecosystem's own tool orders it (dpkg, rpm, apk, pip, npm/cargo, go,
//! Maven, RubyGems, NuGet). Comparing two versions of different schemes is a
//! caller bug; [`Version::cmp_same`] reports it instead of guessing.

use std::cmp::Ordering;
use std::fmt;

mod apk;
mod digits;
mod dpkg;
mod golang;
mod maven;
mod nuget;
mod pep440;
mod rpm;
mod rubygems;
mod semver;

/// How versions of an ecosystem are ordered.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Debian/Ubuntu `dpkg --compare-versions` (epochs, `~`).
    Dpkg,
    /// RPM `rpmvercmp` over epoch:version-release (`~`, `^`).
    Rpm,
    /// Alpine `apk version -t`.
    Apk,
    /// Python PEP 440 (with pre-PEP 440 "legacy" versions sorted first).
    Pep440,
    /// SemVer 2.0 precedence as used by npm, crates.io and OSV `SEMVER` ranges.
    SemVer,
    /// Go modules: SemVer with a `v` prefix, pseudo-versions, and the
    /// toolchain's `go1.x` names for the `stdlib`/`toolchain` packages.
    Go,
    /// Maven `ComparableVersion`.
    Maven,
    /// RubyGems `Gem::Version`.
    RubyGems,
    /// NuGet `NuGetVersion`.
    NuGet,
}

impl Scheme {
    pub const ALL: [Scheme; 9] = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::SemVer,
        Scheme::Go,
        Scheme::Maven,
        Scheme::RubyGems,
        Scheme::NuGet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "pep440",
            Scheme::SemVer => "semver",
            Scheme::Go => "go",
            Scheme::Maven => "maven",
            Scheme::RubyGems => "rubygems",
            Scheme::NuGet => "nuget",
        }
    }

    /// Parses `input` under this scheme.
    pub fn parse(self, input: &str) -> Result<Version, VersionError> {
        let err = |reason: &'static str| VersionError {
            scheme: self,
            input: input.to_string(),
            reason,
        };
        Ok(match self {
            Scheme::Dpkg => Version::Dpkg(dpkg::DpkgVersion::parse(input).map_err(err)?),
            Scheme::Rpm => Version::Rpm(rpm::RpmVersion::parse(input).map_err(err)?),
            Scheme::Apk => Version::Apk(apk::ApkVersion::parse(input).map_err(err)?),
            Scheme::Pep440 => Version::Pep440(pep440::PyVersion::parse(input).map_err(err)?),
            Scheme::SemVer => Version::SemVer(semver::SemVer::parse(input).map_err(err)?),
            Scheme::Go => Version::Go(golang::GoVersion::parse(input).map_err(err)?),
            Scheme::Maven => Version::Maven(maven::MavenVersion::parse(input).map_err(err)?),
            Scheme::RubyGems => Version::RubyGems(rubygems::GemVersion::parse(input).map_err(err)?),
            Scheme::NuGet => Version::NuGet(nuget::NuGetVersion::parse(input).map_err(err)?),
        })
    }

    /// Compares two version strings under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        let a = self.parse(a)?;
        let b = self.parse(b)?;
        a.cmp_same(&b)
            .ok_or_else(|| unreachable_mismatch(self, &a, &b))
    }
}

fn unreachable_mismatch(scheme: Scheme, a: &Version, b: &Version) -> VersionError {
    VersionError {
        scheme,
        input: format!("{a} vs {b}"),
        reason: "versions of different schemes cannot be compared",
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A version string that its scheme cannot order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {input:?}: {reason}")]
pub struct VersionError {
    pub scheme: Scheme,
    pub input: String,
    pub reason: &'static str,
}

/// A parsed version. Ordered only against versions of the same scheme.
#[derive(Clone, Debug)]
pub enum Version {
    Dpkg(dpkg::DpkgVersion),
    Rpm(rpm::RpmVersion),
    Apk(apk::ApkVersion),
    Pep440(pep440::PyVersion),
    SemVer(semver::SemVer),
    Go(golang::GoVersion),
    Maven(maven::MavenVersion),
    RubyGems(rubygems::GemVersion),
    NuGet(nuget::NuGetVersion),
}

impl Version {
    /// The ordering of `self` against `other`, or `None` when the two come
    /// from different schemes.
    pub fn cmp_same(&self, other: &Version) -> Option<Ordering> {
        Some(match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => a.cmp(b),
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp(b),
            (Version::Apk(a), Version::Apk(b)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::SemVer(a), Version::SemVer(b)) => a.cmp(b),
            (Version::Go(a), Version::Go(b)) => a.cmp(b),
            (Version::Maven(a), Version::Maven(b)) => a.cmp(b),
            (Version::RubyGems(a), Version::RubyGems(b)) => a.cmp(b),
            (Version::NuGet(a), Version::NuGet(b)) => a.cmp(b),
            _ => return None,
        })
    }

    pub fn scheme(&self) -> Scheme {
        match self {
            Version::Dpkg(_) => Scheme::Dpkg,
            Version::Rpm(_) => Scheme::Rpm,
            Version::Apk(_) => Scheme::Apk,
            Version::Pep440(_) => Scheme::Pep440,
            Version::SemVer(_) => Scheme::SemVer,
            Version::Go(_) => Scheme::Go,
            Version::Maven(_) => Scheme::Maven,
            Version::RubyGems(_) => Scheme::RubyGems,
            Version::NuGet(_) => Scheme::NuGet,
        }
    }

    /// The string the version was parsed from.
    pub fn as_str(&self) -> &str {
        match self {
            Version::Dpkg(v) => v.as_str(),
            Version::Rpm(v) => v.as_str(),
            Version::Apk(v) => v.as_str(),
            Version::Pep440(v) => v.as_str(),
            Version::SemVer(v) => v.as_str(),
            Version::Go(v) => v.as_str(),
            Version::Maven(v) => v.as_str(),
            Version::RubyGems(v) => v.as_str(),
            Version::NuGet(v) => v.as_str(),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
