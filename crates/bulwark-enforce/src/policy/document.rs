//! The YAML envelope: `apiVersion`, `kind`, `metadata`, `spec`.

use serde::{Deserialize, Serialize};

use super::{EnforcePolicy, PolicyError};

pub const API_VERSION: &str = "bulwark.dev/v1alpha1";
pub const KIND: &str = "EnforcementPolicy";

/// Largest policy document accepted (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDocument {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: EnforcePolicy,
}

impl PolicyDocument {
    pub fn new(spec: EnforcePolicy) -> Self {
        PolicyDocument {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: Metadata {
                name: spec.workload.to_string(),
            },
            spec,
        }
    }

    /// Parse and validate. `input` names the source in errors.
    pub fn parse(input: &str, text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(PolicyError::Invalid {
                field: input.into(),
                problem: format!(
                    "document is {} bytes, the limit is {MAX_DOCUMENT_BYTES}",
                    text.len()
                ),
            });
        }
        let doc: PolicyDocument =
            serde_yaml::from_str(text).map_err(|source| PolicyError::Parse {
                input: input.into(),
                source,
            })?;
        if doc.api_version != API_VERSION {
            return Err(PolicyError::WrongApiVersion {
                input: input.into(),
                found: doc.api_version,
            });
        }
        if doc.kind != KIND {
            return Err(PolicyError::WrongKind {
                input: input.into(),
                found: doc.kind,
            });
        }
        doc.spec.validate()?;
        Ok(doc)
    }

    pub fn to_yaml(&self) -> Result<String, PolicyError> {
        serde_yaml::to_string(self).map_err(|source| PolicyError::Parse {
            input: "policy document (serialising)".into(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
apiVersion: bulwark.dev/v1alpha1
kind: EnforcementPolicy
metadata:
  name: web
spec:
  workload: image:web
  profile_version: 4
  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /app/bin/
  files:
    rules:
      - path: /etc/shadow
        read: deny
        write: deny
      - path: /usr/bin/
        write: deny
  network:
    egress:
      - cidr: 127.0.0.1/32
        ports: [8080]
        protocol: tcp
    listen:
      - port: 80
        protocol: tcp
"#;

    #[test]
    fn sample_round_trips() {
        let doc = PolicyDocument::parse("sample", SAMPLE).unwrap();
        assert_eq!(doc.spec.exec.allow.len(), 2);
        assert!(doc.spec.refuses(crate::denial::Class::Network));
        let again = PolicyDocument::parse("again", &doc.to_yaml().unwrap()).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn wrong_kind_names_input_and_kind() {
        let text = SAMPLE.replace("kind: EnforcementPolicy", "kind: Pod");
        let err = PolicyDocument::parse("p.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.yaml") && err.contains("Pod"), "{err}");
    }

    #[test]
    fn unknown_field_is_an_error_not_ignored() {
        let text = SAMPLE.replace("  mode: protect", "  mode: protect\n  moed: monitor");
        assert!(PolicyDocument::parse("p.yaml", &text).is_err());
    }

    #[test]
    fn discover_mode_is_refused() {
        let text = SAMPLE.replace("mode: protect", "mode: discover");
        let err = PolicyDocument::parse("p.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("discover"), "{err}");
    }

    #[test]
    fn class_modes_override_the_default() {
        let text = SAMPLE.replace(
            "  mode: protect",
            "  mode: protect\n  modes:\n    network: monitor",
        );
        let doc = PolicyDocument::parse("p.yaml", &text).unwrap();
        use crate::denial::Class;
        assert!(doc.spec.refuses(Class::Process));
        assert!(!doc.spec.refuses(Class::Network));
        assert!(doc.spec.watches(Class::Network));
    }

    #[test]
    fn yaml_bomb_is_refused_by_size() {
        let text = "a".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(PolicyDocument::parse("bomb.yaml", &text).is_err());
    }
}
