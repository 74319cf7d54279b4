//! CycloneDX 1.6 vulnerability disclosure report: the matched packages as
//! components and one vulnerability per advisory, each affecting the
//! components it was found in; VEX-suppressed findings carry their analysis.

use std::collections::BTreeMap;

use bulwark_core::Severity;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ScanReport;
use crate::matcher::Finding;

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

fn method(kind: &str, vector: &str) -> &'static str {
    match kind {
        "CVSS_V2" => "CVSSv2",
        "CVSS_V3" if vector.starts_with("CVSS:3.1") => "CVSSv31",
        "CVSS_V3" => "CVSSv3",
        "CVSS_V4" => "CVSSv4",
        _ => "other",
    }
}

fn ratings(f: &Finding) -> Vec<Value> {
    let mut out = vec![json!({
        "severity": severity(f.severity),
        "method": "other",
        "justification": format!("bulwark: {}", f.severity_source),
    })];
    for s in &f.scores {
        let mut r = json!({"method": method(&s.kind, &s.score), "vector": s.score});
        let score = match s.kind.as_str() {
            "CVSS_V3" => crate::matcher::severity::cvss3(&s.score),
            "CVSS_V2" => crate::matcher::severity::cvss2(&s.score),
            _ => None,
        };
        if let Some(score) = score {
            r["score"] = json!(score);
        }
        out.push(r);
    }
    out
}

/// A `urn:uuid:` derived from the content, so the same report gets the same
/// serial number.
fn serial(r: &ScanReport) -> String {
    let mut h = Sha256::new();
    h.update(r.target.reference.as_bytes());
    for f in &r.findings {
        h.update(f.id.as_bytes());
    }
    let b = h.finalize();
    let x = hex::encode(&b[..16]);
    format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}

fn component_ref(f: &Finding) -> String {
    f.purl.as_ref().map_or_else(
        || format!("{}/{}@{}", f.ecosystem, f.package, f.installed_version),
        ToString::to_string,
    )
}

/// The report as a CycloneDX 1.6 JSON document.
pub fn cyclonedx(r: &ScanReport, tool_version: &str, timestamp: &str) -> Value {
    let mut components: BTreeMap<String, Value> = BTreeMap::new();
    let mut vulns: BTreeMap<String, Value> = BTreeMap::new();
    let all = r
        .findings
        .iter()
        .map(|f| (f, None))
        .chain(r.suppressed.iter().map(|s| (&s.finding, Some(&s.vex))));
    for (f, vex) in all {
        let bom_ref = component_ref(f);
        components.entry(bom_ref.clone()).or_insert_with(|| {
            let mut c = json!({"type": "library", "bom-ref": bom_ref, "name": f.package, "version": f.installed_version});
            if let Some(p) = &f.purl {
                c["purl"] = json!(p);
            }
            c
        });
        let key = format!(
            "{}|{}",
            f.vuln_id,
            vex.map(|v| v.status.as_str()).unwrap_or("affected")
        );
        let v = vulns.entry(key).or_insert_with(|| {
            let mut v = json!({
                "bom-ref": format!("vuln:{}:{}", f.vuln_id, vex.map_or("affected", |_| "vex")),
                "id": f.vuln_id,
                "references": f.aliases.iter().map(|a| json!({"id": a, "source": {"name": alias_source(a)}})).collect::<Vec<_>>(),
                "ratings": ratings(f),
                "affects": [],
            });
            if let Some(s) = &f.summary {
                v["description"] = json!(s);
            }
            if let Some(url) = &f.url {
                v["source"] = json!({"url": url});
            }
            if let Some(vex) = vex {
                let mut analysis = json!({"state": "not_affected"});
                if vex.status == "fixed" {
                    analysis["state"] = json!("resolved");
                }
                if let Some(j) = vex.justification.as_deref().and_then(cdx_justification) {
                    analysis["justification"] = json!(j);
                }
                if let Some(d) = &vex.impact_statement {
                    analysis["detail"] = json!(d);
                }
                v["analysis"] = analysis;
            }
            v
        });
        if let Some(fix) = &f.fixed_version {
            v["recommendation"] = json!(format!("Upgrade {} to {fix} or later", f.package));
        }
        if let Some(list) = v["affects"].as_array_mut() {
            list.push(json!({"ref": bom_ref, "versions": [{"version": f.installed_version, "status": if vex.is_some() { "unaffected" } else { "affected" }}]}));
        }
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial(r),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "bulwark", "version": tool_version}]},
            "component": {"type": "container", "bom-ref": "target", "name": r.target.reference},
        },
        "components": components.into_values().collect::<Vec<_>>(),
        "vulnerabilities": vulns.into_values().collect::<Vec<_>>(),
    })
}

fn alias_source(alias: &str) -> &'static str {
    if alias.starts_with("CVE-") {
        "NVD"
    } else if alias.starts_with("GHSA-") {
        "GitHub"
    } else {
        "OSV"
    }
}

/// OpenVEX justifications mapped to CycloneDX analysis justifications.
fn cdx_justification(j: &str) -> Option<&'static str> {
    Some(match j {
        "component_not_present" => "requires_dependency",
        "vulnerable_code_not_present" => "code_not_present",
        "vulnerable_code_not_in_execute_path" => "code_not_reachable",
        "vulnerable_code_cannot_be_controlled_by_adversary" => "requires_environment",
        "inline_mitigations_already_exist" => "protected_by_mitigating_control",
        _ => return None,
    })
}
