//! Matching an inventory of installed packages against OSV records,
//! exactly as the OSV specification evaluates `affected[]`:
//!
//! * a version listed in `versions` is affected;
//! * for each `SEMVER`/`ECOSYSTEM` range whose `limit` events (if any)
//!   lie above the version, events are sorted by version (`"0"` first) and
//!   walked: at or above `introduced` turns "affected" on, at or above
//!   `fixed` or above `last_affected` turns it off;
//! * `GIT` ranges name commits, not releases: they never match a package
//!   version (the record's `versions` list, when present, still does).
//!
//! Packages are looked up by their OSV ecosystem with the release suffix
//! (`Debian:12`) and, for distro packages, by source package name. There
//! is no CPE or fuzzy name matching. Pure logic: advisories come from an
//! [`AdvisorySource`], the store in production and a map in tests.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ecosystem::Ecosystem;
use crate::osv::{Affected, RangeType};
use crate::version::{Scheme, Version};

mod candidate;
mod finding;
mod range;
pub mod severity;
mod text;

pub use candidate::{
    Candidate, CandidateEntry, CandidateRange, RangeEvent, Score, WireError, package_key,
};
pub use finding::{Evidence, Finding};
pub use severity::{SeverityChoice, choose_severity};
pub use text::Text;

use finding::ComponentText;

/// One installed package, as the matcher sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// OSV ecosystem with release suffix where the ecosystem has one:
    /// `Debian:12`, `Alpine:v3.19`, `AlmaLinux:9`, `PyPI`, `Go`.
    pub ecosystem: String,
    /// The name advisories use: the source package for distro packages
    /// (dpkg `Source:`, apk origin, source rpm name), else the package name.
    pub name: String,
    /// The version compared with advisory ranges: the source version for
    /// dpkg packages built from a differently versioned source, with the
    /// epoch for rpm (`E:V-R`).
    pub version: String,
    /// The installed package name (the binary package for distros).
    pub package: String,
    /// The installed package's own version.
    pub installed_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// `sha256:` diff id of the layer that added the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

impl Component {
    /// The (ecosystem, normalised name) keys advisories for this component
    /// are stored under: its own ecosystem and the release-less base.
    pub fn keys(&self) -> Vec<(String, String)> {
        let name = Ecosystem::parse(&self.ecosystem)
            .map(|e| e.normalize_name(&self.name))
            .unwrap_or_else(|_| self.name.clone());
        lookup_ecosystems(&self.ecosystem)
            .into_iter()
            .map(|e| (e, name.clone()))
            .collect()
    }
}

/// Where advisories come from.
pub trait AdvisorySource {
    type Error;
    /// The records naming `name` under exactly `ecosystem`, each digested
    /// to its entries for that key ([`Candidate::of`]).
    fn advisories(&self, ecosystem: &str, name: &str) -> Result<Vec<Arc<Candidate>>, Self::Error>;

    /// [`AdvisorySource::advisories`] for every key of one match run,
    /// sorted and without duplicates; one list per key, in that order.
    /// A source can fetch them in key order (the store walks its index
    /// front to back).
    fn advisories_for_keys(&self, keys: &[(&str, &str)]) -> Result<Vec<Candidates>, Self::Error> {
        keys.iter()
            .map(|(e, n)| self.advisories(e, n).map(Candidates::from))
            .collect()
    }
}

/// The candidates of one key, shared between a source's cache and a match.
pub type Candidates = Arc<[Arc<Candidate>]>;

/// A component whose advisories could not be evaluated, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchWarning {
    pub package: String,
    pub vuln_id: String,
    pub problem: String,
}

/// Findings and warnings of one match run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MatchReport {
    pub findings: Vec<Finding>,
    pub warnings: Vec<MatchWarning>,
}

/// The ecosystem strings whose records apply to a component: its own
/// (`Debian:12`) and the release-less base (`Debian`).
pub fn lookup_ecosystems(ecosystem: &str) -> Vec<String> {
    match Ecosystem::parse(ecosystem) {
        Ok(e) if e.suffix().is_some() => vec![e.to_string(), e.without_suffix().to_string()],
        Ok(e) => vec![e.to_string()],
        Err(_) => vec![ecosystem.to_string()],
    }
}

