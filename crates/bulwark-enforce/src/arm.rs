//! Arming one container's exec and file enforcement: index its root, create
//! its fanotify group, mark its mounts and protected inodes, start the
//! decision loop. Everything is in place when [`arm`] returns.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use bulwark_core::{ContainerId, WorkloadId};
use nix::sys::fanotify::MaskFlags;
use serde::Serialize;

use crate::denial::{Class, DenialSink};
use crate::fanotify::{EXEC_MASK, FanotifyError, Group};
use crate::guard::{Guard, Rules};
use crate::index::{ExecIndex, FileIndex, IndexError, IndexNote, place_marks};
use crate::mounts::refuses_permission_events;
use crate::policy::EnforcePolicy;
use crate::rootfs::Root;

#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    #[error(transparent)]
    Fanotify(#[from] FanotifyError),
    #[error("indexing the container root: {0}")]
    Index(#[from] IndexError),
    #[error("starting the decision thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// One mount of the container, opened (its root directory) so it can be
/// marked.
#[derive(Debug)]
pub struct MountTarget {
    pub mount_point: String,
    pub fs_type: String,
    pub fd: OwnedFd,
}

/// What to arm.
#[derive(Debug)]
pub struct Target {
    pub container: ContainerId,
    pub workload: WorkloadId,
    /// The container's root as the container will see it.
    pub root: Root,
    pub mounts: Vec<MountTarget>,
    pub pre_pivot_root: Option<String>,
}

/// What arming did, for the hook's answer and the agent's status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ArmReport {
    pub marked_mounts: Vec<String>,
    /// Mounts whose file system refuses permission events (`proc`,
    /// `sysfs`): nothing there can be executed or is a file the policy
    /// names.
    pub skipped_mounts: Vec<String>,
    pub allowed_programs: usize,
    pub protected_inodes: usize,
    pub notes: Vec<String>,
}

/// Arm exec and file enforcement for `target` under `policy`.
///
/// Order matters: everything that opens files in the root (indexing,
/// hashing) happens before the first mark; the decision loop runs before the
/// marks are placed, so the agent's own opens while marking are answered.
/// `group`: a group handed back by the holder after a restart (its mount
/// marks are kept, its inode marks are flushed and placed again); `None`
/// makes a new one.
pub fn arm(
    target: Target,
    policy: &EnforcePolicy,
    sink: Arc<dyn DenialSink>,
    group: Option<Group>,
) -> Result<(Guard, ArmReport), ArmError> {
    let mut report = ArmReport::default();
    let exec = ExecIndex::build(&target.root, &policy.exec)?;
    report.allowed_programs = exec.len();
    report.notes.extend(exec.notes.iter().map(describe));
    let (files, plan) = FileIndex::build(&target.root, &policy.files)?;
    report.protected_inodes = files.len();

    let rules = Rules {
        container: target.container,
        workload: target.workload,
        policy: policy.clone(),
        exec,
        files,
        pre_pivot_root: target.pre_pivot_root,
    };
    let group = match group {
        Some(g) => {
            g.flush_inode_marks().map_err(FanotifyError::Read)?;
            g
        }
        None => Group::new()?,
    };
    let guard = Guard::start(group, rules, sink).map_err(ArmError::Thread)?;
    mark_mounts(guard.group(), policy, &target.mounts, &mut report)?;
    if policy.watches(Class::File) && !policy.files.watches_everything() {
        place_marks(&target.root, &plan, guard.group())?;
    }
    Ok((guard, report))
}

fn mark_mounts(
    group: &Group,
    policy: &EnforcePolicy,
    mounts: &[MountTarget],
    report: &mut ArmReport,
) -> Result<(), ArmError> {
    let mut mask = MaskFlags::empty();
    if policy.exec.enforce && policy.watches(Class::Process) {
        mask |= EXEC_MASK;
    }
    if policy.watches(Class::File) && policy.files.watches_everything() {
        mask |= MaskFlags::FAN_OPEN_PERM;
    }
    if mask.is_empty() {
        return Ok(());
    }
    for m in mounts {
        match group.mark_mount(m.fd.as_fd(), mask, &m.mount_point) {
            Ok(()) => report.marked_mounts.push(m.mount_point.clone()),
            Err(FanotifyError::MarkMount {
                source: nix::Error::EINVAL,
                ..
            }) if refuses_permission_events(&m.fs_type) => {
                report.skipped_mounts.push(m.mount_point.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn describe(note: &IndexNote) -> String {
    match note {
        IndexNote::Missing(p) => format!("{p}: named by the policy, not in the image"),
        IndexNote::NotAFile(p) => format!("{p}: not a regular file, cannot be executed"),
        IndexNote::HashMismatch {
            path,
            expected,
            found,
        } => format!("{path}: image has {found}, policy pins {expected}; not allowed"),
    }
}
