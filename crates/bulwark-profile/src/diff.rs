//! Reviewable differences: between two profiles (an edit, an import, two
//! environments), or between two image versions inside one profile.

use std::collections::BTreeMap;

use bulwark_core::Mode;
use serde::Serialize;

use crate::keys::{RuleKey, RuleView, rules};
use crate::spec::{Class, WorkloadProfile};

/// One rule in a diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub class: Class,
    pub rule: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl DiffLine {
    fn of(view: &RuleView<'_>) -> DiffLine {
        DiffLine {
            class: view.key.class(),
            rule: view.key.to_string(),
            detail: view.detail.clone(),
        }
    }
}

/// A mode that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModeDiff {
    pub class: Class,
    pub from: Mode,
    pub to: Mode,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileDiff {
    pub added: Vec<DiffLine>,
    pub removed: Vec<DiffLine>,
    /// Same rule, other arguments or access.
    pub changed: Vec<DiffLine>,
    pub modes: Vec<ModeDiff>,
}

impl ProfileDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.modes.is_empty()
    }

    /// `+`/`-`/`~` lines, one per rule, for a terminal or a review.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for m in &self.modes {
            out.push_str(&format!("~ mode {}: {} -> {}\n", m.class, m.from, m.to));
        }
        for (sign, lines) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            for l in lines {
                out.push_str(&format!("{sign} {}", l.rule));
                if !l.detail.is_empty() {
                    out.push_str(&format!(" {}", l.detail));
                }
                out.push('\n');
            }
        }
        out
    }
}

fn by_key(profile: &WorkloadProfile) -> BTreeMap<RuleKey, RuleView<'_>> {
    rules(profile)
        .into_iter()
        .map(|v| (v.key.clone(), v))
        .collect()
}

/// What `new` allows that `old` does not, and the reverse.
pub fn diff(old: &WorkloadProfile, new: &WorkloadProfile) -> ProfileDiff {
    let (a, b) = (by_key(old), by_key(new));
    let mut out = ProfileDiff::default();
    for (key, view) in &b {
        match a.get(key) {
            None => out.added.push(DiffLine::of(view)),
            Some(before) if before.detail != view.detail => out.changed.push(DiffLine {
                detail: format!("{} -> {}", before.detail, view.detail),
                ..DiffLine::of(view)
            }),
            Some(_) => {}
        }
    }
    out.removed = a
        .iter()
        .filter(|(k, _)| !b.contains_key(*k))
        .map(|(_, v)| DiffLine::of(v))
        .collect();
    for class in Class::ALL {
        let (from, to) = (old.spec.modes.get(class), new.spec.modes.get(class));
        if from != to {
            out.modes.push(ModeDiff { class, from, to });
        }
    }
    out
}

/// Rules image version `to` used that `from` never did (added), and rules
/// `from` used that `to` has not (yet) used (removed).
pub fn version_diff(profile: &WorkloadProfile, from: &str, to: &str) -> ProfileDiff {
    let mut out = ProfileDiff::default();
    for view in rules(profile) {
        let (in_from, in_to) = (
            view.seen.images.contains(from),
            view.seen.images.contains(to),
        );
        match (in_from, in_to) {
            (false, true) => out.added.push(DiffLine::of(&view)),
            (true, false) => out.removed.push(DiffLine::of(&view)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::PathPattern;
    use crate::spec::{Access, FileRule, Seen};
    use bulwark_core::WorkloadId;
    use time::OffsetDateTime;

    fn file(path: &str, access: &str) -> FileRule {
        FileRule {
            path: PathPattern::new(path).unwrap_or_else(|e| panic!("{e}")),
            access: access.parse::<Access>().unwrap_or_else(|e| panic!("{e}")),
            seen: Seen::new(OffsetDateTime::UNIX_EPOCH, None, "test"),
        }
    }

    #[test]
    fn diff_lists_added_removed_widened_rules_and_modes() {
        let id = WorkloadId::new("image:web").unwrap_or_else(|e| panic!("{e}"));
        let mut old = WorkloadProfile::new(id, OffsetDateTime::UNIX_EPOCH);
        old.spec.files = vec![file("/etc/app.conf", "r"), file("/var/log/", "w")];
        let mut new = old.clone();
        new.spec.files = vec![file("/etc/app.conf", "rw"), file("/data/", "rw")];
        new.spec.modes.set(Class::File, Mode::Monitor);
        let d = diff(&old, &new);
        assert_eq!(
            d.render(),
            "~ mode file: discover -> monitor\n+ file /data/ rw\n- file /var/log/ w\n~ file /etc/app.conf r -> rw\n"
        );
        assert!(diff(&new, &new).is_empty());
    }
}
