//! The registration-time snapshot of a container's root filesystem that
//! decisions are made against: which files (by device and inode) and which
//! contents (by SHA-256) the exec allowlist means, and which inodes the file
//! rules protect.
//!
//! Built once, before the container's first instruction, when the root
//! filesystem is still what the image put there. Anything that differs later
//! (a new inode, a changed `ctime`) is drift and is judged by content.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::OFlag;

use crate::identity::{FileId, FileStamp};
use crate::interp;
use crate::policy::{ContainerPath, ExecPolicy, FilePolicy, PathPattern, Sha256Digest, Verdict};
use crate::rootfs::{self, EntryKind, Root, RootError};

/// Most files one container's index may hold.
pub const MAX_INDEXED_FILES: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Root(#[from] RootError),
    #[error("more than {MAX_INDEXED_FILES} files below {dir}; narrow the rule")]
    TooManyFiles { dir: String },
    #[error("{path} was replaced while the container was being registered")]
    Swapped { path: String },
    #[error("cannot place a fanotify mark on {path}: {source}")]
    Mark {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// Why a file is in the exec allowlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecReason {
    Rule(PathPattern),
    InterpreterOf(ContainerPath),
}

/// One allowed program as the image had it.
#[derive(Clone, Debug)]
pub struct ExecEntry {
    pub path: ContainerPath,
    pub stamp: FileStamp,
    pub sha256: Sha256Digest,
    pub reason: ExecReason,
}

/// What registration found, and what it could not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexNote {
    /// A rule names a path that does not exist in the image.
    Missing(ContainerPath),
    /// A rule pins a hash the image's file does not have.
    HashMismatch {
        path: ContainerPath,
        expected: Sha256Digest,
        found: Sha256Digest,
    },
    /// Not a regular file (directory, device, ...): cannot be executed.
    NotAFile(ContainerPath),
}

/// The exec allowlist resolved against a root filesystem.
#[derive(Debug, Default)]
pub struct ExecIndex {
    by_id: HashMap<FileId, ExecEntry>,
    by_hash: HashMap<Sha256Digest, ContainerPath>,
    pub notes: Vec<IndexNote>,
}

impl ExecIndex {
    pub fn by_id(&self, id: FileId) -> Option<&ExecEntry> {
        self.by_id.get(&id)
    }

