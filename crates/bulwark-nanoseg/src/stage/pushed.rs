//! Profiles pushed by the control plane, applied to the running engine and
//! the store in one step: validated first, every change audited, then
//! written and swapped in; a refusal changes nothing and is audited and
//! alerted. The rule of who wins is `bulwark_profile::apply_pushed`'s.

use bulwark_audit::{Entry, Outcome};
use bulwark_core::WorkloadId;
use bulwark_profile::{Change, WorkloadProfile};
use serde_json::json;

use super::{Stage, health_alert};
use crate::audit::entry_for;
use crate::error::PushFailure;

/// Actor of server-made changes in the audit log.
const ACTOR: &str = "server";

/// Largest pushed profile accepted (the server's own limit for a document).
pub const MAX_PUSHED_BYTES: usize = 1 << 20;

/// What became of a pushed profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Applied: the engine uses the profile from the next event on.
    Applied {
        workload: WorkloadId,
        version: u64,
        modes_changed: usize,
        rules_added: usize,
    },
    /// Already in effect (only the recorded server version moved).
    Unchanged { workload: WorkloadId, version: u64 },
    /// This node has no profile of that workload (it never ran it):
    /// nothing stored, nothing to apply.
    NotHere { workload: WorkloadId },
}

impl Stage {
    /// Applies the `WorkloadProfile` document `text` that update `update`
    /// of the control plane names `name`. On error nothing changed, and
    /// the refusal was audited and alerted.
    pub fn apply_pushed(
        &mut self,
        update: u64,
        name: &str,
        text: &str,
    ) -> Result<PushOutcome, PushFailure> {
        let result = self.try_apply_pushed(update, name, text);
        if let Err(e) = &result {
            self.push_refused(update, name, e);
        }
        result
    }

    fn try_apply_pushed(
        &mut self,
        update: u64,
        name: &str,
        text: &str,
    ) -> Result<PushOutcome, PushFailure> {
        let pushed = parse_one(name, text)?;
        let id = pushed.workload().clone();
        // Edits on disk first (a `bulwark profile` change wins over memory),
        // and this stage's own unsaved learning written out.
        self.sync()?;
        let _lock = self.store.lock()?;
        let on_disk = self.store.stamp(&id)?;
        if on_disk.is_some() && on_disk != self.stamps.get(&id).copied() {
            self.reload(&id)?;
        }
        let Some(local) = self.engine.profile(&id) else {
            return Ok(PushOutcome::NotHere { workload: id });
        };
        let reason = format!("server update {update}");
        let out =
            bulwark_profile::apply_pushed(local, &pushed, &self.config.engine.limits, &reason)
                .map_err(|source| PushFailure::Refused {
                    name: name.to_owned(),
                    source,
                })?;
        let mut entries = vec![
            Entry::new(ACTOR, "profile.server-update")
                .target(id.as_str())
                .outcome(Outcome::Success)
                .detail(json!({
                    "update": update,
                    "document_version": pushed.metadata.version,
                    "version": out.profile.metadata.version,
                    "rules_added": out.merged.added,
                    "rules_widened": out.merged.widened,
                    "modes_changed": out.modes.len(),
                })),
        ];
        entries.extend(
            out.modes
                .iter()
                .map(|m| entry_for(&Change::Mode(m.clone()), ACTOR).1),
        );
        self.audit
            .append_all(&entries)
            .map_err(|source| PushFailure::Audit {
                name: name.to_owned(),
                source,
            })?;
        let stamp = self.store.write(&out.profile)?;
        let version = out.profile.metadata.version;
        let outcome = if out.changed() {
            PushOutcome::Applied {
                workload: id.clone(),
                version,
                modes_changed: out.modes.len(),
                rules_added: out.merged.added,
            }
        } else {
            PushOutcome::Unchanged {
                workload: id.clone(),
                version,
            }
        };
        self.engine.load(out.profile);
        self.stamps.insert(id.clone(), stamp);
        self.dirty.remove(&id);
        self.stats.reloads += 1;
        Ok(outcome)
    }

    /// A refusal: one audit record and one alert (best effort: the caller
    /// reports the error itself too).
    fn push_refused(&mut self, update: u64, name: &str, error: &PushFailure) {
        let message = format!("server update {update} not applied: {}", chain(error));
        let entry = Entry::new(ACTOR, "profile.server-update")
            .target(name)
            .outcome(Outcome::Failure)
            .detail(json!({ "update": update, "error": chain(error) }));
        if let Err(e) = self.audit.append(&entry) {
            tracing::error!(error = %e, "recording a refused server update");
        }
        let workload = WorkloadId::new(name.to_owned()).ok();
        let alert = health_alert(
            format!("server-update-refused:{}", name.escape_debug()),
            workload.as_ref(),
            bulwark_core::Severity::High,
            "server update refused",
            message,
            self.clock.now(),
        );
        self.send_alert(alert);
    }
}

/// An error and its sources on one line (`a: b: c`).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// Exactly one profile document, of the workload the update names.
fn parse_one(name: &str, text: &str) -> Result<WorkloadProfile, PushFailure> {
    let limit = MAX_PUSHED_BYTES;
    if text.len() > limit {
        return Err(PushFailure::TooLarge {
            name: name.to_owned(),
            len: text.len(),
            limit,
        });
    }
    let source = format!("server update for {}", name.escape_debug());
    let docs = bulwark_profile::parse(text, &source).map_err(|source| PushFailure::Document {
        name: name.to_owned(),
        source,
    })?;
    let invalid = |problem: String| PushFailure::Invalid {
        name: name.to_owned(),
        problem,
    };
    let mut docs = docs.into_iter();
    let (Some(profile), None) = (docs.next(), docs.next()) else {
        return Err(invalid("expected exactly one profile document".into()));
    };
    if profile.workload().as_str() != name {
        return Err(invalid(format!(
            "the document is the profile of {}, not of the workload the update names",
            profile.workload()
        )));
    }
    Ok(profile)
}
