//! Decisions, as pure functions of the policy, the registration index and
//! the facts of one permission event. No I/O: file content is asked for
//! through a closure, only when identity alone cannot decide.

use crate::identity::FileStamp;
use crate::index::{ExecIndex, FileIndex};
use crate::policy::{Access, ContainerPath, FilePolicy, FileRule, Sha256Digest, Verdict};
use crate::rootfs::RootError;

/// The answer to an exec permission event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecDecision {
    /// The very file the allowlist names, unchanged since registration.
    AllowUnchanged { path: ContainerPath },
    /// Another file (a copy, or a rewrite with identical bytes) whose
    /// content is an allowed program's.
    AllowSameContent { allowed: ContainerPath },
    /// Not a program the profile allows.
    DenyNotInProfile { sha256: Sha256Digest },
    /// An allowed file, changed after registration to something else.
    DenyModified {
        original: ContainerPath,
        sha256: Sha256Digest,
    },
    /// Could not be decided (too large, too slow, unreadable): the policy's
    /// failure mode answers.
    Undecidable { problem: String },
}

impl ExecDecision {
    pub fn allows(&self) -> Option<bool> {
        match self {
            ExecDecision::AllowUnchanged { .. } | ExecDecision::AllowSameContent { .. } => {
                Some(true)
            }
            ExecDecision::DenyNotInProfile { .. } | ExecDecision::DenyModified { .. } => {
                Some(false)
            }
            ExecDecision::Undecidable { .. } => None,
        }
    }

    /// Why, in one phrase, for alerts.
    pub fn reason(&self) -> String {
        match self {
            ExecDecision::AllowUnchanged { path } => format!("allowed program {path}"),
            ExecDecision::AllowSameContent { allowed } => {
                format!("same content as allowed program {allowed}")
            }
            ExecDecision::DenyNotInProfile { sha256 } => {
                format!("program not in the profile (content {sha256})")
            }
            ExecDecision::DenyModified { original, sha256 } => {
                format!(
                    "allowed program {original} was modified after the image (content {sha256})"
                )
            }
            ExecDecision::Undecidable { problem } => format!("undecided: {problem}"),
        }
    }
}

/// Decide an exec of the file with `stamp`. `content` hashes it; it is
/// called only when the identity is not the indexed one.
pub fn exec(
    index: &ExecIndex,
    stamp: &FileStamp,
    content: &mut dyn FnMut() -> Result<Sha256Digest, RootError>,
) -> ExecDecision {
    let known = index.by_id(stamp.id);
    if let Some(entry) = known.filter(|e| e.stamp == *stamp) {
        return ExecDecision::AllowUnchanged {
            path: entry.path.clone(),
        };
    }
    let sha256 = match content() {
        Ok(d) => d,
        Err(e) => {
            return ExecDecision::Undecidable {
                problem: e.to_string(),
            };
        }
    };
    if let Some(allowed) = index.by_hash(&sha256) {
        return ExecDecision::AllowSameContent {
            allowed: allowed.clone(),
        };
    }
    match known {
        Some(entry) => ExecDecision::DenyModified {
            original: entry.path.clone(),
            sha256,
        },
        None => ExecDecision::DenyNotInProfile { sha256 },
    }
}

/// The answer to an open permission event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenDecision {
    pub verdict: Verdict,
    /// The path the deciding rule matched (the image path of a protected
    /// inode when it was reached under another name).
    pub matched: Option<ContainerPath>,
    pub rule: Option<FileRule>,
}

