//! One audit record: what a caller asks to record ([`Entry`]), how it is
//! stored (one canonical JSON line), and how its hash is computed.
//!
//! The hash of record `n` is SHA-256 over the canonical JSON of every field of
//! the record except `hash` itself, and that includes `prev`, the hash of
//! record `n - 1`. Editing, removing or moving any record therefore breaks
//! the chain at that point.
//!
//! Canonical JSON is serde_json's compact form with the keys of every object
//! in `detail` sorted. Serde_json escapes every control character (CR, LF,
//! ESC, ...), so no field value can start a new line or forge a record.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::RecordError;

/// Largest `actor`, `action` or `target` accepted, in bytes.
pub const MAX_FIELD_LEN: usize = 4096;
/// Largest serialised `detail` accepted, in bytes.
pub const MAX_DETAIL_LEN: usize = 64 * 1024;
/// Largest stored line accepted by readers, in bytes. Comfortably above what
/// the writer can produce from the limits above.
pub const MAX_LINE_LEN: usize = 4 * MAX_DETAIL_LEN;

/// How the recorded action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action was carried out.
    Success,
    /// The action was refused by policy (an enforcement block, an RBAC deny).
    Denied,
    /// The action was attempted and failed.
    Failure,
}

/// What a caller wants recorded. The log adds sequence number, time and the
/// chain hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Who acted: `cli:root`, `agent`, a SPIFFE ID, an API user.
    pub actor: String,
    /// What was done, dotted: `profile.promote`, `enforce.deny`, `api.call`.
    pub action: String,
    /// What it was done to: a workload id, a container id, an API path.
    pub target: Option<String>,
    pub outcome: Outcome,
    /// Anything else, as a JSON value (an object by convention).
    pub detail: serde_json::Value,
}

impl Entry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> Self {
        Entry {
            actor: actor.into(),
            action: action.into(),
            target: None,
            outcome: Outcome::Success,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Checks sizes; control characters need no check (they are escaped).
    pub(crate) fn validate(&self) -> Result<(), RecordError> {
        check_field("actor", &self.actor, false)?;
        check_field("action", &self.action, false)?;
        if let Some(target) = &self.target {
            check_field("target", target, true)?;
        }
        let detail_len = serde_json::to_string(&self.detail)
            .map_err(|source| RecordError::Json { source })?
            .len();
        if detail_len > MAX_DETAIL_LEN {
            return Err(RecordError::TooLarge {
                field: "detail",
                len: detail_len,
                limit: MAX_DETAIL_LEN,
            });
        }
        Ok(())
    }
}

fn check_field(field: &'static str, value: &str, may_be_empty: bool) -> Result<(), RecordError> {
    if value.is_empty() && !may_be_empty {
        return Err(RecordError::Empty { field });
    }
    if value.len() > MAX_FIELD_LEN {
        return Err(RecordError::TooLarge {
            field,
            len: value.len(),
            limit: MAX_FIELD_LEN,
        });
    }
    Ok(())
}

/// A SHA-256 chain hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The `prev` of the first record.
    pub const GENESIS: Digest = Digest([0; 32]);

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Digest> {
        let mut out = [0u8; 32];
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Digest(out))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lower-case hex digits"))
    }
}

/// Every field of a stored record but its hash, in storage order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    outcome: Outcome,
    detail: serde_json::Value,
    prev: Digest,
}

/// A record as stored: the body plus its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
    pub prev: Digest,
    pub hash: Digest,
}

impl Record {
    /// Seals `entry` as record `seq` after the record whose hash is `prev`.
    pub(crate) fn seal(
        entry: &Entry,
        seq: u64,
        time: String,
        prev: Digest,
    ) -> Result<Record, RecordError> {
        entry.validate()?;
        let body = Body {
            seq,
            time,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            outcome: entry.outcome,
            detail: canonical(&entry.detail),
            prev,
        };
        let hash = hash_body(&body)?;
        Ok(Record::from_body(body, hash))
    }

    fn from_body(body: Body, hash: Digest) -> Record {
        Record {
            seq: body.seq,
            time: body.time,
            actor: body.actor,
            action: body.action,
            target: body.target,
            outcome: body.outcome,
            detail: body.detail,
            prev: body.prev,
            hash,
        }
    }

