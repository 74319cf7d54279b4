//! The SBOM data model: what an image contains, package by package.
//!
//! This is Bulwark's own JSON format (`bulwark sbom --format json`) and the
//! interface the vulnerability matcher consumes. Every field a matcher needs is
//! here: ecosystem, name, version, the source package for OS packages, the
//! distribution, the purl and the layer that added the package.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Version of this JSON format. Bumped on incompatible changes.
pub const SCHEMA_VERSION: &str = "bulwark.sbom/v1";

/// A software bill of materials for one image or root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sbom {
    /// Always [`SCHEMA_VERSION`].
    pub schema: String,
    /// What was scanned.
    pub source: Source,
    /// The operating system, from `etc/os-release` (or `usr/lib/os-release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// The image's layers, bottom first.
    pub layers: Vec<Layer>,
    /// Packages, sorted by ecosystem, name, version.
    pub packages: Vec<Package>,
    /// Things the catalogers found but could not read (say, a BDB rpm
    /// database), so that a reader knows the package list is incomplete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// What was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// How the input was read: `oci-layout`, `oci-archive`, `docker-archive`,
    /// `rootfs`, `registry`.
    pub kind: String,
    /// The argument the user gave (path or reference).
    pub reference: String,
    /// Manifest digest (`sha256:...`), when the input has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `os/arch[/variant]` of the image, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// Operating system distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID` from os-release, e.g. `debian`, `alpine`, `rocky`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`, `3.18.4`. Empty for rolling releases.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `PRETTY_NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

impl Distro {
    /// The purl `distro` qualifier: `debian-12`, `alpine-3.18.4`.
    pub fn purl_qualifier(&self) -> String {
        match (self.version_id.is_empty(), &self.codename) {
            (false, _) => format!("{}-{}", self.id, self.version_id),
            (true, Some(codename)) => format!("{}-{}", self.id, codename),
            (true, None) => self.id.clone(),
        }
    }
}

/// One layer of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Position in the image, 0 = bottom.
    pub index: usize,
    /// `sha256:` of the uncompressed layer (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

/// The layer a package was added in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Position in the image, 0 = bottom.
    pub index: usize,
    /// `sha256:` of the uncompressed layer.
    pub diff_id: String,
}

/// Package ecosystems Bulwark catalogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian/Ubuntu packages (dpkg).
    Deb,
    /// Alpine packages (apk).
    Apk,
    /// RPM packages.
    Rpm,
    /// Python distributions (PyPI).
    Pypi,
    /// npm packages.
    Npm,
    /// Rust crates (crates.io).
    Cargo,
    /// Go modules (and the Go standard library as `stdlib`).
    Golang,
    /// Java artifacts (Maven coordinates `groupId:artifactId`).
    Maven,
}

impl Ecosystem {
    /// The purl type of this ecosystem.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Golang => "golang",
            Ecosystem::Maven => "maven",
        }
    }

    /// Whether packages of this ecosystem belong to the operating system.
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.purl_type())
    }
}

/// Whether a package is a library other code uses or a program built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// A dependency (the usual case).
    #[default]
    Library,
    /// The main module of a Go binary, the root crate of a cargo-auditable
    /// binary.
    Application,
}

/// The source package an OS package was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePackage {
    /// dpkg `Source:` name, apk origin, rpm source rpm name.
    pub name: String,
    /// Version of the source package (dpkg: may differ from the binary's).
    pub version: String,
}

/// One package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Which ecosystem (and so which version ordering) this package uses.
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem spells it: dpkg/apk/rpm package name, PEP 503
    /// normalised Python name, npm name with scope (`@scope/name`), crate
    /// name, Go module path (`stdlib` for the standard library), Maven
    /// `groupId:artifactId`.
    pub name: String,
    /// Version as the ecosystem spells it. dpkg: `[epoch:]upstream[-revision]`;
    /// rpm: `version-release` (epoch separate); Go: `v1.2.3` (stdlib too).
    pub version: String,
    /// rpm epoch, when the header has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// Architecture for OS packages (`amd64`, `x86_64`, `noarch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package (dpkg `Source:`, apk origin, rpm `SOURCERPM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// Declared licence, as written by the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Library or application.
    #[serde(default)]
    pub kind: PackageKind,
    /// Package URL (purl), with `distro` for OS packages.
    pub purl: String,
    /// The layer that added this package (for files rewritten by later
    /// layers, such as dpkg's status, the layer where this name@version first
    /// appeared).
    pub layer: LayerRef,
    /// Files the package was read from (absolute paths inside the image).
    pub paths: Vec<String>,
}

