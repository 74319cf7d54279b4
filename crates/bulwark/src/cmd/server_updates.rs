//! `bulwark agent --server`: what the agent does with each update the
//! control plane streams down, in order, each checked again here as the
//! server checked it (`bulwark_server::documents::validate`):
//!
//! - `WorkloadProfile` -> the running profile stage, through [`Inbox`] on
//!   the agent's main loop -> `Stage::apply_pushed` (merge rule, audit,
//!   atomic write to `DATA/profiles/`, swap into the engine). The next event
//!   sees the new modes; `enforce serve` reads the same file when it arms a
//!   container, as it does after `bulwark profile promote`.
//! - `EnforcementPolicy` -> `DATA/policies/NAME.yaml` (atomic replace; a
//!   deletion removes it), the first directory `enforce serve` reads.
//! - `ImagePolicy`, `AccessPolicy`, `WorkloadIdentity` ->
//!   `DATA/server-updates/KIND/NAME.yaml` for the operator's consumers
//!   (`bulwark hook --image-policy`, `bulwark proxy`, `identity serve`).
//!
//! A refusal is one line on stderr and is reported to the server with its
//! reason; the profile stage also audits and alerts it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use bulwark_control::wire::{Update, UpdateKind};
use bulwark_nanoseg::{PushOutcome, Stage};
use bulwark_server::uplink::{ApplyError, FileApplier, UpdateApplier};

/// A pushed profile waiting for the main loop, and where its result goes.
struct Request {
    update: Update,
    reply: SyncSender<Result<(), ApplyError>>,
}

/// The applier the link calls (on its own thread).
pub struct Applier {
    profiles: Option<SyncSender<Request>>,
    policies: PathBuf,
    files: FileApplier,
}

/// The main loop's end: pushed profiles to apply between events.
pub struct Inbox {
    rx: Receiver<Request>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

/// An applier for the agent's data directory, and the inbox its profile
/// stage serves (`None` without `--profiles`: profile updates are refused).
pub fn applier(data: &super::DataDir, profiles: bool) -> (Applier, Option<Inbox>) {
    let (tx, inbox) = if profiles {
        let (tx, rx) = sync_channel(1);
        (Some(tx), Some(Inbox { rx }))
    } else {
        (None, None)
    };
    let applier = Applier {
        profiles: tx,
        policies: data.path.join("policies"),
        files: FileApplier {
            dir: data.path.join("server-updates"),
        },
    };
    (applier, inbox)
}

fn refused(update: &Update, reason: String) -> ApplyError {
    eprintln!(
        "bulwark: server update {} ({} {:?}) refused: {reason}",
        update.version,
        update.kind.as_str(),
        update.name.escape_debug().to_string()
    );
    ApplyError::Refused(reason)
}

impl UpdateApplier for Applier {
    fn apply(&self, u: &Update) -> Result<(), ApplyError> {
        if let Some(doc) = &u.document {
            bulwark_server::documents::validate(u.kind, &u.name, doc)
                .map_err(|e| refused(u, e.to_string()))?;
        }
        match u.kind {
            UpdateKind::WorkloadProfile => self.profile(u),
            UpdateKind::EnforcementPolicy => self.policy(u),
            _ => self.files.apply(u),
        }
    }
}

impl Applier {
    fn profile(&self, u: &Update) -> Result<(), ApplyError> {
        let Some(tx) = &self.profiles else {
            return Err(refused(
                u,
                "this agent runs without --profiles: no profile engine to apply it to".into(),
            ));
        };
        if u.document.is_none() {
            return Err(refused(
                u,
                "removing a profile is not pushed to nodes; use `bulwark profile` on the node"
                    .into(),
            ));
        }
        let (reply, result) = sync_channel(1);
        let stopping = || ApplyError::NotNow("the agent is stopping".into());
        tx.send(Request {
            update: u.clone(),
            reply,
        })
        .map_err(|_| stopping())?;
        result.recv().map_err(|_| stopping())?
    }

