//! Which files a workload may open for reading and for writing.

use serde::{Deserialize, Serialize};

use super::{ContainerPath, PathPattern, PolicyError, check_len};

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

/// What an open asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

impl Access {
    pub const READ: Access = Access {
        read: true,
        write: false,
    };
    pub const WRITE: Access = Access {
        read: false,
        write: true,
    };
    pub const READ_WRITE: Access = Access {
        read: true,
        write: true,
    };
}

/// One file rule. Unset classes fall through to less specific rules, then
/// to the policy default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    pub path: PathPattern,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Verdict>,
}

/// File access rules: the most specific rule that says something about an
/// access class decides it; `default_read`/`default_write` decide the rest.
///
/// With both defaults `allow`, only the files and directories the deny rules
/// name are watched (cheap); a `deny` default makes every open in the
/// container a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePolicy {
    #[serde(default = "allow")]
    pub default_read: Verdict,
    #[serde(default = "allow")]
    pub default_write: Verdict,
    #[serde(default)]
    pub rules: Vec<FileRule>,
}

fn allow() -> Verdict {
    Verdict::Allow
}

impl Default for FilePolicy {
    fn default() -> Self {
        FilePolicy {
            default_read: Verdict::Allow,
            default_write: Verdict::Allow,
            rules: Vec::new(),
        }
    }
}

impl FilePolicy {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        check_len("spec.files.rules", self.rules.len())?;
        for rule in &self.rules {
            if rule.read.is_none() && rule.write.is_none() {
                return Err(PolicyError::Invalid {
                    field: format!("spec.files.rules[{}]", rule.path),
                    problem: "says neither read nor write".into(),
                });
            }
        }
        Ok(())
    }

    /// True when every open must be decided (a default is `deny`).
    pub fn watches_everything(&self) -> bool {
        self.default_read == Verdict::Deny || self.default_write == Verdict::Deny
    }

    /// Decide `access` to `path` by path rules alone.
    pub fn decide(&self, path: &ContainerPath, access: Access) -> (Verdict, Option<&FileRule>) {
        let mut result = (Verdict::Allow, None);
        if access.read {
            result = worst(result, self.class(path, |r| r.read, self.default_read));
        }
        if access.write {
            result = worst(result, self.class(path, |r| r.write, self.default_write));
        }
        result
    }

    fn class(
        &self,
        path: &ContainerPath,
        pick: impl Fn(&FileRule) -> Option<Verdict>,
        default: Verdict,
    ) -> (Verdict, Option<&FileRule>) {
        self.rules
            .iter()
            .filter(|r| r.path.matches(path))
            .filter_map(|r| pick(r).map(|v| (v, r)))
            .max_by_key(|(_, r)| r.path.specificity())
            .map_or((default, None), |(v, r)| (v, Some(r)))
    }

    /// The patterns whose files must be watched when the defaults allow:
    /// every rule that denies something.
    pub fn denying_rules(&self) -> impl Iterator<Item = &FileRule> {
        self.rules
            .iter()
            .filter(|r| r.read == Some(Verdict::Deny) || r.write == Some(Verdict::Deny))
    }
}

fn worst<'a>(
    a: (Verdict, Option<&'a FileRule>),
    b: (Verdict, Option<&'a FileRule>),
) -> (Verdict, Option<&'a FileRule>) {
    if a.0 == Verdict::Deny { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, read: Option<Verdict>, write: Option<Verdict>) -> FileRule {
        FileRule {
            path: PathPattern::parse(path).unwrap(),
            read,
            write,
        }
    }

    fn p(s: &str) -> ContainerPath {
        ContainerPath::new(s).unwrap()
    }

    #[test]
    fn most_specific_rule_decides_each_class() {
        let policy = FilePolicy {
            rules: vec![
                rule("/etc/", None, Some(Verdict::Deny)),
                rule("/etc/shadow", Some(Verdict::Deny), None),
                rule("/etc/app/", None, Some(Verdict::Allow)),
            ],
            ..FilePolicy::default()
        };
        assert_eq!(
            policy.decide(&p("/etc/hosts"), Access::READ).0,
            Verdict::Allow
        );
        assert_eq!(
            policy.decide(&p("/etc/hosts"), Access::WRITE).0,
            Verdict::Deny
        );
        assert_eq!(
            policy.decide(&p("/etc/shadow"), Access::READ).0,
            Verdict::Deny
        );
        assert_eq!(
            policy.decide(&p("/etc/app/x.conf"), Access::WRITE).0,
            Verdict::Allow
        );
        assert_eq!(
            policy.decide(&p("/etc/app/x.conf"), Access::READ_WRITE).0,
            Verdict::Allow
        );
        assert_eq!(
            policy.decide(&p("/etc/hosts"), Access::READ_WRITE).0,
            Verdict::Deny
        );
    }

    #[test]
    fn defaults_apply_when_no_rule_speaks() {
        let policy = FilePolicy {
            default_read: Verdict::Deny,
            ..FilePolicy::default()
        };
        assert_eq!(policy.decide(&p("/data"), Access::READ).0, Verdict::Deny);
        assert_eq!(policy.decide(&p("/data"), Access::WRITE).0, Verdict::Allow);
        assert!(policy.watches_everything());
    }

    #[test]
    fn rule_saying_nothing_is_refused() {
        let policy = FilePolicy {
            rules: vec![rule("/etc/", None, None)],
            ..FilePolicy::default()
        };
        assert!(policy.validate().is_err());
    }
}
