//! OpenVEX (v0.2.0) input: statements that a vulnerability does not affect
//! a product suppress the matching findings.
//!
//! A statement applies to a finding when its vulnerability (name or an
//! alias) is the finding's advisory id or one of its aliases, and one of
//! its products, or a product's subcomponents, is the finding's package by
//! purl (type, namespace, name and, when the statement gives one, version;
//! qualifiers are ignored and a Go `v` prefix does not matter), or the
//! product is the scanned image itself (its digest or reference) without
//! subcomponents. For each (vulnerability, product), the statement with the
//! latest timestamp wins; only `not_affected` and `fixed` suppress.

use serde::{Deserialize, Serialize};

use crate::matcher::Finding;

#[derive(Debug, thiserror::Error)]
pub enum VexError {
    #[error("{origin}: not valid JSON: {message}")]
    Json { origin: String, message: String },
    #[error("{origin}: not an OpenVEX document (@context {context:?})")]
    NotOpenVex { origin: String, context: String },
}

/// A parsed OpenVEX document.
#[derive(Clone, Debug, Deserialize)]
pub struct VexDocument {
    #[serde(rename = "@context")]
    pub context: String,
    #[serde(rename = "@id", default)]
    pub id: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Statement {
    pub vulnerability: VexVulnerability,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub products: Vec<Product>,
    pub status: String,
    #[serde(default)]
    pub justification: Option<String>,
    #[serde(default)]
    pub impact_statement: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VexVulnerability {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Product {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(default)]
    pub subcomponents: Vec<Subcomponent>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Subcomponent {
    #[serde(rename = "@id")]
    pub id: String,
}

/// Why a finding was suppressed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Suppression {
    pub document: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
}

/// Parses one OpenVEX document.
pub fn parse(origin: &str, bytes: &[u8]) -> Result<VexDocument, VexError> {
    let doc: VexDocument = serde_json::from_slice(bytes).map_err(|e| VexError::Json {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    if !doc.context.starts_with("https://openvex.dev/ns") {
        return Err(VexError::NotOpenVex {
            origin: origin.to_string(),
            context: doc.context,
        });
    }
    Ok(doc)
}

/// A purl without qualifiers and subpath, split at the version.
fn purl_key(purl: &str) -> Option<(String, Option<String>)> {
    let base = purl.split(['?', '#']).next()?;
    if !base.starts_with("pkg:") {
        return None;
    }
    let (name, version) = match base.rsplit_once('@') {
        Some((n, v)) if !n.ends_with("pkg:") => (n, Some(v.trim_start_matches('v').to_string())),
        _ => (base, None),
    };
    Some((name.to_ascii_lowercase(), version))
}

fn purl_matches(statement_purl: &str, finding_purl: &str) -> bool {
    match (purl_key(statement_purl), purl_key(finding_purl)) {
        (Some((sn, sv)), Some((fn_, fv))) => sn == fn_ && (sv.is_none() || sv == fv),
        _ => false,
    }
}

fn names_vulnerability(s: &Statement, f: &Finding) -> bool {
    std::iter::once(&s.vulnerability.name)
        .chain(&s.vulnerability.aliases)
        .any(|n| *n == f.vuln_id || f.aliases.iter().any(|a| a == n))
}

fn names_package(s: &Statement, f: &Finding, image: &[&str]) -> bool {
    let purl = f.purl.as_deref().unwrap_or_default();
    s.products.iter().any(|p| {
        if p.subcomponents.is_empty() {
            image.contains(&p.id.as_str()) || purl_matches(&p.id, purl)
        } else {
            p.subcomponents.iter().any(|c| purl_matches(&c.id, purl))
        }
    })
}

/// The latest applicable statement for a finding, if it suppresses it.
pub fn suppression(docs: &[VexDocument], image: &[&str], f: &Finding) -> Option<Suppression> {
    let latest = docs
        .iter()
        .flat_map(|d| d.statements.iter().map(move |s| (d, s)))
        .filter(|(_, s)| names_vulnerability(s, f) && names_package(s, f, image))
        .max_by(|(da, a), (db, b)| {
            let ta = a.timestamp.as_ref().or(da.timestamp.as_ref());
            let tb = b.timestamp.as_ref().or(db.timestamp.as_ref());
            let parse = |t: Option<&String>| t.and_then(|t| crate::time_fmt::parse(t));
            parse(ta).cmp(&parse(tb))
        })?;
    let (doc, s) = latest;
    matches!(s.status.as_str(), "not_affected" | "fixed").then(|| Suppression {
        document: doc.id.clone(),
        status: s.status.clone(),
        justification: s.justification.clone(),
        impact_statement: s.impact_statement.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_match_without_qualifiers_and_go_v_prefix() {
        assert!(purl_matches(
            "pkg:golang/golang.org/x/crypto@0.0.0-2022",
            "pkg:golang/golang.org/x/crypto@v0.0.0-2022"
        ));
        assert!(purl_matches(
            "pkg:deb/debian/openssl",
            "pkg:deb/debian/openssl@3.0.11?arch=amd64&distro=debian-12"
        ));
        assert!(!purl_matches(
            "pkg:deb/debian/openssl@3.0.12",
            "pkg:deb/debian/openssl@3.0.11"
        ));
        assert!(!purl_matches("not-a-purl", "pkg:npm/x@1"));
    }

    #[test]
    fn rejects_documents_that_are_not_openvex() {
        let err = parse(
            "x.json",
            br#"{"@context": "https://cyclonedx.org", "statements": []}"#,
        );
        assert!(matches!(err, Err(VexError::NotOpenVex { .. })));
    }
}
