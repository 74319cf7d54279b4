//! Bulwark SBOMs (`bulwark-sbom`'s model) as matcher components: the OSV
//! ecosystem with the distro release, and for distro packages the source
//! package's name and version, which is what advisories name.

use bulwark_sbom::{Ecosystem, Package, Sbom};

use crate::matcher::Component;

/// Components to match, and the packages that have no OSV ecosystem (an
/// rpm distro without OSV data, an OS package without a known distro).
pub fn components(sbom: &Sbom) -> (Vec<Component>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for p in &sbom.packages {
        match sbom.osv_ecosystem(p) {
            Some(ecosystem) => out.push(component(ecosystem, p)),
            None => skipped.push(format!("{} {} ({})", p.name, p.version, p.ecosystem)),
        }
    }
    (out, skipped)
}

fn with_epoch(epoch: Option<u32>, version: &str) -> String {
    match epoch {
        Some(e) if e > 0 => format!("{e}:{version}"),
        _ => version.to_string(),
    }
}

fn component(ecosystem: String, p: &Package) -> Component {
    let installed_version = match p.ecosystem {
        Ecosystem::Rpm => with_epoch(p.epoch, &p.version),
        _ => p.version.clone(),
    };
    let (name, version) = match (&p.ecosystem, &p.source) {
        // dpkg: the source package, at the source version (binNMUs and
        // binaries versioned apart from their source differ).
        (Ecosystem::Deb, Some(src)) => (src.name.clone(), src.version.clone()),
        // apk: the origin, at the package's own version.
        (Ecosystem::Apk, Some(src)) => (src.name.clone(), p.version.clone()),
        // rpm: the source rpm's name, at the binary's epoch:version-release.
        (Ecosystem::Rpm, Some(src)) => (src.name.clone(), installed_version.clone()),
        _ => (p.name.clone(), installed_version.clone()),
    };
    Component {
        ecosystem,
        name,
        version,
        package: p.name.clone(),
        installed_version,
        purl: Some(p.purl.clone()),
        layer: Some(p.layer.diff_id.clone()),
    }
}
