//! CycloneDX 1.6 JSON: the image as `metadata.component` (a container), the
//! OS as an `operating-system` component, every package a `library` or
//! `application` with its purl; layer, paths and source package ride along
//! as `bulwark:*` properties.

use serde::Serialize;

use super::{Producer, document_uuid, timestamp};
use crate::model::{Ecosystem, Package, PackageKind, Sbom};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    timestamp: String,
    tools: Tools<'a>,
    component: Component,
}

#[derive(Serialize)]
struct Tools<'a> {
    components: Vec<Tool<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct LicenseChoice {
    license: License,
}

#[derive(Serialize)]
struct License {
    name: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

fn property(name: &'static str, value: impl Into<String>) -> Property {
    Property {
        name,
        value: value.into(),
    }
}

pub fn document<'a>(sbom: &Sbom, producer: &'a Producer<'a>) -> Document<'a> {
    let image = image_component(sbom);
    let mut components = Vec::with_capacity(sbom.packages.len() + 1);
    if let Some(distro) = &sbom.distro {
        components.push(Component {
            kind: "operating-system",
            bom_ref: "os".into(),
            group: None,
            name: distro.id.clone(),
            version: Some(distro.version_id.clone()).filter(|v| !v.is_empty()),
            description: distro.pretty_name.clone(),
            purl: None,
            licenses: Vec::new(),
            properties: Vec::new(),
        });
    }
    components.extend(
        sbom.packages
            .iter()
            .enumerate()
            .map(|(i, p)| package_component(i, p)),
    );
    let dependencies = vec![Dependency {
        reference: image.bom_ref.clone(),
        depends_on: components.iter().map(|c| c.bom_ref.clone()).collect(),
    }];
    Document {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!("urn:uuid:{}", document_uuid(sbom, producer)),
        version: 1,
        metadata: Metadata {
            timestamp: timestamp(producer.created),
            tools: Tools {
                components: vec![Tool {
                    kind: "application",
                    name: producer.tool,
                    version: producer.version,
                }],
            },
            component: image,
        },
        components,
        dependencies,
    }
}

fn image_component(sbom: &Sbom) -> Component {
    let mut properties = vec![property("bulwark:source:kind", sbom.source.kind.clone())];
    properties.extend(
        sbom.source
            .platform
            .iter()
            .map(|p| property("bulwark:source:platform", p.clone())),
    );
    properties.extend(sbom.layers.iter().map(|l| {
        property(
            "bulwark:layer:diff_id",
            format!("{} {}", l.index, l.diff_id),
        )
    }));
    properties.extend(
        sbom.warnings
            .iter()
            .map(|w| property("bulwark:warning", w.to_string())),
    );
    Component {
        kind: "container",
        bom_ref: "image".into(),
        group: None,
        name: sbom.source.reference.clone(),
        version: sbom.source.digest.clone(),
        description: None,
        purl: None,
        licenses: Vec::new(),
        properties,
    }
}

fn package_component(index: usize, p: &Package) -> Component {
    let (group, name) = match p.ecosystem {
        Ecosystem::Maven => split(&p.name, ':'),
        Ecosystem::Npm if p.name.starts_with('@') => split(&p.name, '/'),
        _ => (None, p.name.clone()),
    };
    let mut properties = vec![
        property("bulwark:ecosystem", p.ecosystem.to_string()),
        property("bulwark:layer:index", p.layer.index.to_string()),
        property("bulwark:layer:diff_id", p.layer.diff_id.clone()),
    ];
    if let Some(src) = &p.source {
        properties.push(property("bulwark:source:name", src.name.clone()));
        properties.push(property("bulwark:source:version", src.version.clone()));
    }
    properties.extend(
        p.paths
            .iter()
            .map(|path| property("bulwark:path", path.clone())),
    );
    Component {
        kind: match p.kind {
            PackageKind::Library => "library",
            PackageKind::Application => "application",
        },
        bom_ref: format!("pkg-{index}"),
        group,
        name,
        version: Some(p.version.clone()),
        description: None,
        purl: Some(p.purl.clone()),
        licenses: p
            .license
            .iter()
            .map(|l| LicenseChoice {
                license: License { name: l.clone() },
            })
            .collect(),
        properties,
    }
}

fn split(name: &str, sep: char) -> (Option<String>, String) {
    match name.split_once(sep) {
        Some((group, rest)) => (Some(group.to_owned()), rest.to_owned()),
        None => (None, name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{producer, sample};
    use super::*;

    #[test]
    fn components_carry_purl_group_and_layer() {
        let producer = producer();
        let doc = serde_json::to_value(document(&sample(), &producer)).unwrap();
        assert_eq!(doc["specVersion"], "1.6");
        assert_eq!(doc["metadata"]["component"]["type"], "container");
        let components = doc["components"].as_array().unwrap();
        assert_eq!(components[0]["type"], "operating-system");
        assert_eq!(components[0]["version"], "12");
        let libc = &components[1];
        assert_eq!(
            libc["purl"],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        let props = libc["properties"].as_array().unwrap();
        assert!(
            props
                .iter()
                .any(|p| p["name"] == "bulwark:source:name" && p["value"] == "glibc")
        );
        assert_eq!(components[2]["group"], "@babel");
        assert_eq!(components[2]["name"], "core");
        assert_eq!(components[3]["type"], "application");
        assert_eq!(components[4]["group"], "org.apache.commons");
        let deps = doc["dependencies"][0]["dependsOn"].as_array().unwrap();
        assert_eq!(deps.len(), components.len());
    }
}
