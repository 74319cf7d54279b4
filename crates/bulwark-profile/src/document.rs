//! Reading and writing profile documents (YAML, one or more per stream),
//! with every check an imported file must pass.

use serde::Deserialize as _;

use crate::error::DocumentError;
use crate::spec::{API_VERSION, KIND, WorkloadProfile};

/// Largest document stream accepted.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Parses every profile in a YAML stream (documents separated by `---`).
/// `source` names the input in errors.
pub fn parse(text: &str, source: &str) -> Result<Vec<WorkloadProfile>, DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            source_name: source.to_owned(),
            len: text.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(DocumentError::Empty {
            source_name: source.to_owned(),
        });
    }
    let mut out = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let profile = WorkloadProfile::deserialize(doc).map_err(|e| DocumentError::Yaml {
            source_name: source.to_owned(),
            index: index + 1,
            message: e.to_string(),
        })?;
        check(&profile).map_err(|problem| DocumentError::Invalid {
            source_name: source.to_owned(),
            index: index + 1,
            problem,
        })?;
        out.push(profile);
    }
    if out.is_empty() {
        return Err(DocumentError::Empty {
            source_name: source.to_owned(),
        });
    }
    Ok(out)
}

fn check(profile: &WorkloadProfile) -> Result<(), String> {
    if profile.api_version != API_VERSION {
        return Err(format!(
            "apiVersion is {:?}, expected {API_VERSION:?}",
            profile.api_version
        ));
    }
    if profile.kind != KIND {
        return Err(format!("kind is {:?}, expected {KIND:?}", profile.kind));
    }
    for (i, e) in profile.spec.exceptions.iter().enumerate() {
        e.validate()
            .map_err(|p| format!("spec.exceptions[{i}]: {p}"))?;
    }
    for (i, r) in profile.spec.processes.iter().enumerate() {
        if !r.exe.starts_with('/') || r.exe.chars().any(char::is_control) {
            return Err(format!(
                "spec.processes[{i}].exe {:?} is not an absolute path",
                r.exe
            ));
        }
    }
    Ok(())
}

