//! A finding: which installed package a record affects, and why.

use bulwark_core::Severity;
use serde::{Deserialize, Serialize};

use super::{Candidate, CandidateEntry, Component};
use crate::osv::{Event, RangeType, SeverityScore};
use crate::version::Scheme;

/// Why a version is affected: the listed version, or the range interval
/// and the comparator that placed the version inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// The version is in the record's explicit `versions` list.
    ListedVersion { version: String },
    /// `introduced <= version` and (`version < fixed` or
    /// `version <= last_affected`, or no upper bound) under `scheme`.
    Range {
        range_index: usize,
        range_type: RangeType,
        scheme: Scheme,
        introduced: String,
        closing: Option<Event>,
        version: String,
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
                    Some(Event::Fixed(f)) => format!(" < fixed {f}"),
                    Some(Event::LastAffected(l)) => format!(" <= last_affected {l}"),
                    _ => " (no fix: every later version is affected)".into(),
                };
                format!("{scheme}: introduced {introduced} <= {version}{upper}")
            }
        }
    }
}

/// One vulnerability in one installed package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: `VULN-ID/ecosystem/package@version`.
    pub id: String,
    pub vuln_id: String,
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub ecosystem: String,
    pub package: String,
    pub installed_version: String,
    /// The source package the advisory names, when not the package itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    pub severity: Severity,
    pub severity_source: String,
    /// CVSS vectors (and other scores) of the record, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<SeverityScore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Index of the record's `affected[]` entry that matched.
    pub affected_index: usize,
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Finding {
    /// `component_id` is [`Finding::component_id`] of `c`.
    pub(crate) fn new(
        c: &Component,
        component_id: &str,
        candidate: &Candidate,
        entry: &CandidateEntry,
        evidence: Evidence,
    ) -> Finding {
        let fixed_version = match &evidence {
            Evidence::Range {
                closing: Some(Event::Fixed(f)),
                ..
            } => Some(f.clone()),
            _ => None,
        };
        Finding {
            id: format!("{}/{component_id}", candidate.vuln_id),
            vuln_id: candidate.vuln_id.clone(),
            aliases: candidate.aliases.clone(),
            summary: candidate.summary.clone(),
            ecosystem: c.ecosystem.clone(),
            package: c.package.clone(),
            installed_version: c.installed_version.clone(),
            source_package: (c.name != c.package).then(|| c.name.clone()),
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
