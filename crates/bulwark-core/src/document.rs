//! The envelope of Bulwark's YAML documents: `apiVersion`, `kind`,
//! `metadata`, `spec`, so that the same files work as Kubernetes custom
//! resources and in Git. [`parse_documents`] reads a `---`-separated stream
//! of one kind, checks `apiVersion`/`kind` before looking at the spec (a
//! document of another kind gets that error, not a confusing one about its
//! fields) and refuses unknown fields in the envelope and metadata.
//!
//! What each `spec` means is the owning crate's business; this module only
//! hands it over, typed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The `apiVersion` and `kind` a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentKind {
    pub api_version: &'static str,
    pub kind: &'static str,
}

/// `metadata`: a name, and labels kept for Kubernetes-style documents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Why a document stream was refused. `source_name` is where it came from
/// (a file name), for the one-line error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("{source_name}: not a {kind} document: {reason}")]
    Yaml {
        source_name: String,
        kind: &'static str,
        reason: String,
    },
    #[error(
        "{source_name}: apiVersion/kind must be {}/{}, got {api_version}/{kind}",
        want.api_version,
        want.kind
    )]
    WrongKind {
        source_name: String,
        want: DocumentKind,
        api_version: String,
        kind: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Envelope<S> {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    metadata: Metadata,
    spec: S,
}

/// Every document of kind `want` in `yaml` (empty documents are skipped),
/// with its metadata and typed spec, in order.
pub fn parse_documents<S: DeserializeOwned>(
    source_name: &str,
    yaml: &str,
    want: DocumentKind,
) -> Result<Vec<(Metadata, S)>, DocumentError> {
    let yaml_err = |e: serde_yaml::Error| DocumentError::Yaml {
        source_name: source_name.to_owned(),
        kind: want.kind,
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(doc).map_err(yaml_err)?;
        if value.is_null() {
            continue;
        }
        let header: Header = serde_yaml::from_value(value.clone()).map_err(yaml_err)?;
        if header.api_version != want.api_version || header.kind != want.kind {
            return Err(DocumentError::WrongKind {
                source_name: source_name.to_owned(),
                want,
                api_version: header.api_version,
                kind: header.kind,
            });
        }
        let envelope: Envelope<S> = serde_yaml::from_value(value).map_err(yaml_err)?;
        out.push((envelope.metadata, envelope.spec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const KIND: DocumentKind = DocumentKind {
        api_version: "bulwark.dev/v1alpha1",
        kind: "Thing",
    };

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        size: u32,
    }

    fn parse(yaml: &str) -> Result<Vec<(Metadata, Spec)>, DocumentError> {
        parse_documents("t.yaml", yaml, KIND)
    }

    #[test]
    fn reads_every_document_of_the_stream_and_skips_empty_ones() {
        let yaml = "---\napiVersion: bulwark.dev/v1alpha1\nkind: Thing\nmetadata: {name: a, labels: {x: y}}\nspec: {size: 1}\n---\n---\napiVersion: bulwark.dev/v1alpha1\nkind: Thing\nmetadata: {name: b}\nspec: {size: 2}\n";
        let docs = parse(yaml).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0.name, "a");
        assert_eq!(docs[0].0.labels.get("x").map(String::as_str), Some("y"));
        assert_eq!(docs[1].1, Spec { size: 2 });
    }

    #[test]
    fn another_kind_is_named_before_its_fields_are_looked_at() {
        let err = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml: apiVersion/kind must be bulwark.dev/v1alpha1/Thing, got v1/Pod"
        );
    }

    #[test]
    fn unknown_fields_in_the_envelope_metadata_or_spec_are_refused() {
        for yaml in [
            "apiVersion: bulwark.dev/v1alpha1\nkind: Thing\nmetadata: {name: a}\nspec: {size: 1}\nstatus: {}\n",
            "apiVersion: bulwark.dev/v1alpha1\nkind: Thing\nmetadata: {name: a, namespace: x}\nspec: {size: 1}\n",
            "apiVersion: bulwark.dev/v1alpha1\nkind: Thing\nmetadata: {name: a}\nspec: {size: 1, colour: red}\n",
        ] {
            let err = parse(yaml).unwrap_err().to_string();
            assert!(err.starts_with("t.yaml: not a Thing document: "), "{err}");
        }
    }

    #[test]
    fn a_stream_that_is_not_yaml_is_refused_with_the_source_name() {
        let err = parse("{{{").unwrap_err().to_string();
        assert!(err.starts_with("t.yaml: not a Thing document"), "{err}");
        let err = parse("- just\n- a list\n").unwrap_err().to_string();
        assert!(err.starts_with("t.yaml: not a Thing document"), "{err}");
    }
}
