//! What matching needs of one record for one package key, digested once
//! at import: the record's `affected[]` entries for that package (with
//! their index, so findings still point into the full record), the
//! severity chosen for each, and the few record fields a finding carries.
//! The store keeps one per (ecosystem, package, record), so a lookup reads
//! a few hundred bytes instead of parsing whole records (an AlmaLinux
//! erratum names dozens of packages and carries pages of text).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

mod wire;

pub use wire::WireError;

use super::range::Prepared;
use super::severity::{SeverityChoice, choose_severity, scores};
use super::text::Text;
use crate::ecosystem::Ecosystem;
use crate::osv::{Affected, Event, RangeType, SeverityScore, Vulnerability};

/// One record as seen from one (ecosystem, normalised name) key. Its
/// strings are slices of one buffer ([`Text`]), shared with the findings
/// built from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub vuln_id: Text,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Text>,
    /// The advisory's own page (first `ADVISORY` reference, else the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Text>,
    /// Withdrawn records match nothing; their keys stay so that a
    /// withdrawal resolves findings in the continuous re-match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
    pub entries: Vec<CandidateEntry>,
}

/// One `affected[]` entry naming the key's package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateEntry {
    /// Index in the record's `affected[]`.
    pub index: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<CandidateRange>,
    pub severity: SeverityChoice,
    /// Severity scores of the entry and the record, vectors as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
}

/// A severity score: the scoring system and its vector or rating, as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    #[serde(rename = "type")]
    pub kind: Text,
    pub score: Text,
}

/// One range of an entry (database_specific dropped).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CandidateRange {
    #[serde(rename = "type")]
    pub kind: RangeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<Text>,
    pub events: Vec<RangeEvent>,
    /// The events parsed under the range's scheme, on first use: a
    /// candidate kept for the next SBOM is not parsed again.
    #[serde(skip)]
    pub(crate) prepared: OnceLock<Prepared>,
}

impl PartialEq for CandidateRange {
    fn eq(&self, other: &CandidateRange) -> bool {
        (self.kind, &self.repo, &self.events) == (other.kind, &other.repo, &other.events)
    }
}

/// A range event (the OSV `events[]` entry), serialised as OSV writes it:
/// `{"fixed": "1.2"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEvent {
    Introduced(Text),
    Fixed(Text),
    LastAffected(Text),
    Limit(Text),
}

impl RangeEvent {
    pub fn value(&self) -> &Text {
        match self {
            RangeEvent::Introduced(v)
            | RangeEvent::Fixed(v)
            | RangeEvent::LastAffected(v)
            | RangeEvent::Limit(v) => v,
        }
    }
}

impl From<&Event> for RangeEvent {
    fn from(e: &Event) -> RangeEvent {
        let v = Text::from(e.value());
        match e {
            Event::Introduced(_) => RangeEvent::Introduced(v),
            Event::Fixed(_) => RangeEvent::Fixed(v),
            Event::LastAffected(_) => RangeEvent::LastAffected(v),
            Event::Limit(_) => RangeEvent::Limit(v),
        }
    }
}

impl CandidateEntry {
    /// The matching part of an `affected[]` entry (no severity, no scores):
    /// what [`crate::matcher::evaluate`] needs.
    pub(crate) fn ranges_of(a: &Affected) -> (Vec<Text>, Vec<CandidateRange>) {
        let versions = a.versions.iter().map(|v| Text::from(v.as_str())).collect();
        let ranges = a
            .ranges
            .iter()
            .map(|r| CandidateRange {
                kind: r.kind,
                repo: r.repo.as_deref().map(Text::from),
                events: r.events.iter().map(RangeEvent::from).collect(),
                prepared: OnceLock::new(),
            })
            .collect();
        (versions, ranges)
    }
}

fn score_of(s: &SeverityScore) -> Score {
    Score {
        kind: Text::from(s.kind.as_str()),
        score: Text::from(s.score.as_str()),
    }
}

/// The key (ecosystem with release as written, normalised name) an
/// `affected[]` package is stored under; `None` for unknown ecosystems.
pub fn package_key(ecosystem: &str, name: &str) -> Option<(String, String)> {
    let eco = Ecosystem::parse(ecosystem).ok()?;
    Some((eco.to_string(), eco.normalize_name(name)))
}

impl Candidate {
    /// The record's entries for `key`; `None` when it names no such package.
    pub fn of(vuln: &Vulnerability, key: (&str, &str)) -> Option<Candidate> {
        let entries: Vec<CandidateEntry> = vuln
            .affected
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.package.as_ref().is_some_and(|p| {
                    package_key(&p.ecosystem, &p.name)
                        .is_some_and(|(e, n)| e == key.0 && n == key.1)
                })
            })
            .map(|(index, a)| {
                let (versions, ranges) = CandidateEntry::ranges_of(a);
                CandidateEntry {
                    index,
                    versions,
                    ranges,
                    severity: choose_severity(vuln, a),
                    scores: scores(vuln, a).map(score_of).collect(),
                }
            })
            .collect();
        if entries.is_empty() {
            return None;
        }
        let url = vuln
            .references
            .iter()
            .find(|r| r.kind == "ADVISORY")
            .or(vuln.references.first())
            .map(|r| Text::from(r.url.as_str()));
        Some(Candidate {
            vuln_id: Text::from(vuln.id.as_str()),
            aliases: vuln
                .aliases
                .iter()
                .map(|a| Text::from(a.as_str()))
                .collect(),
            summary: vuln.summary.as_deref().map(Text::from),
            url,
            withdrawn: vuln.withdrawn.is_some(),
            entries,
        })
    }

    /// The stored form ([`wire`]'s binary layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Candidate, WireError> {
        wire::decode(bytes)
    }

    /// Every key the record names, with its candidate.
    pub fn all_of(vuln: &Vulnerability) -> Vec<((String, String), Candidate)> {
        let mut keys: Vec<(String, String)> = vuln
            .affected
            .iter()
            .filter_map(|a| a.package.as_ref())
            .filter_map(|p| package_key(&p.ecosystem, &p.name))
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| Candidate::of(vuln, (&k.0, &k.1)).map(|c| (k, c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::osv::Record;

    #[test]
    fn entries_keep_their_index_and_only_the_keys_package() {
        let raw = json!({"id": "ALSA-2024:1", "modified": "2024-01-01T00:00:00Z",
            "summary": "Important: openssl security update",
            "affected": [
                {"package": {"ecosystem": "AlmaLinux:9", "name": "openssl-libs"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"}]}]},
                {"package": {"ecosystem": "AlmaLinux:9", "name": "openssl"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"}]}]}],
            "references": [{"type": "WEB", "url": "https://example.invalid/w"},
                           {"type": "ADVISORY", "url": "https://example.invalid/a"}]});
        let vuln = Record::from_value(raw).unwrap().vuln;
        let all = Candidate::all_of(&vuln);
        assert_eq!(all.len(), 2);
        let c = Candidate::of(&vuln, ("AlmaLinux:9", "openssl")).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].index, 1);
        assert_eq!(c.entries[0].severity.source, "vendor");
        assert_eq!(c.url.as_deref(), Some("https://example.invalid/a"));
        assert!(Candidate::of(&vuln, ("AlmaLinux:8", "openssl")).is_none());
        assert_eq!(Candidate::from_bytes(&c.to_bytes()).unwrap(), c);
    }
}
