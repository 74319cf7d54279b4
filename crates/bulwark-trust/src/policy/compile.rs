//! Documents checked and resolved into policies ready to evaluate.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::document::{
    API_VERSION, AuthoritySpec, ConfigChecks, Document, FindingLimit, KIND, PolicyMode,
    SignatureRuleSpec,
};
use super::glob::ImageGlob;
use crate::digest::Digest;
use crate::evidence::Needs;
use crate::reference::ImageRef;
use crate::signature::{Authority, IdentityMatch, PublicKey};

/// Why a policy document was refused. Names the document and the field.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy document {index}: {problem}")]
    Parse { index: usize, problem: String },
    #[error("policy {policy:?}: {problem}")]
    Invalid { policy: String, problem: String },
    #[error("no ImagePolicy documents found")]
    Empty,
}

/// What happens to an image no policy selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmatched {
    /// Fail closed: deny it.
    #[default]
    Deny,
    /// Allow it (for rolling policies out one repository at a time).
    Allow,
}

/// A signature requirement: `threshold` of `authorities` must have signed.
#[derive(Clone, Debug)]
pub(crate) struct SignatureRule {
    pub name: String,
    pub authorities: Vec<Authority>,
    pub threshold: usize,
    /// `None`: an image signature; `Some(t)`: an attestation of type `t`.
    pub predicate_type: Option<String>,
}

/// A trusted base image and who must have signed it.
#[derive(Clone, Debug)]
pub(crate) struct TrustedBase {
    pub entry: String,
    pub image: ImageRef,
    pub authorities: Vec<Authority>,
}

/// One resolved `ImagePolicy`.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) mode: PolicyMode,
    pub(crate) images: Vec<ImageGlob>,
    pub(crate) namespaces: Vec<regex::Regex>,
    pub(crate) trusted_registries: Vec<ImageGlob>,
    pub(crate) require_digest: bool,
    pub(crate) signatures: Vec<SignatureRule>,
    pub(crate) trusted_bases: Vec<TrustedBase>,
    pub(crate) findings: Vec<FindingLimit>,
    pub(crate) config: ConfigChecks,
}

impl Policy {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mode(&self) -> PolicyMode {
        self.mode
    }

    /// Does this policy apply to `image` in `namespace`? Namespace
    /// selectors only restrict when a namespace is known (admission).
    pub fn selects(&self, image: &ImageRef, namespace: Option<&str>) -> bool {
        let image_ok = self.images.iter().any(|g| g.matches(image));
        let ns_ok = match namespace {
            Some(ns) if !self.namespaces.is_empty() => {
                self.namespaces.iter().any(|r| r.is_match(ns))
            }
            _ => true,
        };
        image_ok && ns_ok
    }
}

/// All policies in force, with the generation that identifies them.
#[derive(Clone, Debug)]
pub struct PolicySet {
    pub(crate) policies: Vec<Policy>,
    pub(crate) generation: Digest,
    pub(crate) unmatched: Unmatched,
}