/// Matches every component against the advisories `source` has for it.
pub fn match_components<S: AdvisorySource>(
    components: &[Component],
    source: &S,
) -> Result<MatchReport, S::Error> {
    let mut report = MatchReport::default();
    let mut known = Vec::with_capacity(components.len());
    // An SBOM names few ecosystems: each is parsed once.
    let mut ecosystems: Vec<(&str, Ecosystem, Vec<String>)> = Vec::new();
    for component in components {
        let text = component.ecosystem.as_str();
        let at = match ecosystems.iter().position(|(e, ..)| *e == text) {
            Some(at) => at,
            None => {
                let Ok(eco) = Ecosystem::parse(text) else {
                    report.warnings.push(MatchWarning {
                        package: component.package.clone(),
                        vuln_id: String::new(),
                        problem: format!("unknown ecosystem {text:?}"),
                    });
                    continue;
                };
                ecosystems.push((text, eco, lookup_ecosystems(text)));
                ecosystems.len() - 1
            }
        };
        known.push(Known {
            component,
            name: ecosystems[at].1.normalize_name(&component.name),
            ecosystem: at,
        });
    }
    let (keys, key_of) = lookup_keys(&known, &ecosystems);
    let found = source.advisories_for_keys(&keys)?;
    let mut hits = Vec::new();
    let mut slots = key_of.iter();
    for (at, k) in known.iter().enumerate() {
        let (_, eco, lookups) = &ecosystems[k.ecosystem];
        let mut installed = Installed::new(&k.component.version);
        for slot in slots.by_ref().take(lookups.len()) {
            for candidate in found.get(*slot).into_iter().flat_map(|c| c.iter()) {
                let hit = match_one(k.component, eco, &mut installed, candidate, &mut report);
                hits.extend(hit.map(|(entry, evidence)| Hit {
                    component: at,
                    candidate,
                    entry,
                    evidence,
                }));
            }
        }
    }
    report.findings = findings_of(hits, &known);
    Ok(report)
}

/// The distinct lookup keys of `known`, sorted, and for every lookup of
/// every component in order (suffixed ecosystem first) its key's index.
fn lookup_keys<'k>(
    known: &'k [Known<'_>],
    ecosystems: &'k [(&str, Ecosystem, Vec<String>)],
) -> (Vec<(&'k str, &'k str)>, Vec<usize>) {
    let mut wanted: Vec<(&str, &str, usize)> = Vec::new();
    for k in known {
        for eco in &ecosystems[k.ecosystem].2 {
            wanted.push((eco.as_str(), k.name.as_str(), wanted.len()));
        }
    }
    wanted.sort_unstable();
    let mut keys: Vec<(&str, &str)> = Vec::new();
    let mut key_of = vec![0; wanted.len()];
    for (eco, name, slot) in wanted {
        if keys.last() != Some(&(eco, name)) {
            keys.push((eco, name));
        }
        key_of[slot] = keys.len() - 1;
    }
    (keys, key_of)
}

/// A component with a known ecosystem: its normalised name and where its
/// ecosystem (with the ecosystems its advisories are looked up under) is.
struct Known<'c> {
    component: &'c Component,
    name: String,
    ecosystem: usize,
}

/// A record's entry that matched a component, before it becomes a
/// [`Finding`] (small to sort; findings are built once, in order).
struct Hit<'a> {
    component: usize,
    candidate: &'a Candidate,
    entry: &'a CandidateEntry,
    evidence: Evidence,
}

