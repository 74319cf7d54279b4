//! Python distributions: core metadata (`Name`, `Version`, `License`) in
//! `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and single-file `*.egg-info`.
//! Names are normalised per PEP 503.

use super::{CatalogError, Found};
use crate::model::Ecosystem;

pub fn is_metadata_path(dir: &str, file: &str) -> bool {
    let parent = dir.rsplit('/').next().unwrap_or(dir);
    (file == "METADATA" && parent.ends_with(".dist-info"))
        || (file == "PKG-INFO" && parent.ends_with(".egg-info"))
        || file.ends_with(".egg-info")
}

/// The one distribution a metadata file describes.
pub fn parse(bytes: &[u8]) -> Result<Vec<Found>, CatalogError> {
    let text = String::from_utf8_lossy(bytes);
    let (mut name, mut version, mut license, mut expression) = (None, None, None, None);
    // Header fields end at the first blank line; the body is the description.
    for line in text.lines().take_while(|l| !l.trim().is_empty()) {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let slot = match key.to_ascii_lowercase().as_str() {
            "name" => &mut name,
            "version" => &mut version,
            "license" => &mut license,
            "license-expression" => &mut expression,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() && value != "UNKNOWN" {
            *slot = Some(value.to_owned());
        }
    }
    let name = name.ok_or_else(|| CatalogError::malformed("Python metadata", "no Name field"))?;
    let version = version.ok_or_else(|| {
        CatalogError::malformed("Python metadata", format!("{name}: no Version field"))
    })?;
    let mut found = Found::new(Ecosystem::Pypi, normalise(&name), version);
    found.license = expression.or(license);
    Ok(vec![found])
}

/// PEP 503: lowercase, runs of `-`, `_` and `.` become one `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_metadata() {
        let text = "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nSummary: YAML\n\
License: MIT\nClassifier: A\n\nName: not-this\nBody text\n";
        let found = parse(text.as_bytes()).unwrap();
        assert_eq!(found[0].name, "pyyaml");
        assert_eq!(found[0].version, "6.0.1");
        assert_eq!(found[0].license.as_deref(), Some("MIT"));
    }

    #[test]
    fn license_expression_wins_over_license() {
        let text = "Name: x\nVersion: 1\nLicense: see file\nLicense-Expression: Apache-2.0\n";
        assert_eq!(
            parse(text.as_bytes()).unwrap()[0].license.as_deref(),
            Some("Apache-2.0")
        );
    }

    #[test]
    fn pep503_normalisation() {
        assert_eq!(normalise("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalise("FRIENDLY_BARD"), "friendly-bard");
        assert_eq!(normalise("friendly.__-bard"), "friendly-bard");
        assert_eq!(normalise("zope.interface"), "zope-interface");
    }

    #[test]
    fn bogus_metadata_is_an_error() {
        assert!(parse(b"this is not metadata").is_err());
        assert!(parse(b"Name: only-name\n").is_err());
        assert!(parse(b"\xff\xfe\xfd").is_err());
        assert!(parse(b"Version: 1\n\nName: in-body\n").is_err());
    }

    #[test]
    fn paths() {
        assert!(is_metadata_path(
            "site-packages/six-1.16.0.dist-info",
            "METADATA"
        ));
        assert!(is_metadata_path("site-packages/foo.egg-info", "PKG-INFO"));
        assert!(is_metadata_path("site-packages", "foo-1.0-py3.11.egg-info"));
        assert!(!is_metadata_path("site-packages/foo", "METADATA"));
    }
}
