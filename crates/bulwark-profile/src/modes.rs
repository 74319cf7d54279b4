//! Mode changes: manual (promote/demote) and automatic (Discover to Monitor
//! after a quiet window with nothing new learned). Each change is returned
//! as a [`ModeChange`] for the caller to put in the audit log.

use std::time::Duration;

use bulwark_core::{Mode, WorkloadId};
use serde::Serialize;
use time::OffsetDateTime;

use crate::spec::{Class, WorkloadProfile};

/// One class of one workload changed mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModeChange {
    pub workload: WorkloadId,
    pub class: Class,
    pub from: Mode,
    pub to: Mode,
    /// Why: `quiet for 600s`, `new image version web:2`, a person's note.
    pub reason: String,
    /// Profile version after the change.
    pub version: u64,
}

/// The next mode up (Discover -> Monitor -> Protect), if any.
pub fn promoted(mode: Mode) -> Option<Mode> {
    match mode {
        Mode::Discover => Some(Mode::Monitor),
        Mode::Monitor => Some(Mode::Protect),
        Mode::Protect => None,
    }
}

/// The next mode down (Protect -> Monitor -> Discover), if any.
pub fn demoted(mode: Mode) -> Option<Mode> {
    match mode {
        Mode::Protect => Some(Mode::Monitor),
        Mode::Monitor => Some(Mode::Discover),
        Mode::Discover => None,
    }
}

impl WorkloadProfile {
    /// Sets `classes` to `to`; the version goes up once if anything changed.
    pub fn set_mode(&mut self, classes: &[Class], to: Mode, reason: &str) -> Vec<ModeChange> {
        let changed: Vec<(Class, Mode)> = classes
            .iter()
            .map(|c| (*c, self.spec.modes.get(*c)))
            .filter(|(_, from)| *from != to)
            .collect();
        if changed.is_empty() {
            return Vec::new();
        }
        self.metadata.version += 1;
        changed
            .into_iter()
            .map(|(class, from)| {
                self.spec.modes.set(class, to);
                ModeChange {
                    workload: self.workload().clone(),
                    class,
                    from,
                    to,
                    reason: reason.to_owned(),
                    version: self.metadata.version,
                }
            })
            .collect()
    }

    /// Classes in Discover that learned nothing new for `quiet` (counting
    /// from the start of learning for a class that never learned anything).
    pub fn due_for_promotion(&self, now: OffsetDateTime, quiet: Duration) -> Vec<Class> {
        Class::ALL
            .into_iter()
            .filter(|c| self.spec.modes.get(*c) == Mode::Discover)
            .filter(|c| {
                let since = self
                    .spec
                    .learning
                    .last_new
                    .get(c)
                    .map_or(self.spec.learning.started, |t| {
                        t.0.max(self.spec.learning.started)
                    });
                now - since >= quiet
            })
            .collect()
    }
}
