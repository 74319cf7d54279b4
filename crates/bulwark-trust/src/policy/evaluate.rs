//! Evaluation of a policy set over one image's evidence.

use std::collections::HashMap;

use super::cis;
use super::compile::{Policy, PolicySet, SignatureRule, TrustedBase, Unmatched};
use super::document::FindingLimit;
use super::verdict::{RuleResult, Verdict};
use crate::digest::{Digest, chain_ids};
use crate::evidence::{Finding, ImageEvidence};
use crate::signature::{
    self, Authority, COSIGN_SIGN_PREDICATE, SignatureFormat, SignatureMaterial, TrustRoot,
    VerifiedSignature,
};

/// Evaluate every policy that selects the image (in `namespace`, when the
/// caller knows one) and decide. Pure: verifies signatures in the evidence
/// with the trust root given, fetches nothing.
pub fn evaluate(
    set: &PolicySet,
    evidence: &ImageEvidence,
    namespace: Option<&str>,
    trust_root: Option<&TrustRoot>,
) -> Verdict {
    let mut ctx = Ctx {
        evidence,
        root: trust_root,
        memo: HashMap::new(),
        verified: Vec::new(),
    };
    let mut names = Vec::new();
    let mut rules = Vec::new();
    for policy in set
        .policies
        .iter()
        .filter(|p| p.selects(&evidence.reference, namespace))
    {
        names.push(policy.name.clone());
        rules.extend(evaluate_policy(policy, &mut ctx));
    }
    Verdict::new(
        evidence.reference.to_string(),
        evidence.digest.clone(),
        names,
        rules,
        ctx.verified,
        set.unmatched == Unmatched::Deny,
    )
}

struct Ctx<'a> {
    evidence: &'a ImageEvidence,
    root: Option<&'a TrustRoot>,
    /// (signature index within its list, base entry or "", authority) -> result
    memo: HashMap<(String, usize, String), Result<VerifiedSignature, String>>,
    verified: Vec<VerifiedSignature>,
}

impl Ctx<'_> {
    /// Verify signature `index` of `list` (the image's or a base's) with
    /// `authority`, once per evaluation.
    fn verify(
        &mut self,
        scope: &str,
        index: usize,
        subject: &Digest,
        material: &SignatureMaterial,
        authority: &Authority,
    ) -> Result<VerifiedSignature, String> {
        let key = (scope.to_string(), index, authority.name().to_string());
        if let Some(hit) = self.memo.get(&key) {
            return hit.clone();
        }
        let result = signature::verify(material, subject, authority, self.root)
            .map_err(|e| format!("{} signature: {e}", material.format_name()));
        if let Ok(v) = &result {
            self.verified.push(v.clone());
        }
        self.memo.insert(key, result.clone());
        result
    }
}

fn rule(
    policy: &Policy,
    name: String,
    cis: Option<&'static str>,
    (passed, reason): (bool, String),
) -> RuleResult {
    RuleResult {
        policy: policy.name.clone(),
        mode: policy.mode,
        rule: name,
        cis,
        passed,
        reason,
    }
}

fn evaluate_policy(policy: &Policy, ctx: &mut Ctx<'_>) -> Vec<RuleResult> {
    let ev = ctx.evidence;
    let mut out = Vec::new();
    if !policy.trusted_registries.is_empty() {
        out.push(rule(
            policy,
            "registry".into(),
            None,
            trusted_registry(policy, ev),
        ));
    }
    if policy.require_digest {
        out.push(rule(policy, "digest".into(), None, digest_pinned(ev)));
    }
    for sig_rule in &policy.signatures {
        let kind = if sig_rule.predicate_type.is_some() {
            "attestations"
        } else {
            "signatures"
        };
        let result = signature_rule(sig_rule, ctx);
        out.push(rule(
            policy,
            format!("{kind}/{}", sig_rule.name),
            None,
            result,
        ));
    }
    let mut base_layers = 0;
    if !policy.trusted_bases.is_empty() {
        let (check, layers) = trusted_base(&policy.trusted_bases, ctx);
        base_layers = layers;
        out.push(rule(policy, "base".into(), None, check));
    }
    for limit in &policy.findings {
        out.push(rule(
            policy,
            format!("findings/{}", limit_name(limit)),
            None,
            findings(limit, ev),
        ));
    }
    out.extend(config_rules(policy, ev, base_layers));
    out
}

