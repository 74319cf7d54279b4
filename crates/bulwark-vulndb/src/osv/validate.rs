//! The rules of the OSV JSON Schema (ossf/osv-schema `validation/schema.json`,
//! draft 2020-12), checked on a parsed JSON value.
//!
//! Written from the schema's text; `tests/osv_schema.rs` checks that this
//! validator and the official schema (run by Python `jsonschema`) agree on
//! every real record in `shared/data/osv` and on generated bad records.
//! Like `jsonschema` by default, `format` annotations (`date-time`, `uri`)
//! are not asserted; patterns are searched, not anchored, unless the
//! pattern itself anchors.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

/// Where a record breaks the OSV schema, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("violates the OSV schema at {path}: {problem}")]
pub struct SchemaViolation {
    pub path: String,
    pub problem: String,
}

type Check = Result<(), SchemaViolation>;

fn fail(path: &str, problem: impl Into<String>) -> Check {
    Err(SchemaViolation {
        path: path.to_string(),
        problem: problem.into(),
    })
}

const ID_PREFIXES: &str = "ASB-A|PUB-A|ALPINE|ALSA|ALBA|ALEA|AZL|BELL|BIT|CGA|CLEANSTART|CLSA|CURL|CVE|DEBIAN|DHI|DRUPAL|DSA|DLA|ELA|DTSA|ECHO|EEF|FreeBSD|GHSA|GO|GSD|HSEC|JLSEC|KUBE|LBSEC|LSN|MAL|MINI|MGASA|OESA|OSEC|OSV|openSUSE-SU|PHSA|PSF|PYSEC|RHBA|RHEA|RHSA|RLSA|RXSA|RSEC|ROOT|RUSTSEC|SUSE-[SRFO]U|UBUNTU|USN|V8";

const CVSS_V2: &str = r"^((AV:[NAL]|AC:[LMH]|Au:[MSN]|[CIA]:[NPC]|E:(U|POC|F|H|ND)|RL:(OF|TF|W|U|ND)|RC:(UC|UR|C|ND)|CDP:(N|L|LM|MH|H|ND)|TD:(N|L|M|H|ND)|[CIA]R:(L|M|H|ND))/)*(AV:[NAL]|AC:[LMH]|Au:[MSN]|[CIA]:[NPC]|E:(U|POC|F|H|ND)|RL:(OF|TF|W|U|ND)|RC:(UC|UR|C|ND)|CDP:(N|L|LM|MH|H|ND)|TD:(N|L|M|H|ND)|[CIA]R:(L|M|H|ND))$";
const CVSS_V3: &str = r"^CVSS:3[.][01]/((AV:[NALP]|AC:[LH]|PR:[NLH]|UI:[NR]|S:[UC]|[CIA]:[NLH]|E:[XUPFH]|RL:[XOTWU]|RC:[XURC]|[CIA]R:[XLMH]|MAV:[XNALP]|MAC:[XLH]|MPR:[XNLH]|MUI:[XNR]|MS:[XUC]|M[CIA]:[XNLH])/)*(AV:[NALP]|AC:[LH]|PR:[NLH]|UI:[NR]|S:[UC]|[CIA]:[NLH]|E:[XUPFH]|RL:[XOTWU]|RC:[XURC]|[CIA]R:[XLMH]|MAV:[XNALP]|MAC:[XLH]|MPR:[XNLH]|MUI:[XNR]|MS:[XUC]|M[CIA]:[XNLH])$";
const CVSS_V4: &str = r"^CVSS:4[.]0/AV:[NALP]/AC:[LH]/AT:[NP]/PR:[NLH]/UI:[NPA]/VC:[HLN]/VI:[HLN]/VA:[HLN]/SC:[HLN]/SI:[HLN]/SA:[HLN](/E:[XAPU])?(/CR:[XHML])?(/IR:[XHML])?(/AR:[XHML])?(/MAV:[XNALP])?(/MAC:[XLH])?(/MAT:[XNP])?(/MPR:[XNLH])?(/MUI:[XNPA])?(/MVC:[XNLH])?(/MVI:[XNLH])?(/MVA:[XNLH])?(/MSC:[XNLH])?(/MSI:[XNLHS])?(/MSA:[XNLHS])?(/S:[XNP])?(/AU:[XNY])?(/R:[XAUI])?(/V:[XDC])?(/RE:[XLMH])?(/U:(X|Clear|Green|Amber|Red))?$";
const TIMESTAMP: &str = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z";
const GIT_HASH: &str = r"^(0|[a-f0-9]{40}|[a-f0-9]{64})$";

