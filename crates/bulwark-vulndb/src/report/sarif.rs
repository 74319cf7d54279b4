//! SARIF 2.1.0: one rule per advisory, one result per finding, located at
//! the package (by purl) inside the image.

use std::collections::BTreeMap;

use bulwark_core::Severity;
use serde_json::{Value, json};

use super::ScanReport;
use crate::matcher::Finding;
use crate::matcher::severity::{cvss2, cvss3};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// The numeric score code-scanning tools sort by (`security-severity`).
fn security_severity(f: &Finding) -> String {
    let scored = f.scores.iter().find_map(|s| match s.kind.as_str() {
        "CVSS_V3" => cvss3(&s.score),
        "CVSS_V2" => cvss2(&s.score),
        _ => None,
    });
    let score = scored.unwrap_or(match f.severity {
        Severity::Critical => 9.0,
        Severity::High => 7.0,
        Severity::Medium => 5.0,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    });
    format!("{score:.1}")
}

fn rule(f: &Finding) -> Value {
    let text = f.summary.clone().unwrap_or_else(|| f.vuln_id.clone());
    let mut rule = json!({
        "id": f.vuln_id,
        "name": f.vuln_id,
        "shortDescription": {"text": text},
        "properties": {
            "security-severity": security_severity(f),
            "tags": ["security", "vulnerability", f.severity.as_str()],
        },
    });
    if let Some(url) = &f.url {
        rule["helpUri"] = json!(url);
    }
    rule
}

fn result(f: &Finding, rule_index: usize, target: &str) -> Value {
    let fix = f
        .fixed_version
        .as_ref()
        .map(|v| format!(", fixed in {v}"))
        .unwrap_or_else(|| ", no fix available".into());
    let uri = f.purl.as_ref().map_or_else(
        || format!("{}/{}", f.ecosystem, f.package),
        ToString::to_string,
    );
    json!({
        "ruleId": f.vuln_id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": format!(
            "{} {} {} is affected by {} ({}){fix}",
            f.ecosystem, f.package, f.installed_version, f.vuln_id, f.severity
        )},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": uri}},
            "logicalLocations": [{"name": target, "kind": "image"}],
        }],
        "partialFingerprints": {"findingId": f.id},
        "properties": {
            "package": f.package,
            "installedVersion": f.installed_version,
            "fixedVersion": f.fixed_version,
            "aliases": f.aliases,
            "layer": f.layer,
        },
    })
}

/// The report as a SARIF 2.1.0 log.
pub fn sarif(r: &ScanReport, tool_version: &str) -> Value {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for f in &r.findings {
        if !index.contains_key(f.vuln_id.as_str()) {
            index.insert(&f.vuln_id, rules.len());
            rules.push(rule(f));
        }
    }
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| result(f, index[f.vuln_id.as_str()], &r.target.reference))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bulwark",
                "version": tool_version,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
