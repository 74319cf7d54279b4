//! What the agent does with each update streamed down, and what it reports
//! back: the newest version that took effect (`applied_update`) and the
//! newest one it refused (`update_failure`, with the reason). Both survive
//! a restart (`DIR/applied-version`, `DIR/update-failure.json`), and the
//! stream resumes after the newer of the two: a refused update is not
//! fetched again (the server shows the failure; a new change is a new
//! update).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bulwark_control::wire::{Update, UpdateFailure};

use super::{LinkError, write_atomic};

/// Why an update did not take effect. Either way nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// Refused for good (invalid, rollback, unsupported): reported to the
    /// server, not tried again.
    Refused(String),
    /// Cannot be applied right now (the agent is stopping): not recorded;
    /// the stream ends and resumes before this update.
    NotNow(String),
}

/// Applies one update on the node. `Ok` means it took effect (or did not
/// concern this node).
pub trait UpdateApplier: Send + Sync {
    fn apply(&self, update: &Update) -> Result<(), ApplyError>;
}

/// Writes each update's document to `DIR/KIND/NAME.yaml` (removes it for a
/// deletion): for documents whose consumer reads them from there.
#[derive(Clone, Debug)]
pub struct FileApplier {
    pub dir: PathBuf,
}

impl UpdateApplier for FileApplier {
    fn apply(&self, update: &Update) -> Result<(), ApplyError> {
        super::apply(&self.dir, update).map_err(|e| ApplyError::Refused(e.to_string()))
    }
}

#[derive(Clone, Debug, Default)]
struct Progress {
    applied: u64,
    failure: Option<UpdateFailure>,
}

/// The node's progress through the update log, persisted under a directory.
#[derive(Debug)]
pub struct UpdateState {
    dir: PathBuf,
    progress: Mutex<Progress>,
}

const APPLIED: &str = "applied-version";
const FAILURE: &str = "update-failure.json";

impl UpdateState {
    /// The state recorded by an earlier run (nothing applied if none).
    pub fn load(dir: &Path) -> UpdateState {
        let failure = std::fs::read(dir.join(FAILURE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        UpdateState {
            dir: dir.to_path_buf(),
            progress: Mutex::new(Progress {
                applied: super::read_applied(dir),
                failure,
            }),
        }
    }

    fn get(&self) -> Progress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The newest version that took effect.
    pub fn applied(&self) -> u64 {
        self.get().applied
    }

    /// The newest refused update, if no later update of the same document
    /// took effect since.
    pub fn failure(&self) -> Option<UpdateFailure> {
        self.get().failure
    }

    /// Where the stream resumes: after everything applied or refused.
    pub fn cursor(&self) -> u64 {
        let p = self.get();
        p.applied.max(p.failure.map_or(0, |f| f.version))
    }

    /// Applies `update` unless it is not newer than the cursor (a replay),
    /// records the result and persists it. A refusal is recorded and
    /// returned as `Ok(Some(..))`; errors are about persisting, or an
    /// applier that cannot apply now (nothing recorded).
    pub fn process(
        &self,
        applier: &dyn UpdateApplier,
        update: &Update,
    ) -> Result<Option<UpdateFailure>, LinkError> {
        if update.version <= self.cursor() {
            tracing::warn!(
                version = update.version,
                cursor = self.cursor(),
                "ignoring an update not newer than one already processed"
            );
            return Ok(None);
        }
        let result = applier.apply(update);
        let mut p = self.get();
        let refused = match result {
            Ok(()) => {
                p.applied = p.applied.max(update.version);
                if p.failure
                    .as_ref()
                    .is_some_and(|f| f.kind == update.kind && f.name == update.name)
                {
                    p.failure = None;
                }
                None
            }
            Err(ApplyError::NotNow(message)) => {
                return Err(LinkError::Http {
                    addr: String::new(),
                    message: format!("update {} not applied now: {message}", update.version),
                });
            }
            Err(ApplyError::Refused(reason)) => {
                let failure = UpdateFailure {
                    version: update.version,
                    kind: update.kind,
                    name: update.name.clone(),
                    reason,
                }
                .bounded();
                p.failure = Some(failure.clone());
                Some(failure)
            }
        };
        self.persist(&p)?;
        if let Ok(mut slot) = self.progress.lock() {
            *slot = p;
        }
        Ok(refused)
    }

    fn persist(&self, p: &Progress) -> Result<(), LinkError> {
        let err = |name: &str| {
            let name = name.to_owned();
            move |source| LinkError::Write { name, source }
        };
        write_atomic(
            &self.dir.join(APPLIED),
            format!("{}\n", p.applied).as_bytes(),
        )
        .map_err(err(APPLIED))?;
        match &p.failure {
            Some(f) => {
                let json = serde_json::to_vec(f).unwrap_or_default();
                write_atomic(&self.dir.join(FAILURE), &json).map_err(err(FAILURE))
            }
            None => match std::fs::remove_file(self.dir.join(FAILURE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(FAILURE)(e)),
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bulwark_control::wire::UpdateKind;

    use super::*;

    struct Refuse(&'static str);

    impl UpdateApplier for Refuse {
        fn apply(&self, u: &Update) -> Result<(), ApplyError> {
            if u.name == "later" {
                Err(ApplyError::NotNow("stopping".into()))
            } else if u.name == self.0 {
                Err(ApplyError::Refused(format!("{} is refused", u.name)))
            } else {
                Ok(())
            }
        }
    }

    fn update(version: u64, name: &str) -> Update {
        Update {
            version,
            kind: UpdateKind::WorkloadProfile,
            name: name.into(),
            document: Some("x".into()),
        }
    }

    #[test]
    fn a_refused_update_is_reported_not_applied_until_its_document_applies_later()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let state = UpdateState::load(dir.path());
        let applier = Refuse("bad");
        state.process(&applier, &update(1, "web"))?;
        let failed = state.process(&applier, &update(2, "bad"))?;
        assert_eq!(failed.map(|f| f.reason), Some("bad is refused".into()));
        assert_eq!(state.applied(), 1, "a failed apply is not applied");
        assert_eq!(state.cursor(), 2);
        state.process(&applier, &update(3, "web"))?;
        assert_eq!(state.failure().map(|f| f.version), Some(2));
        // Persisted across a restart.
        let again = UpdateState::load(dir.path());
        assert_eq!((again.applied(), again.cursor()), (3, 3));
        assert_eq!(again.failure().map(|f| f.name), Some("bad".into()));
        // The same document applied later clears the failure.
        let fixed = Refuse("nothing");
        again.process(&fixed, &update(4, "bad"))?;
        assert_eq!(again.failure(), None);
        assert!(!dir.path().join(FAILURE).exists());
        Ok(())
    }

    #[test]
    fn a_replayed_older_update_is_ignored_not_applied_again() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let state = UpdateState::load(dir.path());
        state.process(&Refuse("-"), &update(5, "web"))?;
        // Would fail if applied: it is not even tried.
        assert_eq!(state.process(&Refuse("web"), &update(4, "web"))?, None);
        assert_eq!(state.process(&Refuse("web"), &update(5, "web"))?, None);
        assert_eq!((state.applied(), state.failure()), (5, None));
        // Not now: nothing recorded, so the stream resumes before it.
        assert!(state.process(&Refuse("-"), &update(6, "later")).is_err());
        assert_eq!((state.cursor(), state.failure()), (5, None));
        Ok(())
    }
}