/// The findings of `hits` by severity (worst first), package, record and
/// id; of several with one id the first found is kept.
fn findings_of(mut hits: Vec<Hit<'_>>, known: &[Known<'_>]) -> Vec<Finding> {
    let mut texts: Vec<Option<ComponentText>> = Vec::new();
    texts.resize_with(known.len(), || None);
    for h in &hits {
        if texts[h.component].is_none() {
            texts[h.component] = Some(ComponentText::new(known[h.component].component));
        }
    }
    let id = |h: &Hit<'_>| texts[h.component].as_ref().map_or("", |t| t.id.as_str());
    // A finding id is `vuln_id/component_id`: with the record equal,
    // comparing component ids orders (and dedups) by finding id.
    hits.sort_by(|a, b| {
        let key = |h: &Hit<'_>| {
            (
                std::cmp::Reverse(h.entry.severity.severity),
                known[h.component].component.package.as_str(),
            )
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| {
                a.candidate
                    .vuln_id
                    .as_str()
                    .cmp(b.candidate.vuln_id.as_str())
            })
            .then_with(|| id(a).cmp(id(b)))
    });
    hits.dedup_by(|a, b| a.candidate.vuln_id == b.candidate.vuln_id && id(a) == id(b));
    let mut findings = Vec::with_capacity(hits.len());
    for h in hits {
        if let Some(component) = &texts[h.component] {
            findings.push(Finding::new(component, h.candidate, h.entry, h.evidence));
        }
    }
    findings
}

/// The component's version: parsed at most once per scheme, shared as
/// [`Text`] by its findings once it has one.
struct Installed<'a> {
    text: &'a str,
    shared: Option<Text>,
    parsed: Vec<(Scheme, Result<Version, String>)>,
}

impl<'a> Installed<'a> {
    fn new(text: &'a str) -> Self {
        Installed {
            text,
            shared: None,
            parsed: Vec::new(),
        }
    }

    fn under(&mut self, scheme: Scheme) -> Result<&Version, String> {
        let at = match self.parsed.iter().position(|(s, _)| *s == scheme) {
            Some(at) => at,
            None => {
                self.parsed
                    .push((scheme, scheme.parse(self.text).map_err(|e| e.to_string())));
                self.parsed.len() - 1
            }
        };
        match &self.parsed[at].1 {
            Ok(v) => Ok(v),
            Err(e) => Err(e.clone()),
        }
    }

    fn shared(&mut self) -> Text {
        let text = self.text;
        self.shared.get_or_insert_with(|| Text::from(text)).clone()
    }
}

/// The first entry of `candidate` affecting the component, with why;
/// entries that cannot be evaluated become warnings.
fn match_one<'c>(
    component: &Component,
    eco: &Ecosystem,
    installed: &mut Installed<'_>,
    candidate: &'c Candidate,
    report: &mut MatchReport,
) -> Option<(&'c CandidateEntry, Evidence)> {
    if candidate.withdrawn {
        return None;
    }
    for entry in &candidate.entries {
        match evaluate_entry(eco, installed, &entry.versions, &entry.ranges) {
            Ok(Some(evidence)) => return Some((entry, evidence)),
            Ok(None) => {}
            Err(problem) => report.warnings.push(MatchWarning {
                package: component.package.clone(),
                vuln_id: candidate.vuln_id.to_string(),
                problem,
            }),
        }
    }
    None
}

/// Whether `version` is affected per one `affected[]` entry, with the
/// evidence when it is. An error names what could not be compared.
pub fn evaluate(
    eco: &Ecosystem,
    version: &str,
    affected: &Affected,
) -> Result<Option<Evidence>, String> {
    let (versions, ranges) = CandidateEntry::ranges_of(affected);
    evaluate_entry(eco, &mut Installed::new(version), &versions, &ranges)
}

