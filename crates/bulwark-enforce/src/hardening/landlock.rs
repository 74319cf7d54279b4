//! Landlock rules derived from the exec and file policy, for a workload
//! `bulwark run` starts as a plain command (Landlock restricts the calling
//! process and what it executes; it cannot be imposed on a container's init
//! from outside, so containers rely on fanotify for the same rules).
//!
//! Landlock is an allowlist: once an access class is handled, only the
//! paths granted it keep it. So:
//! - exec in Protect: `Execute` only beneath the allowed programs and
//!   directories, and the interpreters the kernel opens to run them;
//! - files in Protect with `default_read: deny` / `default_write: deny`:
//!   reads / writes only beneath the rules that allow them.
//!
//! A deny rule under an allow default cannot be expressed; it is listed in
//! [`Plan::not_expressible`] (fanotify enforces it for containers).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, AccessFs, BitFlags, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

use super::HardeningError;
use crate::denial::Class;
use crate::interp;
use crate::policy::{EnforcePolicy, PathPattern, Verdict};

/// The Landlock ABI asked for; newer kernels enforce at least this.
const TARGET_ABI: ABI = ABI::V3;

/// Most entries of an allowed directory scanned for interpreters.
const MAX_SCAN: usize = 16_384;

/// Which paths keep which access. `None`: the class is not restricted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub execute: Option<Vec<PathBuf>>,
    pub read: Option<Vec<PathBuf>>,
    pub write: Option<Vec<PathBuf>>,
    pub not_expressible: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.execute.is_none() && self.read.is_none() && self.write.is_none()
    }
}

/// The plan for `policy` (pure; interpreters are added by [`apply`]).
pub fn plan(policy: &EnforcePolicy) -> Plan {
    let mut out = Plan::default();
    if !policy.hardening.landlock {
        return out;
    }
    if policy.exec.enforce && policy.refuses(Class::Process) {
        out.execute = Some(paths(policy.exec.allow.iter().map(|r| &r.path)));
    }
    if policy.refuses(Class::File) {
        let files = &policy.files;
        let granted = |verdict: fn(&crate::policy::FileRule) -> Option<Verdict>| {
            paths(
                files
                    .rules
                    .iter()
                    .filter(move |r| verdict(r) == Some(Verdict::Allow))
                    .map(|r| &r.path),
            )
        };
        if files.default_read == Verdict::Deny {
            out.read = Some(granted(|r| r.read));
        }
        if files.default_write == Verdict::Deny {
            out.write = Some(granted(|r| r.write));
        }
        for rule in &files.rules {
            let read = files.default_read == Verdict::Allow && rule.read == Some(Verdict::Deny);
            let write = files.default_write == Verdict::Allow && rule.write == Some(Verdict::Deny);
            if read || write {
                out.not_expressible.push(format!(
                    "spec.files {}: a deny under an allow default is not a Landlock rule",
                    rule.path
                ));
            }
        }
    }
    out
}

fn paths<'a>(patterns: impl Iterator<Item = &'a PathPattern>) -> Vec<PathBuf> {
    patterns.map(|p| PathBuf::from(p.path().as_str())).collect()
}

/// What Landlock did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// `fully enforced` or `partially enforced` (older kernel).
    pub status: String,
    /// The interpreters added to the `Execute` grants.
    pub interpreters: Vec<PathBuf>,
}

