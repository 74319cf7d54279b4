//! Profile upkeep: merging another profile in (import, other environments,
//! other nodes) and aging out rules unused for too long.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::diff::DiffLine;
use crate::keys::{RuleKey, rules};
use crate::learn::Limits;
use crate::pattern::ArgPattern;
use crate::spec::{CapabilityRule, EgressRule, HasSeen, ListenRule, Seen, WorkloadProfile};

/// What a merge changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub added: usize,
    pub widened: usize,
}

/// Folds `other`'s rules, images and exceptions into `into`. Modes stay
/// `into`'s. Rules present in both keep one entry with both histories.
pub fn merge(into: &mut WorkloadProfile, other: &WorkloadProfile, limits: &Limits) -> MergeReport {
    let mut report = MergeReport::default();
    let s = &mut into.spec;
    let o = &other.spec;
    for r in &o.processes {
        match s
            .processes
            .iter_mut()
            .find(|x| x.exe == r.exe && x.path == r.path && x.parent == r.parent)
        {
            Some(x) => {
                x.seen.merge(&r.seen);
                if widen_args(&mut x.args, &r.args, limits.max_arg_patterns) {
                    report.widened += 1;
                }
            }
            None => {
                s.processes.push(r.clone());
                report.added += 1;
            }
        }
    }
    for r in &o.files {
        match s.files.iter_mut().find(|x| x.path == r.path) {
            Some(x) => {
                if !x.access.covers(r.access) {
                    x.access = x.access.union(r.access);
                    report.widened += 1;
                }
                x.seen.merge(&r.seen);
            }
            None => {
                s.files.push(r.clone());
                report.added += 1;
            }
        }
    }
    let same_peer = |a: &EgressRule, b: &EgressRule| {
        a.peer == b.peer && a.port == b.port && a.protocol == b.protocol
    };
    merge_simple(
        &mut s.network.egress,
        &o.network.egress,
        same_peer,
        &mut report,
    );
    let same_port = |a: &ListenRule, b: &ListenRule| a.port == b.port && a.protocol == b.protocol;
    merge_simple(
        &mut s.network.listen,
        &o.network.listen,
        same_port,
        &mut report,
    );
    let same_cap = |a: &CapabilityRule, b: &CapabilityRule| a.name == b.name;
    merge_simple(&mut s.capabilities, &o.capabilities, same_cap, &mut report);
    for img in &o.images {
        match s.images.iter_mut().find(|i| i.version == img.version) {
            Some(i) => {
                i.first_seen = i.first_seen.min(img.first_seen);
                i.last_seen = i.last_seen.max(img.last_seen);
            }
            None => s.images.push(img.clone()),
        }
    }
    for e in &o.exceptions {
        if !s.exceptions.contains(e) {
            s.exceptions.push(e.clone());
        }
    }
    s.learning.started = s.learning.started.min(o.learning.started);
    for (class, at) in &o.learning.last_new {
        let slot = s.learning.last_new.entry(*class).or_insert(*at);
        *slot = (*slot).max(*at);
    }
    report
}

fn merge_simple<T: Clone + HasSeen>(
    into: &mut Vec<T>,
    other: &[T],
    same: impl Fn(&T, &T) -> bool,
    report: &mut MergeReport,
) {
    for r in other {
        match into.iter_mut().find(|x| same(x, r)) {
            Some(x) => x.seen_mut().merge(r.seen()),
            None => {
                into.push(r.clone());
                report.added += 1;
            }
        }
    }
}

/// Adds `theirs` patterns to `ours`; returns whether `ours` allows more now.
fn widen_args(ours: &mut Vec<ArgPattern>, theirs: &[ArgPattern], max: usize) -> bool {
    let before = ours.clone();
    if ours.is_empty() || theirs.is_empty() {
        // An empty list allows any arguments.
        ours.clear();
    } else {
        for p in theirs {
            if !ours.contains(p) {
                ours.push(p.clone());
            }
        }
        if ours.len() > max {
            *ours = vec![ArgPattern::any()];
        }
    }
    *ours != before
}

/// Removes every rule last used before `cutoff`; returns what was removed.
pub fn age(
    profile: &mut WorkloadProfile,
    cutoff: OffsetDateTime,
) -> Vec<(DiffLine, OffsetDateTime)> {
    let stale: BTreeMap<RuleKey, (DiffLine, OffsetDateTime)> = rules(profile)
        .into_iter()
        .filter(|v| v.seen.last < cutoff)
        .map(|v| {
            let line = DiffLine {
                class: v.key.class(),
                rule: v.key.to_string(),
                detail: v.detail.clone(),
            };
            (v.key, (line, v.seen.last))
        })
        .collect();
    if stale.is_empty() {
        return Vec::new();
    }
    let s = &mut profile.spec;
    let fresh = |seen: &Seen| seen.last >= cutoff;
    s.processes.retain(|r| fresh(&r.seen));
    s.files.retain(|r| fresh(&r.seen));
    s.network.egress.retain(|r| fresh(&r.seen));
    s.network.listen.retain(|r| fresh(&r.seen));
    s.capabilities.retain(|r| fresh(&r.seen));
    stale.into_values().collect()
}