fn evaluate_entry(
    eco: &Ecosystem,
    installed: &mut Installed<'_>,
    versions: &[Text],
    ranges: &[CandidateRange],
) -> Result<Option<Evidence>, String> {
    if versions.iter().any(|v| v.as_str() == installed.text) {
        return Ok(Some(Evidence::ListedVersion {
            version: installed.shared(),
        }));
    }
    let mut problems = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        let scheme = match range.kind {
            RangeType::Git => continue,
            RangeType::SemVer if eco.base() == "Go" => Scheme::Go,
            RangeType::SemVer => Scheme::SemVer,
            RangeType::Ecosystem => match eco.scheme() {
                Some(s) => s,
                None => {
                    problems.push(format!(
                        "no version comparator for ecosystem {}",
                        eco.base()
                    ));
                    continue;
                }
            },
        };
        let hit = installed
            .under(scheme)
            .and_then(|v| range::evaluate_range(scheme, v, range));
        match hit {
            Ok(Some(hit)) => {
                return Ok(Some(Evidence::Range {
                    range_index: i,
                    range_type: range.kind,
                    scheme,
                    introduced: hit.introduced,
                    closing: hit.closing,
                    version: installed.shared(),
                }));
            }
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    match problems.into_iter().next() {
        Some(p) => Err(p),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use serde_json::json;

    use super::*;
    use crate::osv::{Record, Vulnerability};

    /// Records by the key they were stored under, digested per key as the
    /// store does.
    struct Fake(HashMap<(String, String), Vec<Vulnerability>>);

    impl AdvisorySource for Fake {
        type Error = Infallible;
        fn advisories(&self, e: &str, n: &str) -> Result<Vec<Arc<Candidate>>, Infallible> {
            Ok(self
                .0
                .get(&(e.to_string(), n.to_string()))
                .into_iter()
                .flatten()
                .filter_map(|v| Candidate::of(v, (e, n)).map(Arc::new))
                .collect())
        }
    }

    fn record(ecosystem: &str, name: &str, affected_extra: serde_json::Value) -> Vulnerability {
        let mut affected = json!({"package": {"ecosystem": ecosystem, "name": name}});
        if let (Some(a), Some(extra)) = (affected.as_object_mut(), affected_extra.as_object()) {
            a.extend(extra.clone());
        }
        let raw =
            json!({"id": "OSV-2024-1", "modified": "2024-01-01T00:00:00Z", "affected": [affected]});
        Record::from_value(raw).unwrap().vuln
    }

    fn hits(v: &Vulnerability, ecosystem: &str, name: &str, version: &str) -> Option<Finding> {
        let key_eco = v.affected[0].package.as_ref().unwrap().ecosystem.clone();
        let source = Fake(HashMap::from([(
            (key_eco, name.to_string()),
            vec![v.clone()],
        )]));
        let c = Component {
            ecosystem: ecosystem.into(),
            name: name.into(),
            version: version.into(),
            package: name.into(),
            installed_version: version.into(),
            purl: None,
            layer: None,
        };
        match_components(&[c], &source)
            .unwrap()
            .findings
            .into_iter()
            .next()
    }

    #[test]
    fn introduced_fixed_interval_is_half_open() {
        let v = record(
            "PyPI",
            "jinja2",
            json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.10.1"}]}]}),
        );
        assert!(hits(&v, "PyPI", "jinja2", "1.9").is_none());
        assert!(hits(&v, "PyPI", "jinja2", "2.0").is_some());
        assert!(hits(&v, "PyPI", "jinja2", "2.10.1rc1").is_some());
        assert!(hits(&v, "PyPI", "jinja2", "2.10.1").is_none());
        let f = hits(&v, "PyPI", "jinja2", "2.10").unwrap();
        assert_eq!(f.fixed_version.as_deref(), Some("2.10.1"));
        assert_eq!(
            f.evidence.describe(),
            "pep440: introduced 2.0 <= 2.10 < fixed 2.10.1"
        );
    }

    #[test]
    fn last_affected_is_inclusive_and_limit_caps_the_range() {
        let v = record(
            "npm",
            "lodash",
            json!({"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"last_affected": "4.17.20"}]}]}),
        );
        assert!(hits(&v, "npm", "lodash", "4.17.20").is_some());
        assert!(hits(&v, "npm", "lodash", "4.17.21").is_none());
        let v = record(
            "npm",
            "x",
            json!({"ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"limit": "2.0.0"}]}]}),
        );
        assert!(hits(&v, "npm", "x", "1.5.0").is_some());
        assert!(hits(&v, "npm", "x", "2.0.0").is_none());
        assert!(hits(&v, "npm", "x", "3.0.0").is_none());
    }

    #[test]
    fn several_intervals_in_one_range_like_go_stdlib_records() {
        let v = record(
            "Go",
            "stdlib",
            json!({"ranges": [{"type": "SEMVER", "events": [
            {"introduced": "0"}, {"fixed": "1.21.9"}, {"introduced": "1.22.0-0"}, {"fixed": "1.22.2"}]}]}),
        );
        assert!(hits(&v, "Go", "stdlib", "go1.21.8").is_some());
        assert!(hits(&v, "Go", "stdlib", "v1.21.9").is_none());
        assert!(hits(&v, "Go", "stdlib", "go1.22rc1").is_some());
        assert_eq!(
            hits(&v, "Go", "stdlib", "go1.22.1")
                .unwrap()
                .fixed_version
                .as_deref(),
            Some("1.22.2")
        );
        assert!(hits(&v, "Go", "stdlib", "go1.22.2").is_none());
    }

    #[test]
    fn adjacent_out_of_order_pairs_mean_their_union() {
        // The shape of PYSEC-2023-72 (pyspark).
        let v = record(
            "PyPI",
            "pyspark",
            json!({"ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "0"}, {"fixed": "3.1.1"}, {"introduced": "3.2.0"}, {"fixed": "3.2.2"},
            {"introduced": "3.1.1"}, {"fixed": "3.2.0"}]}]}),
        );
        for (version, want) in [
            ("3.0.0", true),
            ("3.1.5", true),
            ("3.2.0", true),
            ("3.2.2", false),
        ] {
            assert_eq!(
                hits(&v, "PyPI", "pyspark", version).is_some(),
                want,
                "{version}"
            );
        }
    }

    #[test]
    fn empty_pair_affects_nothing() {
        // The shape of RUSTSEC-2024-0399 (rustls).
        let v = record(
            "crates.io",
            "rustls",
            json!({"ranges": [{"type": "SEMVER", "events": [
            {"introduced": "0.23.0"}, {"fixed": "0.23.0"}, {"introduced": "0.23.13"}, {"fixed": "0.23.18"}]}]}),
        );
        for (version, want) in [
            ("0.23.0", false),
            ("0.23.5", false),
            ("0.23.13", true),
            ("0.23.18", false),
        ] {
            assert_eq!(
                hits(&v, "crates.io", "rustls", version).is_some(),
                want,
                "{version}"
            );
        }
    }

    #[test]
    fn unpaired_starts_fall_back_to_the_sorted_walk() {
        let v = record(
            "npm",
            "x",
            json!({"ranges": [{"type": "SEMVER", "events": [
            {"introduced": "0"}, {"introduced": "1.0.0"}, {"fixed": "2.0.0"}]}]}),
        );
        assert!(hits(&v, "npm", "x", "0.5.0").is_some());
        assert!(hits(&v, "npm", "x", "2.0.0").is_none());
    }

    #[test]
    fn git_ranges_never_match_package_versions_but_versions_lists_do() {
        let v = record(
            "PyPI",
            "pkg",
            json!({
            "ranges": [{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "0"}]}],
            "versions": ["1.0"]}),
        );
        assert!(hits(&v, "PyPI", "pkg", "1.0").is_some());
        assert!(hits(&v, "PyPI", "pkg", "1.1").is_none());
    }

    #[test]
    fn distro_release_scoping_and_release_less_records() {
        let scoped = record(
            "Debian:11",
            "openssl",
            json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1n-0+deb11u1"}]}]}),
        );
        assert!(hits(&scoped, "Debian:11", "openssl", "1.1.1k-1+deb11u1").is_some());
        assert!(hits(&scoped, "Debian:12", "openssl", "1.1.1k-1+deb11u1").is_none());
        let any = record(
            "Debian",
            "openssl",
            json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.0"}]}]}),
        );
        assert!(hits(&any, "Debian:12", "openssl", "1.1.1").is_some());
    }

    #[test]
    fn unparseable_version_is_a_warning_not_a_finding() {
        let v = record(
            "npm",
            "x",
            json!({"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}]}),
        );
        let source = Fake(HashMap::from([(
            ("npm".to_string(), "x".to_string()),
            vec![v],
        )]));
        let c = Component {
            ecosystem: "npm".into(),
            name: "x".into(),
            version: "not-a-version".into(),
            package: "x".into(),
            installed_version: "not-a-version".into(),
            purl: None,
            layer: None,
        };
        let report = match_components(&[c], &source).unwrap();
        assert!(report.findings.is_empty());
        assert_eq!(report.warnings.len(), 1);
    }

    #[test]
    fn withdrawn_records_do_not_match() {
        let mut v = record("npm", "x", json!({"versions": ["1.0.0"]}));
        v.withdrawn = Some("2024-02-01T00:00:00Z".into());
        assert!(hits(&v, "npm", "x", "1.0.0").is_none());
    }
}