/// Kind of the document holding exceptions for every workload of an agent.
pub const EXCEPTIONS_KIND: &str = "DetectionExceptions";

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExceptionsDoc {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: serde_yaml::Value,
    spec: ExceptionsSpec,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsSpec {
    exceptions: Vec<crate::exception::Exception>,
}

/// Parses a `kind: DetectionExceptions` document: agent-wide, scoped
/// exceptions to the built-in rules.
pub fn parse_exceptions(
    text: &str,
    source: &str,
) -> Result<Vec<crate::exception::Exception>, DocumentError> {
    let invalid = |problem: String| DocumentError::Invalid {
        source_name: source.to_owned(),
        index: 1,
        problem,
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            source_name: source.to_owned(),
            len: text.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let doc: ExceptionsDoc = serde_yaml::from_str(text).map_err(|e| DocumentError::Yaml {
        source_name: source.to_owned(),
        index: 1,
        message: e.to_string(),
    })?;
    let _ = doc.metadata;
    if doc.api_version != API_VERSION || doc.kind != EXCEPTIONS_KIND {
        return Err(invalid(format!(
            "expected apiVersion {API_VERSION:?} and kind {EXCEPTIONS_KIND:?}, found {:?} and {:?}",
            doc.api_version, doc.kind
        )));
    }
    for (i, e) in doc.spec.exceptions.iter().enumerate() {
        e.validate()
            .map_err(|p| invalid(format!("spec.exceptions[{i}]: {p}")))?;
        let known = e.rule == "*" || crate::detect::CATALOG.iter().any(|r| r.id == e.rule);
        if !known {
            return Err(invalid(format!(
                "spec.exceptions[{i}]: unknown rule {:?}",
                e.rule
            )));
        }
    }
    Ok(doc.spec.exceptions)
}

/// One profile as a YAML document.
pub fn to_yaml(profile: &WorkloadProfile) -> Result<String, DocumentError> {
    serde_yaml::to_string(profile).map_err(|e| DocumentError::Yaml {
        source_name: profile.workload().to_string(),
        index: 1,
        message: e.to_string(),
    })
}

/// Several profiles as one YAML stream.
pub fn to_yaml_stream(profiles: &[WorkloadProfile]) -> Result<String, DocumentError> {
    let mut out = String::new();
    for p in profiles {
        out.push_str("---\n");
        out.push_str(&to_yaml(p)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::WorkloadId;
    use time::OffsetDateTime;

    fn sample() -> WorkloadProfile {
        let id = WorkloadId::new("image:registry.test/web").unwrap_or_else(|e| panic!("{e}"));
        WorkloadProfile::new(id, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn yaml_round_trips_and_streams_hold_several_profiles() {
        let one = sample();
        let text = to_yaml_stream(&[one.clone(), one.clone()]).unwrap_or_default();
        assert!(
            text.contains("apiVersion: bulwark.dev/v1") && text.contains("kind: WorkloadProfile")
        );
        let back = parse(&text, "test.yaml").unwrap_or_default();
        assert_eq!(back, vec![one.clone(), one]);
    }

    #[test]
    fn wrong_kind_or_version_is_refused_naming_the_document() {
        let text = to_yaml(&sample())
            .unwrap_or_default()
            .replace("kind: WorkloadProfile", "kind: Pod");
        let err = parse(&text, "p.yaml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("p.yaml: document 1: kind is \"Pod\""), "{err}");
        let text = to_yaml(&sample())
            .unwrap_or_default()
            .replace("bulwark.dev/v1", "bulwark.dev/v9");
        assert!(parse(&text, "p.yaml").is_err());
    }

    #[test]
    fn traversal_in_a_path_pattern_is_refused() {
        let yaml = to_yaml(&sample()).unwrap_or_default().replace(
            "files: []",
            "files:\n  - path: /etc/../root/\n    access: rw\n    seen: {first: 2026-01-01T00:00:00Z, last: 2026-01-01T00:00:00Z, count: 1}",
        );
        let err = parse(&yaml, "evil.yaml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"..\" segment"), "{err}");
    }

    #[test]
    fn unscoped_exception_is_refused() {
        let mut p = sample();
        p.spec.exceptions.push(crate::Exception {
            rule: "*".into(),
            workload: None,
            image: None,
            exe: None,
            parent: None,
            object: None,
            reason: None,
        });
        let text = to_yaml(&p).unwrap_or_default();
        let err = parse(&text, "x.yaml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("has no scope"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = to_yaml(&sample())
            .unwrap_or_default()
            .replace("spec:", "spec:\n  allowEverything: true");
        assert!(parse(&text, "x.yaml").is_err());
    }

    #[test]
    fn yaml_alias_bomb_is_refused_not_expanded() {
        let mut bomb =
            String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
        for i in 0..8 {
            let prev = (b'a' + i) as char;
            let next = (b'a' + i + 1) as char;
            bomb.push_str(&format!("{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        assert!(parse(&bomb, "bomb.yaml").is_err());
    }

    #[test]
    fn oversized_stream_is_refused_before_parsing() {
        let big = " ".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(matches!(
            parse(&big, "big.yaml"),
            Err(DocumentError::TooLarge { .. })
        ));
    }

    #[test]
    fn exceptions_document_parses_and_rejects_unknown_rules() {
        let good = "apiVersion: bulwark.dev/v1\nkind: DetectionExceptions\nmetadata: {name: site}\nspec:\n  exceptions:\n    - rule: credential-read\n      exe: /usr/sbin/sshd\n      reason: password checks\n";
        assert_eq!(parse_exceptions(good, "x.yaml").map(|e| e.len()), Ok(1));
        let typo = good.replace("credential-read", "credential-reed");
        let err = parse_exceptions(&typo, "x.yaml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown rule \"credential-reed\""), "{err}");
        let unscoped = "apiVersion: bulwark.dev/v1\nkind: DetectionExceptions\nspec:\n  exceptions:\n    - rule: '*'\n";
        assert!(parse_exceptions(unscoped, "x.yaml").is_err());
    }

    #[test]
    fn empty_stream_is_an_error() {
        assert!(matches!(
            parse("", "e.yaml"),
            Err(DocumentError::Empty { .. })
        ));
    }
}