fn trusted_registry(policy: &Policy, ev: &ImageEvidence) -> (bool, String) {
    match policy
        .trusted_registries
        .iter()
        .find(|g| g.matches(&ev.reference))
    {
        Some(g) => (
            true,
            format!(
                "{} matches trusted registry {}",
                ev.reference.name(),
                g.as_str()
            ),
        ),
        None => (
            false,
            format!("{} is not in a trusted registry", ev.reference.name()),
        ),
    }
}

fn digest_pinned(ev: &ImageEvidence) -> (bool, String) {
    match ev.reference.digest() {
        Some(d) if *d == ev.digest => (true, format!("pinned to {d}")),
        Some(d) => (
            false,
            format!("pinned to {d} but resolved to {}", ev.digest),
        ),
        None => (
            false,
            format!(
                "referenced by tag {:?}, not by digest",
                ev.reference.tag().unwrap_or("")
            ),
        ),
    }
}

fn is_kind(v: &VerifiedSignature, predicate_type: Option<&str>) -> bool {
    match predicate_type {
        Some(t) => v.predicate_type() == Some(t),
        None => match v.format() {
            SignatureFormat::SimpleSigning => true,
            SignatureFormat::LegacyDsse => false,
            SignatureFormat::Bundle => {
                matches!(v.predicate_type(), None | Some(COSIGN_SIGN_PREDICATE))
            }
        },
    }
}

/// Digests a signature may be over: the admitted one and the platform
/// manifest chosen from it.
fn bound_subjects(ev: &ImageEvidence) -> Vec<&Digest> {
    std::iter::once(&ev.digest)
        .chain(ev.platform_digest.as_ref())
        .collect()
}

fn signature_rule(rule: &SignatureRule, ctx: &mut Ctx<'_>) -> (bool, String) {
    let ev = ctx.evidence;
    let subjects = bound_subjects(ev);
    let mut satisfied = Vec::new();
    let mut problems = Vec::new();
    for authority in &rule.authorities {
        let mut last_err = None;
        let mut ok = false;
        for (i, (subject, material)) in ev.signatures.iter().enumerate() {
            if !subjects.contains(&subject) {
                continue;
            }
            match ctx.verify("", i, subject, material, authority) {
                Ok(v) if is_kind(&v, rule.predicate_type.as_deref()) => {
                    ok = true;
                    break;
                }
                Ok(v) => {
                    last_err = Some(format!(
                        "signature is of type {}",
                        v.predicate_type().unwrap_or("image signature")
                    ))
                }
                Err(e) => last_err = Some(e),
            }
        }
        if ok {
            satisfied.push(authority.name().to_string());
        } else {
            problems.push(format!(
                "{}: {}",
                authority.describe(),
                last_err.unwrap_or_else(|| "no signature found".into())
            ));
        }
    }
    let what = rule
        .predicate_type
        .as_deref()
        .map(|t| format!("attestation {t}"))
        .unwrap_or_else(|| "signature".into());
    if satisfied.len() >= rule.threshold {
        (
            true,
            format!(
                "{what} verified by {} ({} of {} required)",
                satisfied.join(", "),
                satisfied.len(),
                rule.threshold
            ),
        )
    } else {
        (
            false,
            format!(
                "{what}: {} of {} required authorities verified; {}",
                satisfied.len(),
                rule.threshold,
                problems.join("; ")
            ),
        )
    }
}

