//! SPDX 2.3 JSON: the image is the described package, which CONTAINS the OS
//! and every cataloged package; each package names its purl as a
//! PACKAGE-MANAGER external reference. Declared licences are free text in
//! the catalogued metadata, not checked SPDX expressions, so they go into
//! `licenseComments` and `licenseDeclared` stays NOASSERTION.

use serde::Serialize;

use super::{Producer, document_uuid, timestamp};
use crate::model::Sbom;

const NOASSERTION: &str = "NOASSERTION";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    license_concluded: &'static str,
    license_declared: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    license_comments: Option<String>,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

fn package(spdx_id: String, name: String, version: Option<String>) -> Package {
    Package {
        spdx_id,
        name,
        version_info: version,
        download_location: NOASSERTION,
        files_analyzed: false,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION,
        license_comments: None,
        copyright_text: NOASSERTION,
        source_info: None,
        primary_package_purpose: None,
        comment: None,
        external_refs: Vec::new(),
    }
}

pub fn document(sbom: &Sbom, producer: &Producer<'_>) -> Document {
    const IMAGE: &str = "SPDXRef-Image";
    let mut image = package(
        IMAGE.into(),
        sbom.source.reference.clone(),
        sbom.source.digest.clone(),
    );
    image.primary_package_purpose = Some("CONTAINER");
    image.comment = Some(format!(
        "read as {}; layers (index diffID): {}",
        sbom.source.kind,
        sbom.layers
            .iter()
            .map(|l| format!("{} {}", l.index, l.diff_id))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut packages = vec![image];
    if let Some(distro) = &sbom.distro {
        let mut os = package(
            "SPDXRef-OperatingSystem".into(),
            distro.id.clone(),
            Some(distro.version_id.clone()),
        );
        os.primary_package_purpose = Some("OPERATING_SYSTEM");
        os.comment = distro.pretty_name.clone();
        packages.push(os);
    }
    for (i, p) in sbom.packages.iter().enumerate() {
        let mut pkg = package(
            format!("SPDXRef-Package-{i}"),
            p.name.clone(),
            Some(p.version.clone()),
        );
        pkg.primary_package_purpose = Some(match p.kind {
            crate::model::PackageKind::Library => "LIBRARY",
            crate::model::PackageKind::Application => "APPLICATION",
        });
        pkg.license_comments = p
            .license
            .as_ref()
            .map(|l| format!("declared by the package: {l}"));
        pkg.source_info = p
            .source
            .as_ref()
            .map(|s| format!("built package from: {} {}", s.name, s.version));
        pkg.comment = Some(format!(
            "{} package; layer {} ({}); found in {}",
            p.ecosystem,
            p.layer.index,
            p.layer.diff_id,
            p.paths.join(", ")
        ));
        pkg.external_refs.push(ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: p.purl.clone(),
        });
        packages.push(pkg);
    }
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: IMAGE.into(),
    }];
    relationships.extend(packages.iter().skip(1).map(|p| Relationship {
        spdx_element_id: IMAGE.into(),
        relationship_type: "CONTAINS",
        related_spdx_element: p.spdx_id.clone(),
    }));
    let uuid = document_uuid(sbom, producer);
    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: sbom.source.reference.clone(),
        document_namespace: format!(
            "https://bulwark.invalid/spdx/{}-{uuid}",
            namespace_safe(&sbom.source.reference)
        ),
        creation_info: CreationInfo {
            created: timestamp(producer.created),
            creators: vec![format!("Tool: {}-{}", producer.tool, producer.version)],
        },
        packages,
        relationships,
    }
}

/// The reference as a URI path segment: anything but `[A-Za-z0-9._-]`
/// becomes `-`.
fn namespace_safe(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{producer, sample};
    use super::*;

    #[test]
    fn image_contains_every_package_with_purl_refs() {
        let doc = serde_json::to_value(document(&sample(), &producer())).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        let packages = doc["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 2 + 4);
        assert_eq!(packages[1]["primaryPackagePurpose"], "OPERATING_SYSTEM");
        let libc = &packages[2];
        assert_eq!(
            libc["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            libc["sourceInfo"],
            "built package from: glibc 2.36-9+deb12u4"
        );
        assert_eq!(libc["licenseDeclared"], "NOASSERTION");
        let rels = doc["relationships"].as_array().unwrap();
        assert_eq!(rels.len(), 1 + 5);
        assert!(
            doc["documentNamespace"]
                .as_str()
                .unwrap()
                .starts_with("https://bulwark.invalid/spdx/target-debian-oci-latest-")
        );
    }
}