    /// The allowed path that has this content, if any.
    pub fn by_hash(&self, digest: &Sha256Digest) -> Option<&ContainerPath> {
        self.by_hash.get(digest)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &ExecEntry> {
        self.by_id.values()
    }

    /// Resolve `policy` against `root`.
    pub fn build(root: &Root, policy: &ExecPolicy) -> Result<Self, IndexError> {
        let mut index = ExecIndex::default();
        for rule in &policy.allow {
            if let Some(pinned) = rule.sha256 {
                index.by_hash.insert(pinned, rule.path.path().clone());
            }
            for path in expand(root, &rule.path, &mut index.notes)? {
                index.add(
                    root,
                    &path,
                    ExecReason::Rule(rule.path.clone()),
                    rule.sha256,
                )?;
            }
        }
        if policy.allow_interpreters {
            index.add_interpreters(root)?;
        }
        Ok(index)
    }

    fn add(
        &mut self,
        root: &Root,
        path: &ContainerPath,
        reason: ExecReason,
        pinned: Option<Sha256Digest>,
    ) -> Result<(), IndexError> {
        let fd = match root.open_in(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if e.is_missing() => {
                self.notes.push(IndexNote::Missing(path.clone()));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let stamp = rootfs::stamp(fd.as_fd())?;
        if !stamp.is_regular() {
            self.notes.push(IndexNote::NotAFile(path.clone()));
            return Ok(());
        }
        if self.by_id.contains_key(&stamp.id) {
            return Ok(());
        }
        if self.by_id.len() >= MAX_INDEXED_FILES {
            return Err(IndexError::TooManyFiles {
                dir: path.to_string(),
            });
        }
        let sha256 = rootfs::hash(fd.as_fd(), stamp.size, None, &|| path.to_string())?;
        if let Some(expected) = pinned.filter(|p| *p != sha256) {
            self.notes.push(IndexNote::HashMismatch {
                path: path.clone(),
                expected,
                found: sha256,
            });
            return Ok(());
        }
        self.by_hash.entry(sha256).or_insert_with(|| path.clone());
        self.by_id.insert(
            stamp.id,
            ExecEntry {
                path: path.clone(),
                stamp,
                sha256,
                reason,
            },
        );
        Ok(())
    }

    /// Add the interpreters of every allowed file, transitively (a script's
    /// interpreter may itself be dynamically linked).
    fn add_interpreters(&mut self, root: &Root) -> Result<(), IndexError> {
        let mut queue: Vec<ContainerPath> = self.by_id.values().map(|e| e.path.clone()).collect();
        let mut seen: HashSet<ContainerPath> = HashSet::new();
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let Ok(fd) = root.open_in(&path, OFlag::O_RDONLY | OFlag::O_NONBLOCK) else {
                continue;
            };
            let head = rootfs::read_head(fd.as_fd(), interp::HEAD_BYTES)?;
            let Some(interp) = interp::interpreter(&head).and_then(|p| ContainerPath::new(p).ok())
            else {
                continue;
            };
            let before = self.by_id.len();
            self.add(root, &interp, ExecReason::InterpreterOf(path.clone()), None)?;
            if self.by_id.len() > before {
                queue.push(interp);
            }
        }
        Ok(())
    }
}

/// The concrete paths a pattern stands for in this root.
fn expand(
    root: &Root,
    pattern: &PathPattern,
    notes: &mut Vec<IndexNote>,
) -> Result<Vec<ContainerPath>, IndexError> {
    match pattern {
        PathPattern::Exact(p) => Ok(vec![p.clone()]),
        PathPattern::Below(dir) => match root.walk(dir, MAX_INDEXED_FILES) {
            Ok(entries) if entries.len() >= MAX_INDEXED_FILES => Err(IndexError::TooManyFiles {
                dir: dir.to_string(),
            }),
            Ok(entries) => Ok(entries
                .into_iter()
                .filter(|e| matches!(e.kind, EntryKind::File | EntryKind::Symlink))
                .map(|e| e.path)
                .collect()),
            Err(e) if e.is_missing() => {
                notes.push(IndexNote::Missing(dir.clone()));
                Ok(Vec::new())
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// Where a file permission mark goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// The file itself (catches every name it has, hardlinks included).
    File { deny_read: bool },
    /// A directory and the opens of its direct children (catches files
    /// created later).
    Dir { deny_read: bool },
}

/// Places inode marks. The real one is a fanotify group; tests record.
pub trait Marker {
    fn mark(
        &self,
        fd: BorrowedFd<'_>,
        path: &ContainerPath,
        kind: MarkKind,
    ) -> Result<(), IndexError>;
}

/// One inode mark to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMark {
    pub path: ContainerPath,
    pub id: FileId,
    pub kind: MarkKind,
}

/// Inodes the file rules protect, with the image paths they had, so a
/// hardlink or a rename elsewhere is still judged by the original path.
#[derive(Debug, Default)]
pub struct FileIndex {
    protected: HashMap<FileId, Vec<ContainerPath>>,
}

impl FileIndex {
    pub fn paths_of(&self, id: FileId) -> &[ContainerPath] {
        self.protected.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.protected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.protected.is_empty()
    }

    /// Index what the deny rules name, and plan the inode marks that watch
    /// them (used when the policy's defaults allow; with a deny default the
    /// whole mount is watched and the plan is not needed). Only `O_PATH`
    /// opens: nothing here can trigger a permission event.
    pub fn build(root: &Root, policy: &FilePolicy) -> Result<(Self, Vec<PlannedMark>), IndexError> {
        let mut index = FileIndex::default();
        let mut plan = Vec::new();
        for rule in policy.denying_rules() {
            let deny_read = rule.read == Some(Verdict::Deny);
            match &rule.path {
                PathPattern::Exact(p) => {
                    if let Some(parent) = parent(p) {
                        index.visit(root, &parent, true, deny_read, &mut plan)?;
                    }
                    index.visit(root, p, false, deny_read, &mut plan)?;
                }
                PathPattern::Below(dir) => {
                    index.visit(root, dir, false, deny_read, &mut plan)?;
                    let entries = match root.walk(dir, MAX_INDEXED_FILES) {
                        Ok(e) => e,
                        Err(e) if e.is_missing() => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if entries.len() >= MAX_INDEXED_FILES {
                        return Err(IndexError::TooManyFiles {
                            dir: dir.to_string(),
                        });
                    }
                    let wanted = entries
                        .iter()
                        .filter(|e| matches!(e.kind, EntryKind::File | EntryKind::Dir));
                    for e in wanted {
                        index.visit(root, &e.path, false, deny_read, &mut plan)?;
                    }
                }
            }
        }
        Ok((index, plan))
    }

    /// `parent_only`: mark the directory for its children's sake without
    /// recording it as protected itself.
    fn visit(
        &mut self,
        root: &Root,
        path: &ContainerPath,
        parent_only: bool,
        deny_read: bool,
        plan: &mut Vec<PlannedMark>,
    ) -> Result<(), IndexError> {
        let probe = match root.open_in(path, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.is_missing() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let stamp = rootfs::stamp(probe.as_fd())?;
        let kind = if stamp.is_dir() {
            MarkKind::Dir { deny_read }
        } else if stamp.is_regular() && !parent_only {
            MarkKind::File { deny_read }
        } else {
            return Ok(());
        };
        if plan.len() >= MAX_INDEXED_FILES {
            return Err(IndexError::TooManyFiles {
                dir: path.to_string(),
            });
        }
        match plan.iter_mut().find(|m| m.id == stamp.id) {
            // Seen as a parent and as a rule target: keep the stricter mark.
            Some(existing) => existing.kind = stricter(existing.kind, kind),
            None => plan.push(PlannedMark {
                path: path.clone(),
                id: stamp.id,
                kind,
            }),
        }
        if !parent_only {
            let paths = self.protected.entry(stamp.id).or_default();
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        Ok(())
    }
}

fn stricter(a: MarkKind, b: MarkKind) -> MarkKind {
    match (a, b) {
        (MarkKind::Dir { deny_read: x }, MarkKind::Dir { deny_read: y }) => {
            MarkKind::Dir { deny_read: x || y }
        }
        (MarkKind::File { deny_read: x }, MarkKind::File { deny_read: y }) => {
            MarkKind::File { deny_read: x || y }
        }
        (other, _) => other,
    }
}

/// Place the planned marks. Opening a file to mark it can itself be a
/// marked access once earlier marks are in place, so the group's decision
/// loop must already be running (it lets the agent's own threads through).
pub fn place_marks(
    root: &Root,
    plan: &[PlannedMark],
    marker: &dyn Marker,
) -> Result<(), IndexError> {
    for m in plan {
        let flags = match m.kind {
            MarkKind::Dir { .. } => OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            MarkKind::File { .. } => OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        };
        let fd = match root.open_in(&m.path, flags) {
            Ok(fd) => fd,
            Err(e) if e.is_missing() => continue,
            Err(e) => return Err(e.into()),
        };
        if rootfs::stamp(fd.as_fd())?.id != m.id {
            // Replaced since it was indexed: someone is racing registration.
            return Err(IndexError::Swapped {
                path: m.path.to_string(),
            });
        }
        marker.mark(fd.as_fd(), &m.path, m.kind)?;
    }
    Ok(())
}

fn parent(p: &ContainerPath) -> Option<ContainerPath> {
    let s = p.as_str();
    let cut = s.rfind('/')?;
    ContainerPath::new(if cut == 0 { "/" } else { &s[..cut] }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ExecRule, FileRule};
    use std::os::unix::fs::symlink;

    fn p(s: &str) -> ContainerPath {
        ContainerPath::new(s).unwrap()
    }

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["bin", "usr/bin", "etc/ssl/private", "lib"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("bin/app"), b"\x7fELF-not-really").unwrap();
        std::fs::write(r.join("bin/other"), b"other program").unwrap();
        std::fs::write(r.join("usr/bin/script"), b"#!/bin/app -x\necho").unwrap();
        symlink("/bin/app", r.join("usr/bin/app-link")).unwrap();
        std::fs::write(r.join("etc/shadow"), b"root:x").unwrap();
        std::fs::write(r.join("etc/ssl/private/key.pem"), b"key").unwrap();
        dir
    }

    fn exec_policy(paths: &[&str]) -> ExecPolicy {
        ExecPolicy {
            allow: paths
                .iter()
                .map(|s| ExecRule {
                    path: PathPattern::parse(s).unwrap(),
                    sha256: None,
                })
                .collect(),
            ..ExecPolicy::default()
        }
    }

    #[test]
    fn symlinked_rule_allows_the_target_and_script_interpreter_is_added() {
        let dir = rootfs();
        let root = Root::open(dir.path()).unwrap();
        let index = ExecIndex::build(&root, &exec_policy(&["/usr/bin/"])).unwrap();
        let paths: HashSet<String> = index.entries().map(|e| e.path.to_string()).collect();
        assert!(paths.contains("/usr/bin/script"));
        // The symlink and the shebang both point at /bin/app: one entry.
        assert_eq!(index.len(), 2);
        let other = std::fs::metadata(dir.path().join("bin/other")).unwrap();
        use std::os::unix::fs::MetadataExt;
        let other_id = FileId {
            dev: other.dev(),
            ino: other.ino(),
        };
        assert!(index.by_id(other_id).is_none());
    }

    #[test]
    fn missing_paths_and_pinned_hash_mismatches_are_noted_not_allowed() {
        let dir = rootfs();
        let root = Root::open(dir.path()).unwrap();
        let mut policy = exec_policy(&["/bin/nope", "/bin/other"]);
        policy.allow[1].sha256 = Some(Sha256Digest([7; 32]));
        let index = ExecIndex::build(&root, &policy).unwrap();
        assert!(index.is_empty());
        assert!(index.notes.contains(&IndexNote::Missing(p("/bin/nope"))));
        assert!(matches!(index.notes[1], IndexNote::HashMismatch { .. }));
        assert!(index.by_hash(&Sha256Digest([7; 32])).is_some());
    }

    struct Recorder(std::cell::RefCell<Vec<(String, MarkKind)>>);

    impl Marker for Recorder {
        fn mark(
            &self,
            _fd: BorrowedFd<'_>,
            path: &ContainerPath,
            kind: MarkKind,
        ) -> Result<(), IndexError> {
            self.0.borrow_mut().push((path.to_string(), kind));
            Ok(())
        }
    }

    #[test]
    fn deny_rules_mark_files_dirs_and_parents() {
        let dir = rootfs();
        let root = Root::open(dir.path()).unwrap();
        let policy = FilePolicy {
            rules: vec![
                FileRule {
                    path: PathPattern::parse("/etc/shadow").unwrap(),
                    read: Some(Verdict::Deny),
                    write: None,
                },
                FileRule {
                    path: PathPattern::parse("/etc/ssl/private/").unwrap(),
                    read: Some(Verdict::Deny),
                    write: Some(Verdict::Deny),
                },
                FileRule {
                    path: PathPattern::parse("/usr/").unwrap(),
                    read: Some(Verdict::Allow),
                    write: None,
                },
            ],
            ..FilePolicy::default()
        };
        let rec = Recorder(Default::default());
        let (index, plan) = FileIndex::build(&root, &policy).unwrap();
        place_marks(&root, &plan, &rec).unwrap();
        let rec = rec.0.into_inner();
        let marked: Vec<&str> = rec.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            marked,
            [
                "/etc",
                "/etc/shadow",
                "/etc/ssl/private",
                "/etc/ssl/private/key.pem"
            ]
        );
        assert_eq!(index.len(), 3, "the parent is marked but not protected");
        assert!(matches!(rec[0].1, MarkKind::Dir { deny_read: true }));
    }
}
