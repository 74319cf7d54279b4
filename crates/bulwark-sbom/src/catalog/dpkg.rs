//! dpkg's database: `var/lib/dpkg/status` and distroless `status.d/*` files,
//! deb822 paragraphs of `Field: value` lines.

use super::{CatalogError, FileFindings, Found};
use crate::model::{Ecosystem, SourcePackage};

/// Packages in a status file. Paragraphs without a name or version are
/// reported as warnings; packages that are not on disk (`not-installed`,
/// `config-files`) are left out.
pub fn parse(bytes: &[u8]) -> Result<FileFindings, CatalogError> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = FileFindings::default();
    for (index, paragraph) in paragraphs(&text).enumerate() {
        match package(&paragraph) {
            Ok(Some(found)) => out.packages.push(found),
            Ok(None) => {}
            Err(reason) => out
                .warnings
                .push(format!("dpkg paragraph {}: {reason}", index + 1)),
        }
    }
    out.unless_all_malformed("dpkg status")
}

/// One paragraph's fields, continuation lines dropped (no field we read spans
/// lines).
type Paragraph<'a> = Vec<(&'a str, &'a str)>;

fn paragraphs(text: &str) -> impl Iterator<Item = Paragraph<'_>> {
    text.split("\n\n").filter_map(|block| {
        let fields: Paragraph<'_> = block
            .lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        (!fields.is_empty()).then_some(fields)
    })
}

fn field<'a>(p: &Paragraph<'a>, name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .filter(|v| !v.is_empty())
}

fn package(p: &Paragraph<'_>) -> Result<Option<Found>, String> {
    if let Some(status) = field(p, "Status") {
        let state = status.split_whitespace().nth(2).unwrap_or_default();
        if matches!(state, "not-installed" | "config-files" | "") {
            return Ok(None);
        }
    }
    let name = field(p, "Package").ok_or("no Package field")?;
    let version = field(p, "Version").ok_or_else(|| format!("{name}: no Version field"))?;
    let mut found = Found::new(Ecosystem::Deb, name, version);
    found.arch = field(p, "Architecture").map(str::to_owned);
    found.source = Some(source(field(p, "Source"), name, version));
    Ok(Some(found))
}

/// `Source: name` or `Source: name (version)`; absent means the binary
/// package is its own source.
fn source(field: Option<&str>, name: &str, version: &str) -> SourcePackage {
    let Some(field) = field else {
        return SourcePackage {
            name: name.into(),
            version: version.into(),
        };
    };
    match field.split_once('(') {
        Some((src, rest)) => SourcePackage {
            name: src.trim().into(),
            version: rest.trim_end_matches(')').trim().into(),
        },
        None => SourcePackage {
            name: field.into(),
            version: version.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libgcc-s1
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Description: GCC support library
 Shared version of the support library.
 .
 More text: with a colon.

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: oldpkg
Status: deinstall ok config-files
Version: 1.0-1

Package: tzdata
Status: install ok installed
Architecture: all
Source: tzdata
Version: 2024a-0+deb12u1
";

    #[test]
    fn status_file_with_source_packages() {
        let found = parse(STATUS.as_bytes()).unwrap();
        assert!(found.warnings.is_empty());
        let names: Vec<_> = found.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libgcc-s1", "base-files", "tzdata"]);
        let gcc = &found.packages[0];
        assert_eq!(gcc.version, "12.2.0-14");
        assert_eq!(gcc.arch.as_deref(), Some("amd64"));
        let src = gcc.source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_str()),
            ("gcc-12", "12.2.0-14")
        );
        let base = found.packages[1].source.as_ref().unwrap();
        assert_eq!(
            (base.name.as_str(), base.version.as_str()),
            ("base-files", "12.4+deb12u5")
        );
        let tz = found.packages[2].source.as_ref().unwrap();
        assert_eq!(tz.version, "2024a-0+deb12u1");
    }

    #[test]
    fn source_version_can_differ_from_binary_version() {
        let text =
            "Package: libssl3\nVersion: 3.0.11-1~deb12u2+b1\nSource: openssl (3.0.11-1~deb12u2)\n";
        let found = parse(text.as_bytes()).unwrap();
        let src = found.packages[0].source.as_ref().unwrap();
        assert_eq!(src.version, "3.0.11-1~deb12u2");
        assert_eq!(found.packages[0].version, "3.0.11-1~deb12u2+b1");
    }

    #[test]
    fn distroless_status_d_file_without_status_field() {
        let text = "Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nSource: glibc\n";
        let found = parse(text.as_bytes()).unwrap();
        assert_eq!(found.packages.len(), 1);
        assert_eq!(found.packages[0].source.as_ref().unwrap().name, "glibc");
    }

    #[test]
    fn truncated_status_keeps_complete_paragraphs_and_warns() {
        let cut = &STATUS[..STATUS.find("Version: 2024a").unwrap()];
        let found = parse(cut.as_bytes()).unwrap();
        assert_eq!(found.packages.len(), 2);
        assert_eq!(found.warnings.len(), 1);
        assert!(
            found.warnings[0].contains("tzdata: no Version field"),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = parse(b"\xff\xfe: \x00\n\nfoo: bar\n").unwrap_err();
        assert!(
            err.to_string().starts_with("not valid dpkg status"),
            "{err}"
        );
        assert!(parse(b"").unwrap().packages.is_empty());
    }

    #[test]
    fn non_utf8_description_does_not_lose_the_package() {
        let mut text = b"Package: caf\xe9\nVersion: 1\nDescription: \xe9t\xe9\n".to_vec();
        text.extend_from_slice(b"\nPackage: b\nVersion: 2\n");
        let found = parse(&text).unwrap();
        assert_eq!(found.packages.len(), 2);
        assert_eq!(found.packages[1].name, "b");
    }
}