impl PolicySet {
    /// Parse one or more `---`-separated `ImagePolicy` documents.
    pub fn from_yaml(text: &str) -> Result<PolicySet, PolicyError> {
        let mut policies = Vec::new();
        for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml::Value::deserialize(doc).map_err(|e| PolicyError::Parse {
                index,
                problem: e.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            let doc: Document = serde_yaml::from_value(value).map_err(|e| PolicyError::Parse {
                index,
                problem: e.to_string(),
            })?;
            policies.push(compile(doc)?);
        }
        if policies.is_empty() {
            return Err(PolicyError::Empty);
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &policies {
            if !names.insert(p.name.clone()) {
                return Err(invalid(&p.name, "two policies share this name"));
            }
        }
        Ok(PolicySet {
            policies,
            generation: Digest::of(text.as_bytes()),
            unmatched: Unmatched::Deny,
        })
    }

    /// Set what happens to images no policy selects.
    pub fn with_unmatched(mut self, unmatched: Unmatched) -> PolicySet {
        self.unmatched = unmatched;
        self
    }

    /// SHA-256 of the policy text: changes whenever any policy changes.
    pub fn generation(&self) -> &Digest {
        &self.generation
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// What the policies selecting `image` in `namespace` need beyond the
    /// store's evidence, so that layers are read only when a rule uses them.
    pub fn needs(&self, image: &ImageRef, namespace: Option<&str>) -> Needs {
        let mut needs = Needs::default();
        for p in self.policies.iter().filter(|p| p.selects(image, namespace)) {
            needs.findings |= !p.findings.is_empty();
            needs.setuid_files |= p.config.no_setuid_added;
        }
        needs
    }

    /// Every trusted base image named by any policy, for the collector.
    pub fn trusted_bases(&self) -> Vec<(String, ImageRef)> {
        let mut out: Vec<(String, ImageRef)> = Vec::new();
        for base in self.policies.iter().flat_map(|p| &p.trusted_bases) {
            if !out.iter().any(|(e, _)| *e == base.entry) {
                out.push((base.entry.clone(), base.image.clone()));
            }
        }
        out
    }
}

fn invalid(policy: &str, problem: impl ToString) -> PolicyError {
    PolicyError::Invalid {
        policy: policy.to_string(),
        problem: problem.to_string(),
    }
}

fn compile(doc: Document) -> Result<Policy, PolicyError> {
    let name = doc.metadata.name;
    if doc.api_version != API_VERSION || doc.kind != KIND {
        return Err(invalid(
            &name,
            format!(
                "apiVersion/kind must be {API_VERSION}/{KIND}, got {}/{}",
                doc.api_version, doc.kind
            ),
        ));
    }
    let spec = doc.spec;
    let authorities = compile_authorities(&name, &spec.authorities)?;
    let globs = |list: &[String]| -> Result<Vec<ImageGlob>, PolicyError> {
        list.iter()
            .map(|g| ImageGlob::new(g).map_err(|e| invalid(&name, e)))
            .collect()
    };
    let images = if spec.images.is_empty() {
        globs(&["**".to_string()])?
    } else {
        globs(&spec.images)?
    };
    let mut signatures = Vec::new();
    for rule in &spec.signatures {
        if rule.predicate_type.is_some() {
            return Err(invalid(
                &name,
                format!(
                    "signatures[{}]: predicateType belongs under attestations",
                    rule.name
                ),
            ));
        }
        signatures.push(compile_rule(&name, rule, &authorities)?);
    }
    for rule in &spec.attestations {
        if rule.predicate_type.is_none() {
            return Err(invalid(
                &name,
                format!("attestations[{}]: predicateType is required", rule.name),
            ));
        }
        signatures.push(compile_rule(&name, rule, &authorities)?);
    }
    let trusted_bases = spec
        .trusted_bases
        .iter()
        .map(|b| {
            Ok(TrustedBase {
                entry: b.image.clone(),
                image: b
                    .image
                    .parse()
                    .map_err(|e| invalid(&name, format!("trustedBases: {e}")))?,
                authorities: pick(&name, &b.authorities, &authorities, "trustedBases")?,
            })
        })
        .collect::<Result<Vec<_>, PolicyError>>()?;
    Ok(Policy {
        namespaces: spec
            .namespaces
            .iter()
            .map(|n| namespace_regex(&name, n))
            .collect::<Result<_, _>>()?,
        trusted_registries: globs(&spec.trusted_registries)?,
        images,
        mode: spec.mode,
        require_digest: spec.require_digest,
        signatures,
        trusted_bases,
        findings: spec.findings,
        config: spec.config,
        name,
    })
}

fn namespace_regex(policy: &str, glob: &str) -> Result<regex::Regex, PolicyError> {
    let pattern = format!("^{}$", regex::escape(glob).replace(r"\*", ".*"));
    regex::Regex::new(&pattern).map_err(|e| invalid(policy, format!("namespace {glob:?}: {e}")))
}

fn compile_authorities(
    policy: &str,
    specs: &[AuthoritySpec],
) -> Result<BTreeMap<String, Authority>, PolicyError> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let authority = match (&spec.key, &spec.keyless) {
            (Some(key), None) => Authority::Key {
                name: spec.name.clone(),
                key: PublicKey::from_pem(&key.pem)
                    .map_err(|e| invalid(policy, format!("authority {}: {e}", spec.name)))?,
                ignore_tlog: key.ignore_tlog,
            },
            (None, Some(kl)) => Authority::Keyless {
                name: spec.name.clone(),
                identity: match (&kl.identity, &kl.identity_regex) {
                    (Some(exact), None) => IdentityMatch::Exact(exact.clone()),
                    (None, Some(re)) => IdentityMatch::regex(re)
                        .map_err(|e| invalid(policy, format!("authority {}: {e}", spec.name)))?,
                    _ => {
                        return Err(invalid(
                            policy,
                            format!(
                                "authority {}: give exactly one of identity, identityRegex",
                                spec.name
                            ),
                        ));
                    }
                },
                issuer: kl.issuer.clone(),
            },
            _ => {
                return Err(invalid(
                    policy,
                    format!("authority {}: give exactly one of key, keyless", spec.name),
                ));
            }
        };
        if out.insert(spec.name.clone(), authority).is_some() {
            return Err(invalid(
                policy,
                format!("authority {} is defined twice", spec.name),
            ));
        }
    }
    Ok(out)
}

fn pick(
    policy: &str,
    names: &[String],
    all: &BTreeMap<String, Authority>,
    field: &str,
) -> Result<Vec<Authority>, PolicyError> {
    if names.is_empty() {
        return Err(invalid(
            policy,
            format!("{field}: at least one authority is required"),
        ));
    }
    names
        .iter()
        .map(|n| {
            all.get(n)
                .cloned()
                .ok_or_else(|| invalid(policy, format!("{field}: unknown authority {n:?}")))
        })
        .collect()
}

fn compile_rule(
    policy: &str,
    rule: &SignatureRuleSpec,
    all: &BTreeMap<String, Authority>,
) -> Result<SignatureRule, PolicyError> {
    let authorities = pick(
        policy,
        &rule.authorities,
        all,
        &format!("rule {}", rule.name),
    )?;
    if rule.threshold == 0 || rule.threshold > authorities.len() {
        return Err(invalid(
            policy,
            format!(
                "rule {}: threshold {} must be between 1 and {}",
                rule.name,
                rule.threshold,
                authorities.len()
            ),
        ));
    }
    Ok(SignatureRule {
        name: rule.name.clone(),
        authorities,
        threshold: rule.threshold,
        predicate_type: rule.predicate_type.clone(),
    })
}