/// Decide an open of `path` (the name used; `None` when unknown) of the file
/// `stamp` for `access`. A protected inode is judged by every path the image
/// gave it as well, so hardlinks and renames do not escape its rules.
pub fn open(
    policy: &FilePolicy,
    index: &FileIndex,
    stamp: &FileStamp,
    path: Option<&ContainerPath>,
    access: Access,
) -> OpenDecision {
    let mut best = OpenDecision {
        verdict: Verdict::Allow,
        matched: path.cloned(),
        rule: None,
    };
    let candidates = index.paths_of(stamp.id).iter().chain(path);
    for candidate in candidates {
        let (verdict, rule) = policy.decide(candidate, access);
        if verdict == Verdict::Deny {
            return OpenDecision {
                verdict,
                matched: Some(candidate.clone()),
                rule: rule.cloned(),
            };
        }
        if best.rule.is_none() {
            best.rule = rule.cloned();
        }
    }
    if path.is_none() && index.paths_of(stamp.id).is_empty() {
        // Nothing to match rules against: the defaults decide.
        let (verdict, _) = policy.decide(&ContainerPath::root(), access);
        best.verdict = verdict;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::FileId;
    use crate::index::{ExecIndex, FileIndex};
    use crate::policy::{ExecPolicy, ExecRule, PathPattern};
    use crate::rootfs::Root;
    use std::os::unix::fs::MetadataExt;

    fn stamp_of(path: &std::path::Path) -> FileStamp {
        let m = std::fs::metadata(path).unwrap();
        FileStamp {
            id: FileId {
                dev: m.dev(),
                ino: m.ino(),
            },
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            mode: m.mode(),
        }
    }

    fn sha(bytes: &[u8]) -> Sha256Digest {
        use sha2::Digest;
        Sha256Digest(sha2::Sha256::digest(bytes).into())
    }

    fn setup() -> (tempfile::TempDir, ExecIndex) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/app"), b"app v1").unwrap();
        std::fs::write(dir.path().join("bin/evil"), b"evil").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let policy = ExecPolicy {
            allow: vec![ExecRule {
                path: PathPattern::parse("/bin/app").unwrap(),
                sha256: None,
            }],
            ..ExecPolicy::default()
        };
        let index = ExecIndex::build(&root, &policy).unwrap();
        (dir, index)
    }

    #[test]
    fn unchanged_allowed_file_is_allowed_without_hashing() {
        let (dir, index) = setup();
        let st = stamp_of(&dir.path().join("bin/app"));
        let d = exec(&index, &st, &mut || panic!("hashed an unchanged file"));
        assert!(matches!(d, ExecDecision::AllowUnchanged { .. }));
    }

    #[test]
    fn copy_of_denied_binary_to_new_path_is_denied() {
        let (dir, index) = setup();
        std::fs::copy(dir.path().join("bin/evil"), dir.path().join("bin/renamed")).unwrap();
        let st = stamp_of(&dir.path().join("bin/renamed"));
        let d = exec(&index, &st, &mut || Ok(sha(b"evil")));
        assert_eq!(d.allows(), Some(false));
    }

    #[test]
    fn copy_of_allowed_binary_runs_as_the_same_program() {
        let (dir, index) = setup();
        std::fs::copy(dir.path().join("bin/app"), dir.path().join("bin/app2")).unwrap();
        let st = stamp_of(&dir.path().join("bin/app2"));
        let d = exec(&index, &st, &mut || Ok(sha(b"app v1")));
        assert!(matches!(d, ExecDecision::AllowSameContent { .. }));
    }

    #[test]
    fn allowed_binary_modified_in_place_is_denied() {
        let (dir, index) = setup();
        std::fs::write(dir.path().join("bin/app"), b"app v2 trojan").unwrap();
        let st = stamp_of(&dir.path().join("bin/app"));
        let d = exec(&index, &st, &mut || Ok(sha(b"app v2 trojan")));
        assert!(matches!(d, ExecDecision::DenyModified { .. }), "{d:?}");
    }

    #[test]
    fn hashing_failure_is_undecidable_not_allowed() {
        let (dir, index) = setup();
        let st = stamp_of(&dir.path().join("bin/evil"));
        let d = exec(&index, &st, &mut || {
            Err(RootError::Deadline {
                what: "evil".into(),
            })
        });
        assert_eq!(d.allows(), None);
    }

    #[test]
    fn hardlink_to_protected_file_is_judged_by_its_image_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("etc/shadow"), b"root:x").unwrap();
        let policy: FilePolicy =
            serde_yaml::from_str("rules:\n  - path: /etc/shadow\n    read: deny\n").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let (index, _plan) = FileIndex::build(&root, &policy).unwrap();
        std::fs::hard_link(dir.path().join("etc/shadow"), dir.path().join("tmp/x")).unwrap();
        let st = stamp_of(&dir.path().join("tmp/x"));
        let via = ContainerPath::new("/tmp/x").unwrap();
        let d = open(&policy, &index, &st, Some(&via), Access::READ);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.matched.unwrap().as_str(), "/etc/shadow");
        let w = open(&policy, &index, &st, Some(&via), Access::WRITE);
        assert_eq!(w.verdict, Verdict::Allow);
    }
}