/// The image's layer chain must start with the chain of a trusted base
/// whose own signature verifies. Returns the check and the number of base
/// layers (0 when no base matched).
fn trusted_base(bases: &[TrustedBase], ctx: &mut Ctx<'_>) -> ((bool, String), usize) {
    let ev = ctx.evidence;
    let Some(config) = &ev.config else {
        return ((false, "image config (diff_ids) unavailable".into()), 0);
    };
    let image_chain = chain_ids(&config.diff_ids);
    let mut problems = Vec::new();
    for base in bases {
        let Some(found) = ev.bases.iter().find(|b| b.entry == base.entry) else {
            problems.push(format!("{}: could not be read", base.entry));
            continue;
        };
        let n = found.diff_ids.len();
        let base_chain = chain_ids(&found.diff_ids);
        if n == 0 || image_chain.len() < n || image_chain[n - 1] != base_chain[n - 1] {
            problems.push(format!(
                "{}: layer chain is not a prefix of the image's",
                base.entry
            ));
            continue;
        }
        let signed_by = base.authorities.iter().find_map(|authority| {
            found
                .signatures
                .iter()
                .enumerate()
                .find_map(|(i, (subject, material))| {
                    if *subject != found.digest && Some(subject) != found.platform_digest.as_ref() {
                        return None;
                    }
                    let v = ctx
                        .verify(&found.entry, i, subject, material, authority)
                        .ok()?;
                    is_kind(&v, None).then(|| authority.describe())
                })
        });
        match signed_by {
            Some(who) => {
                return (
                    (
                        true,
                        format!(
                            "built on {}@{} ({n} layers, ChainID {}), signed by {who}",
                            base.entry,
                            found.digest,
                            base_chain[n - 1]
                        ),
                    ),
                    n,
                );
            }
            None => problems.push(format!(
                "{}: layers match but no signature by {} verifies",
                base.entry,
                names(&base.authorities)
            )),
        }
    }
    (
        (
            false,
            format!("not built on a trusted base: {}", problems.join("; ")),
        ),
        0,
    )
}

fn names(authorities: &[Authority]) -> String {
    authorities
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn limit_name(limit: &FindingLimit) -> String {
    let fix = match limit.fixable {
        Some(true) => "-fixable",
        Some(false) => "-unfixable",
        None => "",
    };
    format!("{}{fix}", limit.severity.as_str())
}

fn findings(limit: &FindingLimit, ev: &ImageEvidence) -> (bool, String) {
    let findings = match &ev.findings {
        None => return (false, "no vulnerability scan result for this image".into()),
        Some(Err(why)) => return (false, format!("vulnerability scan failed: {why}")),
        Some(Ok(findings)) => findings,
    };
    let over: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= limit.severity)
        .filter(|f| {
            limit
                .fixable
                .is_none_or(|want| want == f.fixed_version.is_some())
        })
        .collect();
    let scope = format!(
        "{} or worse{}",
        limit.severity.as_str(),
        match limit.fixable {
            Some(true) => " with a fix",
            Some(false) => " without a fix",
            None => "",
        }
    );
    if over.len() <= limit.max {
        (
            true,
            format!("{} findings {scope} (max {})", over.len(), limit.max),
        )
    } else {
        let sample = over
            .iter()
            .take(5)
            .map(|f| format!("{} {} in {}", f.id, f.severity.as_str(), f.package))
            .collect::<Vec<_>>()
            .join(", ");
        (
            false,
            format!(
                "{} findings {scope}, max {}: {sample}",
                over.len(),
                limit.max
            ),
        )
    }
}

/// A config check: enabled, rule name, CIS item, the check.
type ConfigCheck = (
    bool,
    &'static str,
    &'static str,
    fn(&crate::evidence::ImageConfig) -> cis::Check,
);

fn config_rules(policy: &Policy, ev: &ImageEvidence, base_layers: usize) -> Vec<RuleResult> {
    let c = &policy.config;
    let checks: [ConfigCheck; 4] = [
        (c.non_root, "config/non-root", "4.1", cis::non_root),
        (c.healthcheck, "config/healthcheck", "4.6", cis::healthcheck),
        (
            c.no_add_from_url,
            "config/no-add-from-url",
            "4.9",
            cis::no_add_from_url,
        ),
        (c.no_secrets, "config/no-secrets", "4.10", cis::no_secrets),
    ];
    let mut out = Vec::new();
    for (enabled, name, cis_id, check) in checks {
        if !enabled {
            continue;
        }
        let result = match &ev.config {
            Some(config) => check(config),
            None => (false, "image config unavailable".into()),
        };
        out.push(rule(policy, name.into(), Some(cis_id), result));
    }
    if c.no_setuid_added {
        let files = ev.setuid_files.as_ref().map(|r| r.as_deref());
        let result = cis::no_setuid_added(files, base_layers, &c.allow_setuid);
        out.push(rule(
            policy,
            "config/no-setuid-added".into(),
            Some("4.8"),
            result,
        ));
    }
    out
}
