//! Bytes (OSV JSON or YAML) to a validated [`Record`].

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Vulnerability;
use super::validate::{SchemaViolation, validate};

/// The serialisation of a record file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format implied by a file name, if it names an OSV record.
    pub fn from_path(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(Format::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(Format::Yaml)
        } else {
            None
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error(transparent)]
    Schema(#[from] SchemaViolation),
    #[error("does not fit the OSV model: {0}")]
    Model(String),
}

/// A validated record with its original content and a content hash.
#[derive(Clone, Debug)]
pub struct Record {
    pub vuln: Vulnerability,
    /// The record as read, normalised to JSON (object keys sorted).
    pub raw: Value,
    /// SHA-256 of `raw` serialised, hex: changes iff the content changes.
    pub content_hash: String,
}

impl Record {
    /// Builds a record from a JSON value: validates, then types it.
    pub fn from_value(raw: Value) -> Result<Record, ParseError> {
        validate(&raw)?;
        let vuln: Vulnerability =
            serde_json::from_value(raw.clone()).map_err(|e| ParseError::Model(e.to_string()))?;
        let bytes = serde_json::to_vec(&raw).map_err(|e| ParseError::Model(e.to_string()))?;
        let content_hash = hex::encode(Sha256::digest(&bytes));
        Ok(Record {
            vuln,
            raw,
            content_hash,
        })
    }
}

/// Parses and validates one OSV record.
pub fn parse_record(bytes: &[u8], format: Format) -> Result<Record, ParseError> {
    let raw: Value = match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|e| ParseError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })?,
        Format::Yaml => serde_yaml::from_slice(bytes).map_err(|e| ParseError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })?,
    };
    Record::from_value(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_of_the_same_record_hash_alike() {
        let json = br#"{"id":"PYSEC-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"versions":["1.0"]}]}"#;
        let yaml = b"id: PYSEC-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n  versions: ['1.0']\n";
        let a = parse_record(json, Format::Json).unwrap();
        let b = parse_record(yaml, Format::Yaml).unwrap();
        assert_eq!(a.content_hash, b.content_hash);
        assert_eq!(a.vuln.affected[0].versions, vec!["1.0".to_string()]);
    }

    #[test]
    fn unquoted_yaml_number_as_version_is_a_schema_error_not_a_silent_float() {
        let yaml = b"id: PYSEC-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n  versions: [0.10]\n";
        let err = parse_record(yaml, Format::Yaml).unwrap_err();
        assert!(err.to_string().contains("versions[0]"), "{err}");
    }

    #[test]
    fn garbage_is_a_syntax_error() {
        assert!(matches!(
            parse_record(b"{not json", Format::Json),
            Err(ParseError::Syntax { .. })
        ));
    }
}