    fn body(&self) -> Body {
        Body {
            seq: self.seq,
            time: self.time.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.outcome,
            detail: self.detail.clone(),
            prev: self.prev,
        }
    }

    /// The hash this record's fields call for (compare with `self.hash`).
    pub fn computed_hash(&self) -> Result<Digest, RecordError> {
        let mut body = self.body();
        body.detail = canonical(&body.detail);
        hash_body(&body)
    }

    /// The one stored line, without the trailing newline.
    pub fn to_line(&self) -> Result<String, RecordError> {
        serde_json::to_string(self).map_err(|source| RecordError::Json { source })
    }

    /// Parses one stored line (without its newline).
    pub fn from_line(line: &str) -> Result<Record, RecordError> {
        serde_json::from_str(line).map_err(|source| RecordError::Json { source })
    }
}

fn hash_body(body: &Body) -> Result<Digest, RecordError> {
    let bytes = serde_json::to_vec(body).map_err(|source| RecordError::Json { source })?;
    Ok(Digest(Sha256::digest(&bytes).into()))
}

/// `value` with the keys of every object in sorted order, whatever map type
/// serde_json was built with.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(entry: &Entry) -> Record {
        match Record::seal(entry, 1, "2026-01-01T00:00:00Z".into(), Digest::GENESIS) {
            Ok(r) => r,
            Err(e) => panic!("seal: {e}"),
        }
    }

    #[test]
    fn sealed_record_hash_matches_its_fields_and_changes_with_any_field() {
        let entry = Entry::new("cli:root", "profile.promote").target("image:web");
        let record = sealed(&entry);
        assert_eq!(record.computed_hash().ok(), Some(record.hash));
        let mut edited = record.clone();
        edited.actor = "cli:mallory".into();
        assert_ne!(edited.computed_hash().ok(), Some(record.hash));
        let mut moved = record.clone();
        moved.seq = 2;
        assert_ne!(moved.computed_hash().ok(), Some(record.hash));
    }

    #[test]
    fn newline_in_a_field_stays_inside_one_line() {
        let forged = "x\"}\n{\"seq\":99,\"actor\":\"root\"\r\n\u{1b}[2J";
        let entry = Entry::new(forged, forged)
            .target(forged)
            .detail(serde_json::json!({ "k\n": forged }));
        let line = sealed(&entry).to_line().unwrap_or_default();
        assert!(!line.is_empty());
        assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\u{1b}'));
        let back = Record::from_line(&line).map(|r| r.actor);
        assert_eq!(back.ok().as_deref(), Some(forged));
    }

    #[test]
    fn detail_key_order_does_not_change_the_hash() {
        let a = Entry::new("a", "b").detail(serde_json::json!({"x": 1, "a": {"z": 1, "b": 2}}));
        let mut map = serde_json::Map::new();
        map.insert("a".into(), serde_json::json!({"b": 2, "z": 1}));
        map.insert("x".into(), serde_json::json!(1));
        let b = Entry::new("a", "b").detail(serde_json::Value::Object(map));
        assert_eq!(sealed(&a).hash, sealed(&b).hash);
    }

    #[test]
    fn oversized_and_empty_fields_are_refused() {
        let big = Entry::new("a".repeat(MAX_FIELD_LEN + 1), "x");
        assert!(matches!(
            big.validate(),
            Err(RecordError::TooLarge { field: "actor", .. })
        ));
        let empty = Entry::new("a", "");
        assert!(matches!(
            empty.validate(),
            Err(RecordError::Empty { field: "action" })
        ));
        let detail = Entry::new("a", "b").detail(serde_json::json!("y".repeat(MAX_DETAIL_LEN)));
        assert!(matches!(
            detail.validate(),
            Err(RecordError::TooLarge {
                field: "detail",
                ..
            })
        ));
    }

    #[test]
    fn unknown_fields_and_upper_case_hashes_are_rejected() {
        let line = sealed(&Entry::new("a", "b")).to_line().unwrap_or_default();
        let extra = line.replacen('{', "{\"extra\":1,", 1);
        assert!(Record::from_line(&extra).is_err());
        assert!(Digest::from_hex(&"A".repeat(64)).is_none());
        assert!(Digest::from_hex(&"a".repeat(63)).is_none());
    }
}
