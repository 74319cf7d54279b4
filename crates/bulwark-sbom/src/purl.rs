//! Package URLs (purl) for cataloged packages, per the purl specification:
//! OS packages carry `arch`, `distro` (and `epoch` for rpm) qualifiers, npm
//! scopes and Maven groups become the namespace, Go module paths split at
//! their last `/`.

use packageurl::PackageUrl;

use crate::model::{Distro, Ecosystem};

/// What a purl is built from.
#[derive(Debug, Clone, Copy)]
pub struct PurlParts<'a> {
    pub ecosystem: Ecosystem,
    pub name: &'a str,
    pub version: &'a str,
    pub arch: Option<&'a str>,
    pub epoch: Option<u32>,
    pub distro: Option<&'a Distro>,
}

/// A package name or version the purl library refused.
#[derive(Debug, thiserror::Error)]
#[error("cannot build a purl for {ecosystem} package {name:?}: {reason}")]
pub struct PurlError {
    ecosystem: Ecosystem,
    name: String,
    reason: String,
}

/// The canonical purl string for a package.
pub fn purl(parts: &PurlParts<'_>) -> Result<String, PurlError> {
    build(parts).map_err(|e| PurlError {
        ecosystem: parts.ecosystem,
        name: parts.name.to_owned(),
        reason: e.to_string(),
    })
}

fn build(parts: &PurlParts<'_>) -> Result<String, packageurl::Error> {
    let (namespace, name) = split_name(parts);
    let mut purl = PackageUrl::new(parts.ecosystem.purl_type(), name)?;
    if let Some(namespace) = namespace {
        purl.with_namespace(namespace)?;
    }
    if !parts.version.is_empty() {
        purl.with_version(parts.version)?;
    }
    // Qualifiers sorted by key, as the canonical form requires.
    if let Some(arch) = parts.arch.filter(|a| !a.is_empty()) {
        purl.add_qualifier("arch", arch)?;
    }
    if let Some(distro) = parts.distro.filter(|_| parts.ecosystem.is_os()) {
        purl.add_qualifier("distro", distro.purl_qualifier())?;
    }
    if let Some(epoch) = parts.epoch.filter(|e| *e != 0) {
        purl.add_qualifier("epoch", epoch.to_string())?;
    }
    Ok(purl.to_string())
}

/// Splits a package name into purl namespace and name.
fn split_name<'a>(parts: &PurlParts<'a>) -> (Option<&'a str>, &'a str) {
    let name = parts.name;
    match parts.ecosystem {
        Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
            (parts.distro.map(|d| d.id.as_str()), name)
        }
        Ecosystem::Npm if name.starts_with('@') => match name.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => (None, name),
        },
        Ecosystem::Golang => match name.rsplit_once('/') {
            Some((ns, rest)) => (Some(ns), rest),
            None => (None, name),
        },
        Ecosystem::Maven => match name.split_once(':') {
            Some((group, artifact)) => (Some(group), artifact),
            None => (None, name),
        },
        _ => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(
        ecosystem: Ecosystem,
        name: &'static str,
        version: &'static str,
    ) -> PurlParts<'static> {
        PurlParts {
            ecosystem,
            name,
            version,
            arch: None,
            epoch: None,
            distro: None,
        }
    }

    fn debian() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: "12".into(),
            codename: Some("bookworm".into()),
            pretty_name: None,
        }
    }

    #[test]
    fn deb_purl_has_arch_and_distro_qualifiers_sorted() {
        let distro = debian();
        let p = PurlParts {
            arch: Some("amd64"),
            distro: Some(&distro),
            ..parts(Ecosystem::Deb, "openssl", "3.0.11-1~deb12u2")
        };
        assert_eq!(
            purl(&p).unwrap(),
            "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn deb_version_plus_and_epoch_colon_are_encoded_per_spec() {
        let distro = debian();
        let p = PurlParts {
            arch: Some("amd64"),
            distro: Some(&distro),
            ..parts(Ecosystem::Deb, "libc6", "1:2.36-9+deb12u4")
        };
        assert_eq!(
            purl(&p).unwrap(),
            "pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn rpm_purl_carries_epoch_qualifier() {
        let distro = Distro {
            id: "rocky".into(),
            version_id: "9.2".into(),
            codename: None,
            pretty_name: None,
        };
        let p = PurlParts {
            arch: Some("x86_64"),
            epoch: Some(1),
            distro: Some(&distro),
            ..parts(Ecosystem::Rpm, "openssl", "3.0.7-24.el9")
        };
        assert_eq!(
            purl(&p).unwrap(),
            "pkg:rpm/rocky/openssl@3.0.7-24.el9?arch=x86_64&distro=rocky-9.2&epoch=1"
        );
    }

    #[test]
    fn npm_scope_is_percent_encoded_namespace() {
        let p = parts(Ecosystem::Npm, "@angular/animation", "12.3.1");
        assert_eq!(purl(&p).unwrap(), "pkg:npm/%40angular/animation@12.3.1");
    }

    #[test]
    fn pypi_name_is_lowercased_with_dashes() {
        // The Python cataloger already normalises names per PEP 503; the purl
        // type rule (lowercase, `_` -> `-`) holds on top of that.
        let p = parts(Ecosystem::Pypi, "Django_Rest", "3.14.0");
        assert_eq!(purl(&p).unwrap(), "pkg:pypi/django-rest@3.14.0");
    }

    #[test]
    fn golang_module_path_splits_at_last_slash() {
        let p = parts(Ecosystem::Golang, "golang.org/x/text", "v0.3.7");
        assert_eq!(purl(&p).unwrap(), "pkg:golang/golang.org/x/text@v0.3.7");
        let p = parts(Ecosystem::Golang, "stdlib", "v1.19.8");
        assert_eq!(purl(&p).unwrap(), "pkg:golang/stdlib@v1.19.8");
    }

    #[test]
    fn maven_group_is_namespace() {
        let p = parts(
            Ecosystem::Maven,
            "org.apache.commons:commons-lang3",
            "3.12.0",
        );
        assert_eq!(
            purl(&p).unwrap(),
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
        );
    }

    #[test]
    fn cargo_purl() {
        let p = parts(Ecosystem::Cargo, "serde_json", "1.0.108");
        assert_eq!(purl(&p).unwrap(), "pkg:cargo/serde_json@1.0.108");
    }

    #[test]
    fn empty_name_is_an_error_not_a_panic() {
        let p = parts(Ecosystem::Cargo, "", "1.0");
        assert!(purl(&p).is_err());
    }
}
