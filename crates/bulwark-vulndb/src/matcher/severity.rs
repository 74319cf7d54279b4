//! Which severity a finding gets: the vendor's own rating first (the
//! distro's or the advisory database's), then a CVSS base score computed
//! from the record's vector. The vectors are kept on the finding either way.
//! CVSS v4 vectors are kept but not scored (the v4 score needs the
//! specification's macro-vector tables): such findings stay `unknown`
//! unless the vendor rates them.

use bulwark_core::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::text::Text;
use crate::osv::{Affected, SeverityScore, Vulnerability};

/// The chosen severity and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeverityChoice {
    pub severity: Severity,
    /// `vendor`, `CVSS_V3 9.8`, `CVSS_V2 5.0`, or `none`.
    pub source: Text,
}

fn rating_in(value: Option<&Value>) -> Option<Severity> {
    value?.get("severity")?.as_str()?.parse().ok()
}

/// Red Hat-style advisory summaries start with the rating:
/// `Important: openssl security update`.
fn rating_in_summary(vuln: &Vulnerability) -> Option<Severity> {
    let (word, _) = vuln.summary.as_deref()?.split_once(':')?;
    matches!(word, "Critical" | "Important" | "Moderate" | "Low")
        .then(|| word.parse().ok())
        .flatten()
}

/// Vendor first, then CVSS v3, then CVSS v2.
pub fn choose_severity(vuln: &Vulnerability, affected: &Affected) -> SeverityChoice {
    let vendor = rating_in(affected.ecosystem_specific.as_ref())
        .or_else(|| rating_in(affected.database_specific.as_ref()))
        .or_else(|| rating_in(vuln.database_specific.as_ref()))
        .or_else(|| rating_in_summary(vuln))
        .or_else(|| {
            scores(vuln, affected)
                .find(|s| s.kind == "Ubuntu")
                .and_then(|s| s.score.parse().ok())
        });
    if let Some(severity) = vendor {
        return SeverityChoice {
            severity,
            source: "vendor".into(),
        };
    }
    for (kind, score_fn) in [
        ("CVSS_V3", cvss3 as fn(&str) -> Option<f64>),
        ("CVSS_V2", cvss2),
    ] {
        if let Some(score) = scores(vuln, affected)
            .filter(|s| s.kind == kind)
            .find_map(|s| score_fn(&s.score))
        {
            let mut severity = Severity::from_cvss_score(score as f32);
            if kind == "CVSS_V2" && severity == Severity::Critical {
                // CVSS v2's scale stops at High.
                severity = Severity::High;
            }
            return SeverityChoice {
                severity,
                source: format!("{kind} {score:.1}").into(),
            };
        }
    }
    SeverityChoice {
        severity: Severity::Unknown,
        source: "none".into(),
    }
}

/// Per-package scores first, then the record's.
pub(crate) fn scores<'a>(
    vuln: &'a Vulnerability,
    affected: &'a Affected,
) -> impl Iterator<Item = &'a SeverityScore> {
    affected.severity.iter().chain(vuln.severity.iter())
}

fn metric<'a>(vector: &'a str, key: &str) -> Option<&'a str> {
    vector
        .split('/')
        .filter_map(|m| m.split_once(':'))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// CVSS v3.0/3.1 base score.
pub fn cvss3(vector: &str) -> Option<f64> {
    if !vector.starts_with("CVSS:3.") {
        return None;
    }
    let m = |key: &str| metric(vector, key);
    let changed = m("S")? == "C";
    let av: f64 = match m("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac: f64 = match m("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr: f64 = match (m("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui: f64 = match m("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k| match m(k) {
        Some("H") => Some(0.56_f64),
        Some("L") => Some(0.22),
        Some("N") => Some(0.0),
        _ => None,
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    if impact <= 0.0 {
        return Some(0.0);
    }
    let exploitability = 8.22 * av * ac * pr * ui;
    let base = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(base))
}

/// CVSS v3.1's round-up to one decimal, free of floating-point artefacts.
fn roundup(x: f64) -> f64 {
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

/// CVSS v2 base score.
pub fn cvss2(vector: &str) -> Option<f64> {
    let m = |key: &str| metric(vector, key);
    let av: f64 = match m("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac: f64 = match m("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au: f64 = match m("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |k| match m(k) {
        Some("N") => Some(0.0_f64),
        Some("P") => Some(0.275),
        Some("C") => Some(0.660),
        _ => None,
    };
    let impact = 10.41 * (1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let base = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    Some((base * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss3_scores_match_the_specification_examples() {
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some(6.1)
        );
        assert_eq!(
            cvss3("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
            Some(5.5)
        );
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            Some(10.0)
        );
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"),
            Some(0.0)
        );
    }

    #[test]
    fn cvss2_scores_match_the_specification_examples() {
        assert_eq!(cvss2("AV:N/AC:L/Au:N/C:N/I:N/A:C"), Some(7.8));
        assert_eq!(cvss2("AV:N/AC:L/Au:N/C:C/I:C/A:C"), Some(10.0));
    }
}
