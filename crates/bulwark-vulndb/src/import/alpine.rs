//! Alpine secdb (`v3.X/main.yaml`, `community.yaml`) to OSV.
//!
//! secdb lists, per release branch and package, which version fixed which
//! CVEs (`secfixes: {"1.2.3-r0": [CVE-...]}`). Records are built per
//! identifier (`ALPINE-CVE-2020-1234`) across every secdb file of one
//! import, one `affected` entry per (release, package) with `introduced 0,
//! fixed VERSION` in `Alpine:vX.Y`. A fixed version of `0` means "never
//! affected" and gives no range. Import the whole secdb at once: a later
//! import replaces these records with what it contains.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Collects secdb files, then emits records.
#[derive(Default)]
pub struct Aggregator {
    /// identifier -> (ecosystem, package) -> fixed versions
    fixes: BTreeMap<String, BTreeMap<(String, String), Vec<String>>>,
}

/// Whether a YAML document is a secdb file rather than an OSV record.
pub fn is_secdb(doc: &Value) -> bool {
    doc.get("distroversion").is_some()
        && doc
            .get("packages")
            .is_some_and(|p| p.is_array() || p.is_null())
}

impl Aggregator {
    /// Adds one secdb document; a problem names what was wrong.
    pub fn add(&mut self, doc: &Value) -> Result<usize, String> {
        let release = doc["distroversion"]
            .as_str()
            .filter(|r| r.starts_with('v'))
            .ok_or("distroversion must be a string like \"v3.11\"")?;
        let ecosystem = format!("Alpine:{release}");
        let mut added = 0;
        for entry in doc["packages"].as_array().into_iter().flatten() {
            let pkg = &entry["pkg"];
            let name = pkg["name"].as_str().ok_or("package without a name")?;
            let Some(secfixes) = pkg.get("secfixes").and_then(Value::as_object) else {
                continue;
            };
            for (fixed, ids) in secfixes {
                if fixed == "0" {
                    continue;
                }
                for id in ids
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    // Entries sometimes carry text after the identifier.
                    let Some(id) = id.split_whitespace().next() else {
                        continue;
                    };
                    self.fixes
                        .entry(id.to_string())
                        .or_default()
                        .entry((ecosystem.clone(), name.to_string()))
                        .or_default()
                        .push(fixed.clone());
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// One OSV record per identifier, deterministic order.
    pub fn finish(self) -> Vec<Value> {
        self.fixes
            .into_iter()
            .map(|(id, packages)| {
                let affected: Vec<Value> = packages
                    .into_iter()
                    .map(|((ecosystem, name), fixed)| {
                        let ranges: Vec<Value> = fixed
                            .iter()
                            .map(|f| json!({"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f}]}))
                            .collect();
                        json!({"package": {"ecosystem": ecosystem, "name": name}, "ranges": ranges})
                    })
                    .collect();
                json!({
                    "schema_version": "1.7.0",
                    "id": format!("ALPINE-{id}"),
                    "modified": "1970-01-01T00:00:00Z",
                    "aliases": [id],
                    "affected": affected,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_one_record_per_cve_across_releases() {
        let doc = |rel: &str, ver: &str| {
            json!({"distroversion": rel, "packages": [
                {"pkg": {"name": "openssl", "secfixes": {ver: ["CVE-2020-1967"], "0": ["CVE-1999-0001"]}}}
            ]})
        };
        let mut agg = Aggregator::default();
        assert!(is_secdb(&doc("v3.11", "1.1.1g-r0")));
        agg.add(&doc("v3.11", "1.1.1g-r0")).unwrap();
        agg.add(&doc("v3.10", "1.1.1g-r0")).unwrap();
        let records = agg.finish();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["id"], "ALPINE-CVE-2020-1967");
        assert_eq!(records[0]["affected"].as_array().unwrap().len(), 2);
        assert_eq!(
            records[0]["affected"][0]["package"]["ecosystem"],
            "Alpine:v3.10"
        );
    }
}