/// Restrict the calling thread (and everything it executes) to `plan`.
/// Fails, rather than running unrestricted, when the kernel has no Landlock.
pub fn apply(plan: &Plan) -> Result<Applied, HardeningError> {
    let err = |e: &dyn std::fmt::Display| HardeningError::Landlock(e.to_string());
    let mut execute = plan.execute.clone();
    let mut interpreters = Vec::new();
    if let Some(list) = &mut execute {
        interpreters = interpreters_of(list);
        list.extend(interpreters.iter().cloned());
    }
    let classes: [(Option<&Vec<PathBuf>>, BitFlags<AccessFs>); 3] = [
        (execute.as_ref(), AccessFs::Execute.into()),
        (plan.read.as_ref(), AccessFs::ReadFile | AccessFs::ReadDir),
        (plan.write.as_ref(), AccessFs::from_write(TARGET_ABI)),
    ];
    let handled = classes
        .iter()
        .filter(|(p, _)| p.is_some())
        .fold(BitFlags::EMPTY, |acc, (_, a)| acc | *a);
    let mut ruleset = Ruleset::default()
        .handle_access(handled)
        .map_err(|e| err(&e))?
        .create()
        .map_err(|e| err(&e))?;
    for (granted, access) in classes {
        if let Some(list) = granted {
            ruleset = ruleset
                .add_rules(path_beneath_rules(list, access))
                .map_err(|e| err(&e))?;
        }
    }
    let status = ruleset.restrict_self().map_err(|e| err(&e))?;
    let status = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => {
            return Err(HardeningError::Landlock(
                "the kernel does not enforce Landlock (not built in or not in lsm=)".into(),
            ));
        }
    };
    Ok(Applied {
        status: status.into(),
        interpreters,
    })
}

/// The interpreters (ELF `PT_INTERP`, `#!`) of the allowed files and of the
/// files directly in allowed directories, transitively, not yet granted.
fn interpreters_of(granted: &[PathBuf]) -> Vec<PathBuf> {
    let mut queue: Vec<PathBuf> = Vec::new();
    for path in granted {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                queue.extend(
                    entries
                        .filter_map(Result::ok)
                        .take(MAX_SCAN)
                        .map(|e| e.path()),
                );
            }
        } else {
            queue.push(path.clone());
        }
    }
    let mut found: Vec<PathBuf> = Vec::new();
    while let Some(file) = queue.pop() {
        let Some(interp) = head(&file).and_then(|h| interp::interpreter(&h)) else {
            continue;
        };
        let interp = PathBuf::from(interp);
        let covered = granted.iter().any(|g| interp.starts_with(g));
        if !covered && !found.contains(&interp) {
            found.push(interp.clone());
            queue.push(interp);
        }
    }
    found
}

fn head(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::with_capacity(interp::HEAD_BYTES);
    file.take(interp::HEAD_BYTES as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyDocument;

    fn policy(spec: &str) -> EnforcePolicy {
        let doc = format!(
            "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {{name: t}}\nspec:\n  workload: t\n{spec}"
        );
        PolicyDocument::parse("test", &doc).unwrap().spec
    }

    #[test]
    fn protect_exec_restricts_execute_to_the_allowlist() {
        let p = plan(&policy(
            "  mode: protect\n  exec:\n    allow:\n      - path: /bin/busybox\n      - path: /opt/tools/\n",
        ));
        assert_eq!(
            p.execute,
            Some(vec![
                PathBuf::from("/bin/busybox"),
                PathBuf::from("/opt/tools")
            ])
        );
        assert_eq!((p.read, p.write), (None, None));
    }

    #[test]
    fn deny_by_default_files_become_grants_and_deny_rules_are_reported() {
        let p = plan(&policy(
            "  mode: protect\n  exec: {enforce: false}\n  files:\n    default_write: deny\n    rules:\n      - {path: /tmp/, write: allow}\n      - {path: /etc/shadow, read: deny}\n",
        ));
        assert_eq!(p.execute, None);
        assert_eq!(p.write, Some(vec![PathBuf::from("/tmp")]));
        assert_eq!(p.read, None);
        assert_eq!(p.not_expressible.len(), 1, "{:?}", p.not_expressible);
    }

    #[test]
    fn monitor_mode_or_landlock_off_restricts_nothing() {
        let monitor = plan(&policy(
            "  mode: monitor\n  exec:\n    allow:\n      - path: /bin/busybox\n",
        ));
        assert!(monitor.is_empty());
        let off = plan(&policy(
            "  mode: protect\n  hardening: {landlock: false}\n  exec:\n    allow:\n      - path: /bin/busybox\n",
        ));
        assert!(off.is_empty());
    }
}