/// Something the scan could not fully read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Path inside the image the warning is about.
    pub path: String,
    /// Layer the file came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// What went wrong, in one line.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layer {
            Some(layer) => write!(f, "{} (layer {layer}): {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl Sbom {
    /// The OSV ecosystem string a package's advisories live under:
    /// `Debian:12`, `Alpine:v3.18`, `PyPI`, `npm`, `crates.io`, `Go`, `Maven`.
    /// RPM distributions other than AlmaLinux and Rocky have no OSV
    /// ecosystem and give `None`, as does an OS package without a distro.
    pub fn osv_ecosystem(&self, package: &Package) -> Option<String> {
        match package.ecosystem {
            Ecosystem::Pypi => Some("PyPI".into()),
            Ecosystem::Npm => Some("npm".into()),
            Ecosystem::Cargo => Some("crates.io".into()),
            Ecosystem::Golang => Some("Go".into()),
            Ecosystem::Maven => Some("Maven".into()),
            Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
                self.distro.as_ref().and_then(osv_distro)
            }
        }
    }
}

fn osv_distro(distro: &Distro) -> Option<String> {
    let major = distro.version_id.split('.').next().unwrap_or_default();
    let minor = || {
        let mut parts = distro.version_id.split('.');
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    };
    match distro.id.as_str() {
        "debian" if !major.is_empty() => Some(format!("Debian:{major}")),
        "ubuntu" if !major.is_empty() => Some(ubuntu(&distro.version_id)),
        "alpine" => minor().map(|v| format!("Alpine:v{v}")),
        "almalinux" if !major.is_empty() => Some(format!("AlmaLinux:{major}")),
        "rocky" if !major.is_empty() => Some(format!("Rocky Linux:{major}")),
        _ => None,
    }
}

/// Ubuntu's OSV ecosystem carries `:LTS` for long-term releases (even year,
/// April).
fn ubuntu(version_id: &str) -> String {
    let lts = match version_id.split_once('.') {
        Some((year, "04")) => year.parse::<u32>().is_ok_and(|y| y % 2 == 0),
        _ => false,
    };
    if lts {
        format!("Ubuntu:{version_id}:LTS")
    } else {
        format!("Ubuntu:{version_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distro(id: &str, version_id: &str) -> Distro {
        Distro {
            id: id.into(),
            version_id: version_id.into(),
            codename: None,
            pretty_name: None,
        }
    }

    #[test]
    fn purl_distro_qualifier_uses_version_id_then_codename() {
        assert_eq!(distro("debian", "12").purl_qualifier(), "debian-12");
        let sid = Distro {
            codename: Some("trixie".into()),
            ..distro("debian", "")
        };
        assert_eq!(sid.purl_qualifier(), "debian-trixie");
    }

    #[test]
    fn osv_ecosystem_names_follow_the_osv_list() {
        assert_eq!(
            osv_distro(&distro("debian", "12")).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(
            osv_distro(&distro("alpine", "3.18.4")).as_deref(),
            Some("Alpine:v3.18")
        );
        assert_eq!(
            osv_distro(&distro("almalinux", "9.3")).as_deref(),
            Some("AlmaLinux:9")
        );
        assert_eq!(
            osv_distro(&distro("ubuntu", "22.04")).as_deref(),
            Some("Ubuntu:22.04:LTS")
        );
        assert_eq!(
            osv_distro(&distro("ubuntu", "23.10")).as_deref(),
            Some("Ubuntu:23.10")
        );
        assert_eq!(osv_distro(&distro("fedora", "39")), None);
    }
}
