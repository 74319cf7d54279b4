//! Scoped exceptions to detection rules: "rule X does not fire for workload W
//! when program P touches path F". Every field that is set must match; an
//! exception with no scope at all is refused, so a typo cannot silence a rule
//! everywhere.

use serde::{Deserialize, Serialize};

use crate::pattern::ArgPattern;

/// One exception. Patterns are globs (`*` matches anything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exception {
    /// The rule id (`credential-read`), or `*` for every rule.
    pub rule: String,
    /// Workload identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<ArgPattern>,
    /// Image reference the container runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ArgPattern>,
    /// Executable (canonical path or invoked path) of the acting process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<ArgPattern>,
    /// Executable of the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ArgPattern>,
    /// The file path, peer address or other object the rule fired on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ArgPattern>,
    /// Why the exception exists (shown in reviews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an exception is matched against.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub rule: &'a str,
    pub workload: &'a str,
    pub image: Option<&'a str>,
    pub exe: Option<&'a str>,
    pub path: Option<&'a str>,
    pub parent: Option<&'a str>,
    pub object: Option<&'a str>,
}

impl Exception {
    /// Refuses exceptions that would silence a rule everywhere.
    pub fn validate(&self) -> Result<(), String> {
        if self.rule.is_empty() {
            return Err("exception has an empty rule id (use \"*\" for every rule)".into());
        }
        let scoped = self.workload.is_some()
            || self.image.is_some()
            || self.exe.is_some()
            || self.parent.is_some()
            || self.object.is_some();
        if !scoped {
            return Err(format!(
                "exception for rule {:?} has no scope: set at least one of workload, image, exe, parent, object",
                self.rule
            ));
        }
        Ok(())
    }

    pub fn applies(&self, scope: &Scope<'_>) -> bool {
        let opt = |pat: &Option<ArgPattern>, value: Option<&str>| match pat {
            None => true,
            Some(p) => value.is_some_and(|v| p.matches(v)),
        };
        let exe_ok = match &self.exe {
            None => true,
            Some(p) => [scope.exe, scope.path]
                .into_iter()
                .flatten()
                .any(|v| p.matches(v)),
        };
        (self.rule == "*" || self.rule == scope.rule)
            && opt(&self.workload, Some(scope.workload))
            && opt(&self.image, scope.image)
            && exe_ok
            && opt(&self.parent, scope.parent)
            && opt(&self.object, scope.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Option<ArgPattern> {
        ArgPattern::new(s).ok()
    }

    fn exception() -> Exception {
        Exception {
            rule: "credential-read".into(),
            workload: pat("image:registry.test/auth*"),
            image: None,
            exe: pat("/usr/sbin/sshd"),
            parent: None,
            object: pat("/etc/shadow"),
            reason: Some("sshd checks passwords".into()),
        }
    }

    fn scope<'a>(rule: &'a str, workload: &'a str, exe: &'a str) -> Scope<'a> {
        Scope {
            rule,
            workload,
            exe: Some(exe),
            object: Some("/etc/shadow"),
            ..Scope::default()
        }
    }

    #[test]
    fn exception_applies_only_inside_its_scope() {
        let e = exception();
        assert!(e.applies(&scope(
            "credential-read",
            "image:registry.test/auth-v2",
            "/usr/sbin/sshd"
        )));
        assert!(!e.applies(&scope(
            "credential-read",
            "image:registry.test/web",
            "/usr/sbin/sshd"
        )));
        assert!(!e.applies(&scope(
            "credential-read",
            "image:registry.test/auth",
            "/bin/cat"
        )));
        assert!(!e.applies(&scope(
            "reverse-shell",
            "image:registry.test/auth",
            "/usr/sbin/sshd"
        )));
    }

    #[test]
    fn unscoped_exception_is_refused() {
        let e = Exception {
            rule: "*".into(),
            workload: None,
            image: None,
            exe: None,
            parent: None,
            object: None,
            reason: None,
        };
        assert!(e.validate().is_err());
        assert!(exception().validate().is_ok());
    }
}
