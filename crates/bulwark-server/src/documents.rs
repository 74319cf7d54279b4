//! Validation of the documents the API stores and sends to nodes: one YAML
//! document of the expected kind, named as in the request, accepted by the
//! crate that will use it on the node.

use bulwark_control::wire::UpdateKind;
use serde::Deserialize;

/// Largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Why a document was refused (one line, naming the document).
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name:?}: {problem}")]
pub struct DocumentError {
    pub kind: &'static str,
    pub name: String,
    pub problem: String,
}

/// Checks a document of `kind` meant to be stored as `name`.
pub fn validate(kind: UpdateKind, name: &str, text: &str) -> Result<(), DocumentError> {
    let err = |problem: String| DocumentError {
        kind: kind.as_str(),
        name: name.escape_debug().to_string(),
        problem,
    };
    if name.is_empty()
        || name.len() > 253
        || name
            .chars()
            .any(|c| c.is_control() || (c == '/' && kind != UpdateKind::WorkloadProfile))
    {
        return Err(err(
            "names are 1 to 253 characters without '/' or control characters".into(),
        ));
    }
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(err(format!(
            "{} bytes, the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(text)
        .map(serde_yaml::Value::deserialize)
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("not YAML: {e}")))?;
    let [doc] = docs.as_slice() else {
        return Err(err(format!(
            "expected one YAML document, found {}",
            docs.len()
        )));
    };
    let doc_kind = doc
        .get("kind")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("");
    if doc_kind != kind.as_str() {
        return Err(err(format!("the document's kind is {doc_kind:?}")));
    }
    let doc_name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("");
    if doc_name != name {
        return Err(err(format!("the document's metadata.name is {doc_name:?}")));
    }
    let source = format!("{} {name}", kind.as_str());
    let checked: Result<(), String> = match kind {
        UpdateKind::WorkloadProfile => bulwark_profile::parse(text, &source)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        UpdateKind::EnforcementPolicy => {
            bulwark_enforce::policy::PolicyDocument::parse(&source, text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        UpdateKind::ImagePolicy => bulwark_trust::policy::PolicySet::from_yaml(text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        UpdateKind::AccessPolicy => bulwark_mesh::policy::PolicySet::parse(&source, text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        UpdateKind::WorkloadIdentity => bulwark_identity::entry::Entry::parse_all(&source, text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    checked.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_wrong_kind_name_count_and_junk() {
        let access =
            "apiVersion: bulwark.dev/v1\nkind: AccessPolicy\nmetadata:\n  name: a\nspec: {}\n";
        let e = |k, n, t| validate(k, n, t).map_err(|e| e.to_string());
        assert!(
            e(UpdateKind::ImagePolicy, "a", access)
                .is_err_and(|m| m.contains("kind is \"AccessPolicy\""))
        );
        assert!(
            e(UpdateKind::AccessPolicy, "b", access).is_err_and(|m| m.contains("metadata.name"))
        );
        let two = format!("{access}---\n{access}");
        assert!(
            e(UpdateKind::AccessPolicy, "a", &two).is_err_and(|m| m.contains("one YAML document"))
        );
        assert!(e(UpdateKind::AccessPolicy, "a", "{{{").is_err_and(|m| m.contains("not YAML")));
        assert!(e(UpdateKind::AccessPolicy, "a/../x", access).is_err());
        assert!(e(UpdateKind::AccessPolicy, "a\nb", access).is_err());
    }
}
