//! Built-in detection: attacks that must never be learned as normal. Pure
//! functions from one event (plus what is known about its process) to
//! findings; exceptions and alerting are the engine's job.

mod catalog;
mod exec;
mod file;
mod names;
mod net;
mod syscall;

pub use catalog::{CATALOG, RuleDef};
pub use names::first_arg as first_arg_index;

use bulwark_core::{Event, EventKind};

use crate::proctable::ProcInfo;

/// One rule matched.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static RuleDef,
    /// The techniques this match shows (a subset of the rule's, or empty
    /// for all of them).
    pub mitre: &'static [&'static str],
    /// What the rule fired on: a path, an address, a program.
    pub object: String,
    pub message: String,
}

impl Finding {
    fn new(rule: &'static RuleDef, object: impl Into<String>, message: String) -> Finding {
        Finding {
            rule,
            mitre: &[],
            object: object.into(),
            message,
        }
    }

    fn with_mitre(mut self, mitre: &'static [&'static str]) -> Finding {
        self.mitre = mitre;
        self
    }
}

/// What detection knows besides the event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    /// The acting process, after the event was applied to the table.
    pub process: Option<&'a ProcInfo>,
    /// Whether the executable of an exec event is part of the container's
    /// image (`None`: unknown).
    pub exe_in_image: Option<bool>,
}

impl Context<'_> {
    /// A label for the acting process in messages.
    fn who(&self, event: &Event) -> String {
        let name = match self.process {
            Some(info) => info.name(),
            None => event
                .process
                .exe
                .clone()
                .unwrap_or_else(|| event.process.comm.clone()),
        };
        format!("{name} (pid {})", event.process.tgid)
    }
}

/// Every finding for `event`.
pub fn detect(event: &Event, ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match &event.kind {
        EventKind::Exec { .. } => exec::detect(event, ctx, &mut out),
        EventKind::Open { .. } => file::detect(event, ctx, &mut out),
        EventKind::Connect { .. } => net::detect(event, ctx, &mut out),
        EventKind::Ptrace { .. } | EventKind::Mount { .. } | EventKind::ModuleLoad { .. } => {
            syscall::detect(event, ctx, &mut out)
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests;