const REFERENCE_TYPES: [&str; 11] = [
    "ADVISORY",
    "ARTICLE",
    "DETECTION",
    "DISCUSSION",
    "REPORT",
    "FIX",
    "INTRODUCED",
    "GIT",
    "PACKAGE",
    "EVIDENCE",
    "WEB",
];
const CREDIT_TYPES: [&str; 10] = [
    "FINDER",
    "REPORTER",
    "ANALYST",
    "COORDINATOR",
    "REMEDIATION_DEVELOPER",
    "REMEDIATION_REVIEWER",
    "REMEDIATION_VERIFIER",
    "TOOL",
    "SPONSOR",
    "OTHER",
];
const UBUNTU_RATINGS: [&str; 5] = ["negligible", "low", "medium", "high", "critical"];
const EVENT_KEYS: [&str; 4] = ["introduced", "fixed", "last_affected", "limit"];

struct Patterns {
    id: Regex,
    timestamp: Regex,
    ecosystem: Regex,
    git_hash: Regex,
    cvss_v2: Regex,
    cvss_v3: Regex,
    cvss_v4: Regex,
}

/// Python's `$` also matches before one final newline; so does ours.
fn python_regex(pattern: &str) -> Result<Regex, regex::Error> {
    match pattern.strip_suffix('$') {
        Some(p) => Regex::new(&format!(r"{p}\n?\z")),
        None => Regex::new(pattern),
    }
}

fn build_patterns() -> Result<Patterns, regex::Error> {
    let names = crate::ecosystem::KNOWN
        .iter()
        .map(|n| regex::escape(n))
        .collect::<Vec<_>>()
        .join("|");
    Ok(Patterns {
        id: python_regex(&format!("^(x_|({ID_PREFIXES})-)"))?,
        timestamp: python_regex(TIMESTAMP)?,
        ecosystem: python_regex(&format!("^({names})(:.+)?$"))?,
        git_hash: python_regex(GIT_HASH)?,
        cvss_v2: python_regex(CVSS_V2)?,
        cvss_v3: python_regex(CVSS_V3)?,
        cvss_v4: python_regex(CVSS_V4)?,
    })
}

fn patterns() -> Result<&'static Patterns, SchemaViolation> {
    static P: OnceLock<Result<Patterns, String>> = OnceLock::new();
    P.get_or_init(|| build_patterns().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SchemaViolation {
            path: "$".into(),
            problem: format!("internal error: schema pattern does not compile: {e}"),
        })
}

/// Checks `record` against the OSV schema; the first violation found.
pub fn validate(record: &Value) -> Check {
    let Some(obj) = record.as_object() else {
        return fail("$", "a record must be a JSON object");
    };
    let p = patterns()?;
    for key in ["id", "modified"] {
        if !obj.contains_key(key) {
            return fail("$", format!("missing required field {key:?}"));
        }
    }
    string_matching(obj, "id", &p.id, "an id with a registered prefix or x_")?;
    for key in ["modified", "published", "withdrawn"] {
        string_matching(obj, key, &p.timestamp, "an RFC 3339 UTC timestamp")?;
    }
    for key in ["schema_version", "summary", "details"] {
        optional_string(obj, key, &format!("$.{key}"))?;
    }
    string_array(obj, "$", "aliases", true)?;
    string_array(obj, "$", "related", false)?;
    string_array(obj, "$", "upstream", false)?;
    severity(obj.get("severity"), "$.severity")?;
    object_or_absent(obj, "database_specific", "$")?;
    affected_list(obj)?;
    references(obj.get("references"))?;
    credits(obj.get("credits"))
}

fn optional_string(obj: &Map<String, Value>, key: &str, path: &str) -> Check {
    match obj.get(key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => fail(path, "must be a string"),
    }
}

fn string_matching(obj: &Map<String, Value>, key: &str, re: &Regex, what: &str) -> Check {
    let path = format!("$.{key}");
    match obj.get(key) {
        None => Ok(()),
        Some(Value::String(s)) if re.is_match(s) => Ok(()),
        Some(Value::String(s)) => fail(&path, format!("{s:?} is not {what}")),
        Some(_) => fail(&path, "must be a string"),
    }
}

