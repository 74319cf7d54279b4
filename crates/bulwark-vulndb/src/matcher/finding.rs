//! A finding: which installed package a record affects, and why.

use bulwark_core::Severity;
use serde::{Deserialize, Serialize};

use super::Component;
use super::candidate::{Candidate, CandidateEntry, RangeEvent, Score};
use super::text::Text;
use crate::osv::RangeType;
use crate::version::Scheme;

/// Why a version is affected: the listed version, or the range interval
/// and the comparator that placed the version inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// The version is in the record's explicit `versions` list.
    ListedVersion { version: Text },
    /// `introduced <= version` and (`version < fixed` or
    /// `version <= last_affected`, or no upper bound) under `scheme`.
    Range {
        range_index: usize,
        range_type: RangeType,
        scheme: Scheme,
        introduced: Text,
        closing: Option<RangeEvent>,
        version: Text,
    },
}

impl Evidence {
    /// One line: `pep440: introduced 0 <= 1.2 < fixed 1.5`.
    pub fn describe(&self) -> String {
        match self {
            Evidence::ListedVersion { version } => {
                format!("{version} is listed in the record's affected versions")
            }
            Evidence::Range {
                scheme,
                introduced,
                closing,
                version,
                ..
            } => {
                let upper = match closing {
                    Some(RangeEvent::Fixed(f)) => format!(" < fixed {f}"),
                    Some(RangeEvent::LastAffected(l)) => format!(" <= last_affected {l}"),
                    _ => " (no fix: every later version is affected)".into(),
                };
                format!("{scheme}: introduced {introduced} <= {version}{upper}")
            }
        }
    }
}

/// One vulnerability in one installed package. Its strings are shared
/// with the candidate and the component it was built from ([`Text`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: `VULN-ID/ecosystem/package@version`.
    pub id: String,
    pub vuln_id: Text,
    pub aliases: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Text>,
    pub ecosystem: Text,
    pub package: Text,
    pub installed_version: Text,
    /// The source package the advisory names, when not the package itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_package: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<Text>,
    pub severity: Severity,
    pub severity_source: Text,
    /// CVSS vectors (and other scores) of the record, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Text>,
    /// Index of the record's `affected[]` entry that matched.
    pub affected_index: usize,
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Text>,
}

/// A component's strings in one shared buffer, made once per component
/// that has findings.
pub(crate) struct ComponentText {
    /// [`Finding::component_id`].
    pub id: String,
    ecosystem: Text,
    package: Text,
    installed_version: Text,
    source_package: Option<Text>,
    purl: Option<Text>,
    layer: Option<Text>,
}

impl ComponentText {
    pub(crate) fn new(c: &Component) -> ComponentText {
        let source = if c.name != c.package {
            c.name.as_str()
        } else {
            ""
        };
        let purl = c.purl.as_deref().unwrap_or_default();
        let layer = c.layer.as_deref().unwrap_or_default();
        let [ecosystem, package, installed_version, source, purl, layer] = Text::pack([
            c.ecosystem.as_str(),
            &c.package,
            &c.installed_version,
            source,
            purl,
            layer,
        ]);
        ComponentText {
            id: Finding::component_id(c),
            ecosystem,
            package,
            installed_version,
            source_package: (c.name != c.package).then_some(source),
            purl: c.purl.is_some().then_some(purl),
            layer: c.layer.is_some().then_some(layer),
        }
    }
}

impl Finding {
    pub(crate) fn new(
        c: &ComponentText,
        candidate: &Candidate,
        entry: &CandidateEntry,
        evidence: Evidence,
    ) -> Finding {
        let fixed_version = match &evidence {
            Evidence::Range {
                closing: Some(RangeEvent::Fixed(f)),
                ..
            } => Some(f.clone()),
            _ => None,
        };
        Finding {
            id: [candidate.vuln_id.as_str(), "/", &c.id].concat(),
            vuln_id: candidate.vuln_id.clone(),
            aliases: candidate.aliases.clone(),
            summary: candidate.summary.clone(),
            ecosystem: c.ecosystem.clone(),
            package: c.package.clone(),
            installed_version: c.installed_version.clone(),
            source_package: c.source_package.clone(),
            fixed_version,
            severity: entry.severity.severity,
            severity_source: entry.severity.source.clone(),
            scores: entry.scores.clone(),
            purl: c.purl.clone(),
            layer: c.layer.clone(),
            affected_index: entry.index,
            evidence,
            url: candidate.url.clone(),
        }
    }

    /// The installed package a finding is about, as its id ends:
    /// `ecosystem/package@installed_version`.
    pub fn component_id(c: &Component) -> String {
        format!("{}/{}@{}", c.ecosystem, c.package, c.installed_version)
    }

    /// Whether the record names a fixed version for this package.
    pub fn is_fixed(&self) -> bool {
        self.fixed_version.is_some()
    }
}
