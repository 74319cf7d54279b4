//! Profile changes as audit records.

use bulwark_audit::{Entry, Outcome};
use bulwark_core::WorkloadId;
use bulwark_profile::Change;
use serde_json::json;

/// The workload a change is about and its audit entry.
pub fn entry_for(change: &Change, actor: &str) -> (WorkloadId, Entry) {
    match change {
        Change::Mode(m) => (
            m.workload.clone(),
            Entry::new(actor, "profile.mode")
                .target(m.workload.as_str())
                .outcome(Outcome::Success)
                .detail(json!({
                    "class": m.class, "from": m.from, "to": m.to,
                    "reason": m.reason, "version": m.version,
                })),
        ),
        Change::NewImage {
            workload,
            version,
            previous,
        } => (
            workload.clone(),
            Entry::new(actor, "profile.new_image")
                .target(workload.as_str())
                .detail(json!({ "image": version, "previous": previous })),
        ),
        Change::Aged {
            workload,
            rules,
            version,
        } => {
            let aged: Vec<_> = rules
                .iter()
                .map(|(line, last)| {
                    json!({
                        "class": line.class, "rule": line.rule, "detail": line.detail,
                        "lastSeen": last.format(&time::format_description::well_known::Rfc3339).ok(),
                    })
                })
                .collect();
            (
                workload.clone(),
                Entry::new(actor, "profile.aged")
                    .target(workload.as_str())
                    .detail(json!({ "rules": aged, "version": version })),
            )
        }
    }
}
