//! Rendering an [`Sbom`]: a table for people, Bulwark's own JSON, CycloneDX
//! 1.6 JSON and SPDX 2.3 JSON.

mod cyclonedx;
mod spdx;
mod table;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::model::Sbom;

/// Output formats of `bulwark sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    CycloneDx,
    Spdx,
}

impl Format {
    pub const NAMES: [&'static str; 4] = ["table", "json", "cyclonedx", "spdx"];
}

/// A format name that is not one of [`Format::NAMES`].
#[derive(Debug, thiserror::Error)]
#[error("unknown format {0:?} (expected one of: table, json, cyclonedx, spdx)")]
pub struct UnknownFormat(String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "cyclonedx" | "cyclonedx-json" => Ok(Format::CycloneDx),
            "spdx" | "spdx-json" => Ok(Format::Spdx),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::CycloneDx => "cyclonedx",
            Format::Spdx => "spdx",
        })
    }
}

/// Who made the document, for the formats that record it.
#[derive(Debug, Clone)]
pub struct Producer<'a> {
    pub tool: &'a str,
    pub version: &'a str,
    /// When the document was made.
    pub created: OffsetDateTime,
}

/// A serialisation failure (it cannot happen for these types, but is not
/// hidden either).
#[derive(Debug, thiserror::Error)]
#[error("cannot serialise the SBOM as {format}: {source}")]
pub struct RenderError {
    format: Format,
    source: serde_json::Error,
}

/// The document, newline-terminated.
pub fn render(sbom: &Sbom, format: Format, producer: &Producer<'_>) -> Result<String, RenderError> {
    let json = |value: Result<String, serde_json::Error>| {
        value
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|source| RenderError { format, source })
    };
    match format {
        Format::Table => Ok(table::render(sbom)),
        Format::Json => json(serde_json::to_string_pretty(sbom)),
        Format::CycloneDx => json(serde_json::to_string_pretty(&cyclonedx::document(
            sbom, producer,
        ))),
        Format::Spdx => json(serde_json::to_string_pretty(&spdx::document(
            sbom, producer,
        ))),
    }
}

/// A stable UUID (RFC 4122 layout, version 5 bits) from the SBOM's content
/// and creation time, for document serial numbers and namespaces.
fn document_uuid(sbom: &Sbom, producer: &Producer<'_>) -> String {
    let mut hash = Sha256::new();
    hash.update(sbom.source.reference.as_bytes());
    hash.update(sbom.source.digest.as_deref().unwrap_or_default().as_bytes());
    for p in &sbom.packages {
        hash.update(p.purl.as_bytes());
        hash.update([0]);
    }
    hash.update(producer.created.unix_timestamp_nanos().to_be_bytes());
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&hash.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// RFC 3339 in UTC with whole seconds (`2024-01-02T03:04:05Z`), the form
/// both CycloneDX and SPDX accept.
fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{
        Distro, Ecosystem, Layer, LayerRef, Package, PackageKind, SCHEMA_VERSION, Source,
        SourcePackage, Warning,
    };

    pub fn producer() -> Producer<'static> {
        Producer {
            tool: "bulwark",
            version: "0.1.0",
            created: time::macros::datetime!(2024-05-06 07:08:09.5 UTC),
        }
    }

    fn package(ecosystem: Ecosystem, name: &str, version: &str, purl: &str) -> Package {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            epoch: None,
            arch: None,
            source: None,
            license: None,
            kind: PackageKind::Library,
            purl: purl.into(),
            layer: LayerRef {
                index: 0,
                diff_id: format!("sha256:{}", "a".repeat(64)),
            },
            paths: vec!["/var/lib/dpkg/status".into()],
        }
    }

    pub fn sample() -> Sbom {
        let mut libc = package(
            Ecosystem::Deb,
            "libc6",
            "2.36-9+deb12u4",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        );
        libc.arch = Some("amd64".into());
        libc.source = Some(SourcePackage {
            name: "glibc".into(),
            version: "2.36-9+deb12u4".into(),
        });
        libc.license = Some("LGPL-2.1 and weird licence text".into());
        let mut scoped = package(
            Ecosystem::Npm,
            "@babel/core",
            "7.23.2",
            "pkg:npm/%40babel/core@7.23.2",
        );
        scoped.layer.index = 1;
        let mut app = package(
            Ecosystem::Golang,
            "example.com/hello",
            "(devel)",
            "pkg:golang/example.com/hello@%28devel%29",
        );
        app.kind = PackageKind::Application;
        let maven = package(
            Ecosystem::Maven,
            "org.apache.commons:commons-lang3",
            "3.12.0",
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        );
        Sbom {
            schema: SCHEMA_VERSION.into(),
            source: Source {
                kind: "oci-layout".into(),
                reference: "target/debian-oci:latest".into(),
                digest: Some(format!("sha256:{}", "b".repeat(64))),
                platform: Some("linux/amd64".into()),
            },
            distro: Some(Distro {
                id: "debian".into(),
                version_id: "12".into(),
                codename: Some("bookworm".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            }),
            layers: vec![
                Layer {
                    index: 0,
                    diff_id: format!("sha256:{}", "a".repeat(64)),
                },
                Layer {
                    index: 1,
                    diff_id: format!("sha256:{}", "c".repeat(64)),
                },
            ],
            packages: vec![libc, scoped, app, maven],
            warnings: vec![Warning {
                path: "/var/lib/rpm/Packages".into(),
                layer: Some(0),
                message: "Berkeley DB rpm database found and NOT read".into(),
            }],
        }
    }

    #[test]
    fn format_names_round_trip() {
        for name in Format::NAMES {
            assert_eq!(name.parse::<Format>().unwrap().to_string(), name);
        }
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn uuid_has_rfc4122_shape() {
        let u = document_uuid(&sample(), &producer());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(timestamp(producer().created), "2024-05-06T07:08:09Z");
    }

    #[test]
    fn json_round_trips_through_the_model() {
        let sbom = sample();
        let text = render(&sbom, Format::Json, &producer()).unwrap();
        let back: Sbom = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sbom);
    }
}