fn string_array(obj: &Map<String, Value>, parent: &str, key: &str, nullable: bool) -> Check {
    let path = format!("{parent}.{key}");
    match obj.get(key) {
        None => Ok(()),
        Some(Value::Null) if nullable => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    return fail(&format!("{path}[{i}]"), "must be a string");
                }
            }
            Ok(())
        }
        Some(_) => fail(&path, "must be an array of strings"),
    }
}

fn object_or_absent(obj: &Map<String, Value>, key: &str, parent: &str) -> Check {
    match obj.get(key) {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => fail(&format!("{parent}.{key}"), "must be an object"),
    }
}

/// An array (or null) of objects, each passed to `check` with its path.
fn each_object(
    value: Option<&Value>,
    path: &str,
    mut check: impl FnMut(&Map<String, Value>, &str) -> Check,
) -> Check {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item.as_object() {
                    Some(o) => check(o, &item_path)?,
                    None => return fail(&item_path, "must be an object"),
                }
            }
            Ok(())
        }
        Some(_) => fail(path, "must be an array"),
    }
}

fn severity(value: Option<&Value>, path: &str) -> Check {
    let p = patterns()?;
    each_object(value, path, |s, at| {
        let (Some(kind), Some(score)) = (s.get("type"), s.get("score")) else {
            return fail(at, "severity needs both \"type\" and \"score\"");
        };
        let (Some(kind), Some(score)) = (kind.as_str(), score.as_str()) else {
            return fail(at, "severity type and score must be strings");
        };
        let ok = match kind {
            "CVSS_V2" => p.cvss_v2.is_match(score),
            "CVSS_V3" => p.cvss_v3.is_match(score),
            "CVSS_V4" => p.cvss_v4.is_match(score),
            "Ubuntu" => UBUNTU_RATINGS.contains(&score),
            other => return fail(at, format!("unknown severity type {other:?}")),
        };
        if ok {
            Ok(())
        } else {
            fail(at, format!("{score:?} is not a valid {kind} score"))
        }
    })
}

fn affected_list(obj: &Map<String, Value>) -> Check {
    let top_level_severity = obj.contains_key("severity");
    each_object(obj.get("affected"), "$.affected", |a, at| {
        if let Some(pkg) = a.get("package") {
            package(pkg, &format!("{at}.package"))?;
        }
        match a.get("severity") {
            Some(v) if top_level_severity && !v.is_null() => {
                return fail(
                    &format!("{at}.severity"),
                    "must be null when the record has a top-level severity",
                );
            }
            s => severity(s, &format!("{at}.severity"))?,
        }
        match a.get("ranges") {
            None => {}
            Some(Value::Array(_)) => {
                each_object(a.get("ranges"), &format!("{at}.ranges"), range)?;
            }
            Some(_) => return fail(&format!("{at}.ranges"), "must be an array"),
        }
        string_array(a, at, "versions", false)?;
        object_or_absent(a, "ecosystem_specific", at)?;
        object_or_absent(a, "database_specific", at)
    })
}

fn package(pkg: &Value, at: &str) -> Check {
    let Some(pkg) = pkg.as_object() else {
        return fail(at, "must be an object");
    };
    let (Some(eco), Some(name)) = (pkg.get("ecosystem"), pkg.get("name")) else {
        return fail(at, "package needs \"ecosystem\" and \"name\"");
    };
    match eco.as_str() {
        Some(e) if patterns()?.ecosystem.is_match(e) => {}
        Some(e) => {
            return fail(
                &format!("{at}.ecosystem"),
                format!("unknown ecosystem {e:?}"),
            );
        }
        None => return fail(&format!("{at}.ecosystem"), "must be a string"),
    }
    if !name.is_string() {
        return fail(&format!("{at}.name"), "must be a string");
    }
    optional_string(pkg, "purl", &format!("{at}.purl"))
}

fn range(r: &Map<String, Value>, at: &str) -> Check {
    let kind = r.get("type").and_then(Value::as_str);
    match r.get("type") {
        None => return fail(at, "range needs \"type\""),
        Some(Value::String(t)) if ["GIT", "SEMVER", "ECOSYSTEM"].contains(&t.as_str()) => {}
        Some(t) => return fail(&format!("{at}.type"), format!("unknown range type {t}")),
    }
    let is_git = kind == Some("GIT");
    if is_git && !r.contains_key("repo") {
        return fail(at, "GIT ranges require a repo");
    }
    optional_string(r, "repo", &format!("{at}.repo"))?;
    object_or_absent(r, "database_specific", at)?;
    let Some(events) = r.get("events") else {
        return fail(at, "range needs \"events\"");
    };
    let Some(events) = events.as_array() else {
        return fail(&format!("{at}.events"), "must be an array");
    };
    if events.is_empty() {
        return fail(&format!("{at}.events"), "must not be empty");
    }
    let mut keys = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        keys.push(event(e, is_git, &format!("{at}.events[{i}]"))?);
    }
    if !keys.contains(&"introduced") {
        return fail(&format!("{at}.events"), "must contain an introduced event");
    }
    if keys.contains(&"last_affected") && keys.contains(&"fixed") {
        return fail(
            &format!("{at}.events"),
            "last_affected and fixed events are mutually exclusive",
        );
    }
    Ok(())
}

