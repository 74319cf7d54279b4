//! Our OSV schema validator agrees with the official schema
//! (`shared/data/osv-schema.tar.zst`, ossf/osv-schema `validation/schema.json`,
//! run by Python `jsonschema`) on the real records in `shared/data/osv`
//! (OSV JSON and YAML archives) and on bad records generated here by
//! mutating real ones.
//!
//! CI checks a deterministic sample (every 8th record of each archive by
//! path, and every mutation of every 40th sampled record); the full run
//! over all 17,000+ records and every mutation of every 97th is
//! `bench/vulndb-full-checks.sh` (`BULWARK_VULNDB_FULL=1`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use bulwark_vulndb::osv::{Format, validate};
use serde_json::{Value, json};

const OSV_ARCHIVES: [&str; 6] = [
    "osv/rustsec.tar.zst",
    "osv/go.tar.zst",
    "osv/pypi.tar.zst",
    "osv/almalinux.tar.zst",
    "osv/oss-fuzz.tar.zst",
    "osv/ghsa-sample.tar.zst",
];

fn real_records() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for archive in OSV_ARCHIVES {
        let root = support::unpacked(archive);
        let files = support::files_with_ext(&root, &[".json", ".yaml"]);
        for path in support::sample(files, 8) {
            let name = path.to_string_lossy().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let value: Option<Value> = match Format::from_path(&name) {
                Some(Format::Json) => serde_json::from_slice(&bytes).ok(),
                Some(Format::Yaml) => serde_yaml::from_slice(&bytes).ok(),
                None => None,
            };
            if let Some(v) = value {
                out.push((name, v));
            }
        }
    }
    out
}

fn first_affected(v: &mut Value, f: impl Fn(&mut Value)) {
    if let Some(a) = v.get_mut("affected").and_then(|a| a.get_mut(0)) {
        f(a);
    }
}

/// Bad (and a few good) variants of a real record.
fn mutations(base: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let mut m = |name: &'static str, f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        out.push((name, v));
    };
    m("no id", &|v| drop(v.as_object_mut().unwrap().remove("id")));
    m("no modified", &|v| {
        drop(v.as_object_mut().unwrap().remove("modified"))
    });
    m("unregistered id prefix", &|v| {
        v["id"] = json!("NOPE-2024-1")
    });
    m("private x_ id", &|v| v["id"] = json!("x_bulwark-1"));
    m("bad timestamp", &|v| v["modified"] = json!("yesterday"));
    m("aliases null", &|v| v["aliases"] = Value::Null);
    m("aliases not strings", &|v| v["aliases"] = json!([1]));
    m("related null", &|v| v["related"] = Value::Null);
    m("affected null", &|v| v["affected"] = Value::Null);
    m("severity bad cvss", &|v| {
        v["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}])
    });
    m("severity unknown type", &|v| {
        v["severity"] = json!([{"type": "CVSS_V9", "score": "x"}])
    });
    m("severity ubuntu", &|v| {
        v["severity"] = json!([{"type": "Ubuntu", "score": "medium"}])
    });
    m(
        "reference unknown type",
        &|v| v["references"] = json!([{"type": "BLOG", "url": "https://example.invalid"}]),
    );
    m("credit unknown type", &|v| {
        v["credits"] = json!([{"name": "a", "type": "HERO"}])
    });
    m("credit without name", &|v| {
        v["credits"] = json!([{"contact": []}])
    });
    m("unknown ecosystem", &|v| {
        first_affected(v, |a| a["package"]["ecosystem"] = json!("Debain:12"))
    });
    m("ecosystem empty suffix", &|v| {
        first_affected(v, |a| a["package"]["ecosystem"] = json!("Debian:"))
    });
    m("package without name", &|v| {
        first_affected(v, |a| a["package"] = json!({"ecosystem": "npm"}))
    });
    m("versions with a number", &|v| {
        first_affected(v, |a| a["versions"] = json!([1.5]))
    });
    m("range unknown type", &|v| {
        first_affected(v, |a| {
            a["ranges"] = json!([{"type": "DATE", "events": [{"introduced": "0"}]}])
        })
    });
    m("events empty", &|v| {
        first_affected(v, |a| {
            a["ranges"] = json!([{"type": "ECOSYSTEM", "events": []}])
        })
    });
    m("events without introduced", &|v| {
        first_affected(v, |a| {
            a["ranges"] = json!([{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}])
        })
    });
    m("fixed and last_affected", &|v| {
        first_affected(
            v,
            |a| a["ranges"] = json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}, {"last_affected": "1"}]}]),
        )
    });
    m("event with two keys", &|v| {
        first_affected(
            v,
            |a| {
                a["ranges"] =
                    json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}])
            },
        )
    });
    m("event with an extra unknown key", &|v| {
        first_affected(
            v,
            |a| {
                a["ranges"] =
                    json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0", "note": "x"}]}])
            },
        )
    });
    m("git range without repo", &|v| {
        first_affected(v, |a| {
            a["ranges"] = json!([{"type": "GIT", "events": [{"introduced": "0"}]}])
        })
    });
    m("git range short hash", &|v| {
        first_affected(
            v,
            |a| a["ranges"] = json!([{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "abc123"}]}]),
        )
    });
    m("affected severity with top-level severity", &|v| {
        v["severity"] = json!([{"type": "Ubuntu", "score": "low"}]);
        if let Some(a) = v.get_mut("affected").and_then(|a| a.get_mut(0)) {
            a["severity"] = json!([{"type": "Ubuntu", "score": "low"}]);
        }
    });
    m("record is an array", &|v| *v = json!([v.clone()]));
    out
}

#[test]
fn validator_agrees_with_the_official_osv_schema() {
    let schema =
        support::unpacked("osv-schema.tar.zst").join("ossf+osv-schema/validation/schema.json");
    let real = real_records();
    let (want, mutation_step) = if support::full_checks() {
        (17_000, 97)
    } else {
        (2_100, 40)
    };
    assert!(real.len() > want, "only {} records found", real.len());
    let mut docs: Vec<(String, Value)> = real.clone();
    for (name, base) in real.iter().step_by(mutation_step) {
        for (what, v) in mutations(base) {
            docs.push((format!("{name} [{what}]"), v));
        }
    }
    let values: Vec<Value> = docs.iter().map(|(_, v)| v.clone()).collect();
    let official = support::jsonschema_verdicts(&schema, &values);
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for ((name, doc), theirs) in docs.iter().zip(&official) {
        let ours = validate(doc).err();
        match (&ours, theirs) {
            (None, None) => valid += 1,
            (Some(_), Some(_)) => invalid += 1,
            _ => disagreements.push(format!("{name}: ours {ours:?}, official {theirs:?}")),
        }
    }
    println!(
        "{} documents ({} real records): {valid} valid and {invalid} invalid in agreement, {} disagreements",
        docs.len(),
        real.len(),
        disagreements.len()
    );
    assert!(invalid > 100, "the mutations must produce invalid records");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
