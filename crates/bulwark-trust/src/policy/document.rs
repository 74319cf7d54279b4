//! The `kind: ImagePolicy` YAML document, as written by people.

use bulwark_core::Severity;
use serde::Deserialize;

/// API version of the documents this crate reads.
pub const API_VERSION: &str = "bulwark.dev/v1alpha1";
pub const KIND: &str = "ImagePolicy";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Document {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metadata {
    pub name: String,
}

/// Enforce: failing rules deny. Warn: failing rules allow with warnings.
/// Audit: failing rules are only recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    #[default]
    Enforce,
    Warn,
    Audit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Spec {
    #[serde(default)]
    pub mode: PolicyMode,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub trusted_registries: Vec<String>,
    #[serde(default)]
    pub require_digest: bool,
    #[serde(default)]
    pub authorities: Vec<AuthoritySpec>,
    #[serde(default)]
    pub signatures: Vec<SignatureRuleSpec>,
    #[serde(default)]
    pub attestations: Vec<SignatureRuleSpec>,
    #[serde(default)]
    pub trusted_bases: Vec<BaseSpec>,
    #[serde(default)]
    pub findings: Vec<FindingLimit>,
    #[serde(default)]
    pub config: ConfigChecks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AuthoritySpec {
    pub name: String,
    #[serde(default)]
    pub key: Option<KeySpec>,
    #[serde(default)]
    pub keyless: Option<KeylessSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct KeySpec {
    pub pem: String,
    #[serde(default)]
    pub ignore_tlog: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct KeylessSpec {
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub identity_regex: Option<String>,
    pub issuer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SignatureRuleSpec {
    pub name: String,
    pub authorities: Vec<String>,
    #[serde(default = "one")]
    pub threshold: usize,
    #[serde(default)]
    pub predicate_type: Option<String>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct BaseSpec {
    pub image: String,
    pub authorities: Vec<String>,
}

/// At most `max` findings of `severity` or worse (only those with a fix
/// when `fixable: true`, only those without when `false`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FindingLimit {
    pub severity: Severity,
    #[serde(default)]
    pub fixable: Option<bool>,
    #[serde(default)]
    pub max: usize,
}

/// Image configuration checks, each mapped to a CIS Docker Benchmark item.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigChecks {
    /// CIS 4.1: a non-root `USER`.
    #[serde(default)]
    pub non_root: bool,
    /// CIS 4.6: a `HEALTHCHECK`.
    #[serde(default)]
    pub healthcheck: bool,
    /// CIS 4.9: no `ADD` of remote URLs.
    #[serde(default)]
    pub no_add_from_url: bool,
    /// CIS 4.10: no secrets in `ENV` or build history.
    #[serde(default)]
    pub no_secrets: bool,
    /// CIS 4.8: no set-uid/set-gid files added above the trusted base.
    #[serde(default)]
    pub no_setuid_added: bool,
    /// Paths allowed to carry set-uid/set-gid bits anyway.
    #[serde(default)]
    pub allow_setuid: Vec<String>,
}