/// One event: exactly one of the four keys, holding a string (a full
/// commit hash for GIT ranges). Returns which key.
fn event(e: &Value, is_git: bool, at: &str) -> Result<&'static str, SchemaViolation> {
    let Some(obj) = e.as_object() else {
        fail(at, "must be an object")?;
        return Ok("");
    };
    let present: Vec<&'static str> = EVENT_KEYS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let [key] = present[..] else {
        fail(
            at,
            "an event holds exactly one of introduced, fixed, last_affected, limit",
        )?;
        return Ok("");
    };
    match obj.get(key).and_then(Value::as_str) {
        None => fail(&format!("{at}.{key}"), "must be a string")?,
        Some(v) if is_git && !patterns()?.git_hash.is_match(v) => fail(
            &format!("{at}.{key}"),
            format!("{v:?} is not a full-length commit hash"),
        )?,
        Some(_) => {}
    }
    Ok(key)
}

fn references(value: Option<&Value>) -> Check {
    each_object(value, "$.references", |r, at| {
        let (Some(kind), Some(url)) = (r.get("type"), r.get("url")) else {
            return fail(at, "reference needs \"type\" and \"url\"");
        };
        match kind.as_str() {
            Some(k) if REFERENCE_TYPES.contains(&k) => {}
            _ => {
                return fail(
                    &format!("{at}.type"),
                    format!("unknown reference type {kind}"),
                );
            }
        }
        if !url.is_string() {
            return fail(&format!("{at}.url"), "must be a string");
        }
        Ok(())
    })
}

fn credits(value: Option<&Value>) -> Check {
    match value {
        None => return Ok(()),
        Some(Value::Array(_)) => {}
        Some(_) => return fail("$.credits", "must be an array"),
    }
    each_object(value, "$.credits", |c, at| {
        match c.get("name") {
            Some(Value::String(_)) => {}
            Some(_) => return fail(&format!("{at}.name"), "must be a string"),
            None => return fail(at, "credit needs \"name\""),
        }
        string_array(c, at, "contact", false)?;
        match c.get("type") {
            None => Ok(()),
            Some(Value::String(t)) if CREDIT_TYPES.contains(&t.as_str()) => Ok(()),
            Some(t) => fail(&format!("{at}.type"), format!("unknown credit type {t}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "id": "GHSA-xxxx-yyyy-zzzz",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": "npm", "name": "left-pad"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}]
            }]
        })
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(build_patterns().is_ok());
    }

    #[test]
    fn accepts_a_minimal_record() {
        assert_eq!(validate(&minimal()), Ok(()));
    }

    #[test]
    fn rejects_fixed_together_with_last_affected() {
        let mut r = minimal();
        r["affected"][0]["ranges"][0]["events"]
            .as_array_mut()
            .unwrap()
            .push(json!({"last_affected": "1.2.0"}));
        let err = validate(&r).unwrap_err();
        assert!(err.problem.contains("mutually exclusive"), "{err}");
    }

    #[test]
    fn rejects_unknown_ecosystem_and_bad_id() {
        let mut r = minimal();
        r["affected"][0]["package"]["ecosystem"] = json!("Debain:12");
        assert!(
            validate(&r)
                .unwrap_err()
                .problem
                .contains("unknown ecosystem")
        );
        let mut r = minimal();
        r["id"] = json!("NOPE-1");
        assert!(validate(&r).is_err());
    }

    #[test]
    fn git_ranges_need_repo_and_full_hashes() {
        let mut r = minimal();
        r["affected"][0]["ranges"][0]["type"] = json!("GIT");
        assert!(validate(&r).unwrap_err().problem.contains("repo"));
        r["affected"][0]["ranges"][0]["repo"] = json!("https://example.invalid/x.git");
        assert!(validate(&r).unwrap_err().problem.contains("commit hash"));
    }
}