    fn policy(&self, u: &Update) -> Result<(), ApplyError> {
        bulwark_enforce::store::check_name(&u.name).map_err(|e| refused(u, e.to_string()))?;
        let path = self.policies.join(format!("{}.yaml", u.name));
        let done = match &u.document {
            Some(doc) => bulwark_server::uplink::write_atomic(&path, doc.as_bytes()),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        done.map_err(|e| refused(u, format!("writing {}: {e}", path.display())))?;
        eprintln!(
            "bulwark: server update {}: enforcement policy {} {}",
            u.version,
            u.name,
            if u.document.is_some() {
                "written for `enforce serve`"
            } else {
                "removed"
            }
        );
        Ok(())
    }
}

impl Inbox {
    /// Applies every pushed profile waiting (called between events).
    pub fn serve(&self, stage: &mut Stage) {
        loop {
            let req = match self.rx.try_recv() {
                Ok(req) => req,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            let u = &req.update;
            let doc = u.document.as_deref().unwrap_or("");
            let result = match stage.apply_pushed(u.version, &u.name, doc) {
                Ok(outcome) => {
                    report(u.version, &outcome);
                    Ok(())
                }
                Err(e) => Err(refused(u, bulwark_nanoseg::error_chain(&e))),
            };
            // The link may have given up waiting (stopping): nothing to do.
            let _ = req.reply.send(result);
        }
    }
}

fn report(update: u64, outcome: &PushOutcome) {
    match outcome {
        PushOutcome::Applied {
            workload,
            version,
            modes_changed,
            rules_added,
        } => eprintln!(
            "bulwark: server update {update}: profile {workload} applied (version {version}, {modes_changed} mode changes, {rules_added} rules added)"
        ),
        PushOutcome::Unchanged { workload, version } => eprintln!(
            "bulwark: server update {update}: profile {workload} already in effect (version {version})"
        ),
        PushOutcome::NotHere { workload } => eprintln!(
            "bulwark: server update {update}: no profile of {workload} on this node; nothing to apply"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {name: web}\nspec:\n  workload: image:registry.test/web\n  mode: protect\n";

    fn update(kind: UpdateKind, name: &str, document: Option<&str>) -> Update {
        Update {
            version: 1,
            kind,
            name: name.into(),
            document: document.map(str::to_owned),
        }
    }

    fn data() -> anyhow::Result<(tempfile::TempDir, super::super::DataDir)> {
        let dir = tempfile::tempdir()?;
        let data = super::super::DataDir {
            path: dir.path().join("data"),
        };
        Ok((dir, data))
    }

    fn profile_doc() -> anyhow::Result<String> {
        let id = bulwark_core::WorkloadId::new("web")?;
        let p = bulwark_profile::WorkloadProfile::new(id, time::OffsetDateTime::UNIX_EPOCH);
        Ok(bulwark_profile::to_yaml(&p)?)
    }

    fn refusal(r: Result<(), ApplyError>) -> String {
        match r {
            Err(ApplyError::Refused(reason)) => reason,
            other => format!("not refused: {other:?}"),
        }
    }

    #[test]
    fn an_enforcement_policy_is_written_where_enforce_serve_reads_and_removed_by_a_deletion()
    -> anyhow::Result<()> {
        let (_dir, data) = data()?;
        let (applier, _) = applier(&data, false);
        let file = data.path.join("policies").join("web.yaml");
        applier
            .apply(&update(UpdateKind::EnforcementPolicy, "web", Some(POLICY)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(std::fs::read_to_string(&file)?, POLICY);
        applier
            .apply(&update(UpdateKind::EnforcementPolicy, "web", None))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert!(!file.exists());
        Ok(())
    }

    #[test]
    fn policy_names_with_path_traversal_write_nothing() -> anyhow::Result<()> {
        let (dir, data) = data()?;
        let (applier, _) = applier(&data, false);
        for name in ["../escaped", "..", ".hidden", "a/b"] {
            let doc = POLICY.replace("name: web", &format!("name: {name:?}"));
            let reason =
                refusal(applier.apply(&update(UpdateKind::EnforcementPolicy, name, Some(&doc))));
            assert!(!reason.starts_with("not refused"), "{name}: {reason}");
            let deletion = applier.apply(&update(UpdateKind::EnforcementPolicy, name, None));
            assert!(matches!(deletion, Err(ApplyError::Refused(_))), "{name}");
        }
        assert!(!dir.path().join("escaped.yaml").exists());
        assert!(!data.path.join("escaped.yaml").exists());
        Ok(())
    }

    #[test]
    fn oversized_and_mismatched_documents_are_refused_before_anything_is_written()
    -> anyhow::Result<()> {
        let (_dir, data) = data()?;
        let (applier, _) = applier(&data, false);
        let huge = format!("{POLICY}# {}\n", "x".repeat(2 << 20));
        let reason =
            refusal(applier.apply(&update(UpdateKind::EnforcementPolicy, "web", Some(&huge))));
        assert!(reason.contains("limit"), "{reason}");
        let reason = refusal(applier.apply(&update(
            UpdateKind::EnforcementPolicy,
            "other",
            Some(POLICY),
        )));
        assert!(reason.contains("metadata.name"), "{reason}");
        assert!(!data.path.join("policies").exists());
        Ok(())
    }

    #[test]
    fn profiles_are_refused_without_a_profile_engine_and_deletions_always() -> anyhow::Result<()> {
        let (_dir, data) = data()?;
        let (without, inbox) = applier(&data, false);
        assert!(inbox.is_none());
        let doc = &profile_doc()?;
        let reason = refusal(without.apply(&update(UpdateKind::WorkloadProfile, "web", Some(doc))));
        assert!(reason.contains("without --profiles"), "{reason}");
        let (with, _inbox) = applier(&data, true);
        let reason = refusal(with.apply(&update(UpdateKind::WorkloadProfile, "web", None)));
        assert!(reason.contains("not pushed to nodes"), "{reason}");
        Ok(())
    }

    #[test]
    fn a_stopped_profile_stage_is_not_now_not_a_refusal() -> anyhow::Result<()> {
        let (_dir, data) = data()?;
        let (applier, inbox) = applier(&data, true);
        drop(inbox);
        let doc = &profile_doc()?;
        let r = applier.apply(&update(UpdateKind::WorkloadProfile, "web", Some(doc)));
        assert!(matches!(r, Err(ApplyError::NotNow(_))), "{r:?}");
        Ok(())
    }
}
