//! npm packages installed under `node_modules`: the `name`, `version` and
//! `license` of `node_modules/[@scope/]name/package.json`. A project's own
//! `package.json` (not under `node_modules`) is not a package of the image.

use serde::Deserialize;

use super::{CatalogError, FileFindings, Found};
use crate::model::Ecosystem;

/// Whether `dir` is a package directory directly inside `node_modules`
/// (`.../node_modules/name` or `.../node_modules/@scope/name`).
pub fn is_package_dir(dir: &str) -> bool {
    let mut parts = dir.rsplit('/');
    let (Some(name), Some(parent)) = (parts.next(), parts.next()) else {
        return false;
    };
    if name.is_empty() || name.starts_with('.') {
        return false;
    }
    match parent {
        "node_modules" => !name.starts_with('@'),
        scope if scope.starts_with('@') && scope.len() > 1 => parts.next() == Some("node_modules"),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    license: Option<License>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum License {
    Spdx(String),
    Object {
        #[serde(rename = "type")]
        kind: Option<String>,
    },
    Other(serde::de::IgnoredAny),
}

pub fn parse(bytes: &[u8]) -> Result<FileFindings, CatalogError> {
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| CatalogError::malformed("package.json", e.to_string()))?;
    let (Some(name), Some(version)) = (manifest.name, manifest.version) else {
        // Not an installed package (npm itself ignores such directories).
        return Ok(FileFindings::default());
    };
    if name.is_empty() || version.is_empty() {
        return Err(CatalogError::malformed(
            "package.json",
            "empty name or version",
        ));
    }
    let mut found = Found::new(Ecosystem::Npm, name, version);
    found.license = match manifest.license {
        Some(License::Spdx(s)) => Some(s),
        Some(License::Object { kind }) => kind,
        Some(License::Other(_)) | None => None,
    };
    Ok(FileFindings::packages(vec![found]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_dirs() {
        assert!(is_package_dir("app/node_modules/lodash"));
        assert!(is_package_dir("node_modules/lodash"));
        assert!(is_package_dir("app/node_modules/@babel/core"));
        assert!(is_package_dir("a/node_modules/x/node_modules/@s/y"));
        assert!(!is_package_dir("app/node_modules/@babel"));
        assert!(!is_package_dir("app/node_modules/lodash/fp"));
        assert!(!is_package_dir("app/node_modules/.bin"));
        assert!(!is_package_dir("app"));
        assert!(!is_package_dir("app/node_modules/@/x"));
    }

    #[test]
    fn scoped_package_with_license_object() {
        let json = br#"{"name":"@babel/core","version":"7.23.2","license":{"type":"MIT"}}"#;
        let found = parse(json).unwrap();
        assert_eq!(found.packages[0].name, "@babel/core");
        assert_eq!(found.packages[0].license.as_deref(), Some("MIT"));
    }

    #[test]
    fn odd_license_shapes_do_not_fail_the_package() {
        let json = br#"{"name":"x","version":"1.0.0","license":["MIT"]}"#;
        assert_eq!(parse(json).unwrap().packages[0].license, None);
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse(b"{\"name\": ").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(br#"{"name":"","version":"1"}"#).is_err());
        assert!(parse(br#"{"name":1,"version":"1"}"#).is_err());
    }

    #[test]
    fn manifest_without_version_is_not_a_package() {
        let found = parse(br#"{"name":"x"}"#).unwrap();
        assert!(found.packages.is_empty());
    }
}
