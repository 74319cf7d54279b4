//! OSV ecosystems: the canonical names, the release suffix that scopes a
//! distro ecosystem (`Debian:12`, `Alpine:v3.19`, `AlmaLinux:9`), which
//! version scheme orders each one, and how package names are normalised.

use std::fmt;

use crate::version::Scheme;

/// Every ecosystem name the OSV schema accepts (ossf/osv-schema
/// `ecosystems.json`), plus `GIT` which the schema allows for pure
/// commit-range records.
pub const KNOWN: [&str; 49] = [
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Android",
    "Azure Linux",
    "BellSoft Hardened Containers",
    "Bioconductor",
    "Bitnami",
    "Chainguard",
    "CleanStart",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "Docker Hardened Images",
    "Echo",
    "FreeBSD",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Kubernetes",
    "Linux",
    "Mageia",
    "Maven",
    "MinimOS",
    "npm",
    "NuGet",
    "opam",
    "openEuler",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "Root",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "TuxCare",
    "Ubuntu",
    "VSCode",
    "Wolfi",
    "GIT",
];

/// An ecosystem string from a record or a package: a known base name and
/// an optional suffix after the first `:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ecosystem {
    base: &'static str,
    suffix: Option<String>,
}

/// An ecosystem string whose base name OSV does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown ecosystem {input:?}: not one of the OSV ecosystem names (e.g. \"Debian:12\", \"PyPI\", \"crates.io\")"
)]
pub struct UnknownEcosystem {
    pub input: String,
}

impl Ecosystem {
    pub fn parse(input: &str) -> Result<Self, UnknownEcosystem> {
        let (base, suffix) = match input.split_once(':') {
            Some((b, s)) => (b, Some(s)),
            None => (input, None),
        };
        let base = KNOWN
            .iter()
            .copied()
            .find(|k| *k == base)
            .ok_or_else(|| UnknownEcosystem {
                input: input.to_string(),
            })?;
        if suffix.is_some_and(str::is_empty) {
            return Err(UnknownEcosystem {
                input: input.to_string(),
            });
        }
        Ok(Ecosystem {
            base,
            suffix: suffix.map(str::to_string),
        })
    }

    pub fn base(&self) -> &'static str {
        self.base
    }

    pub fn suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    /// The same ecosystem without its release suffix.
    pub fn without_suffix(&self) -> Ecosystem {
        Ecosystem {
            base: self.base,
            suffix: None,
        }
    }

    /// The scheme that orders `ECOSYSTEM` ranges of this ecosystem, or
    /// `None` when Bulwark has no comparator for it (its `SEMVER` ranges and
    /// explicit `versions` lists still match).
    pub fn scheme(&self) -> Option<Scheme> {
        Some(match self.base {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" | "Alpaquita" | "MinimOS" => Scheme::Apk,
            "AlmaLinux" | "Rocky Linux" | "Red Hat" | "openSUSE" | "SUSE" | "Mageia"
            | "openEuler" | "Azure Linux" | "Photon OS" => Scheme::Rpm,
            "PyPI" => Scheme::Pep440,
            "npm" | "crates.io" => Scheme::SemVer,
            "Go" => Scheme::Go,
            "Maven" => Scheme::Maven,
            "RubyGems" => Scheme::RubyGems,
            "NuGet" => Scheme::NuGet,
            _ => return None,
        })
    }

    /// The package name as the database keys it: PyPI names are PEP 503
    /// normalised (`Foo_Bar.baz` is `foo-bar-baz`), others are kept as is.
    pub fn normalize_name(&self, name: &str) -> String {
        if self.base == "PyPI" {
            pep503(name)
        } else {
            name.to_string()
        }
    }
}

fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.suffix {
            Some(s) => write!(f, "{}:{s}", self.base),
            None => f.write_str(self.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_suffixes_and_rejects_unknown_names() {
        let e = Ecosystem::parse("Debian:12").unwrap();
        assert_eq!((e.base(), e.suffix()), ("Debian", Some("12")));
        assert_eq!(e.to_string(), "Debian:12");
        assert_eq!(
            Ecosystem::parse("Ubuntu:22.04:LTS").unwrap().suffix(),
            Some("22.04:LTS")
        );
        assert!(Ecosystem::parse("Debain:12").is_err());
        assert!(Ecosystem::parse("Debian:").is_err());
        assert!(Ecosystem::parse("pypi").is_err());
    }

    #[test]
    fn pypi_names_are_pep503_normalised() {
        let e = Ecosystem::parse("PyPI").unwrap();
        assert_eq!(e.normalize_name("Foo__Bar.baz"), "foo-bar-baz");
        let n = Ecosystem::parse("npm").unwrap();
        assert_eq!(n.normalize_name("Foo"), "Foo");
    }
}
