//! Which kept paths survive in the final, squashed filesystem. Only the
//! paths a visitor chose to keep are stored, so memory grows with what the
//! consumer finds interesting, never with the number of entries walked.
//!
//! Rules (OCI image-spec, "Applying changesets"): an entry replaces what a
//! lower layer had at its path; a non-directory also hides everything below
//! its path; a whiteout `.wh.NAME` hides NAME and below from lower layers; an
//! opaque marker hides everything below its directory from lower layers.
//! Whiteouts never hide entries of their own layer.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::path::EntryPath;

/// A path a visitor kept, with the layer that added it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept<K> {
    /// Index of the layer that added the surviving entry.
    pub layer: usize,
    /// The entry's path.
    pub path: EntryPath,
    /// What the visitor attached to it.
    pub value: K,
}

struct Record<K> {
    layer: usize,
    is_dir: bool,
    value: K,
}

pub(crate) struct Squash<K> {
    kept: BTreeMap<EntryPath, Record<K>>,
}

impl<K> Squash<K> {
    pub(crate) fn new() -> Self {
        Squash {
            kept: BTreeMap::new(),
        }
    }

    /// An entry at `path` in `layer` (directories merge, others replace).
    pub(crate) fn entry(&mut self, layer: usize, path: &EntryPath, is_dir: bool) {
        if self.kept.is_empty() {
            return;
        }
        if is_dir {
            if self.kept.get(path).is_some_and(|r| !r.is_dir) {
                self.kept.remove(path);
            }
        } else {
            self.kept.remove(path);
            self.remove_below(path, layer);
        }
    }

    /// A whiteout in `layer` deleting `path` from lower layers.
    pub(crate) fn whiteout(&mut self, layer: usize, path: &EntryPath) {
        if self.kept.get(path).is_some_and(|r| r.layer < layer) {
            self.kept.remove(path);
        }
        self.remove_below(path, layer);
    }

    /// An opaque marker in `layer` hiding lower-layer content below `dir`.
    pub(crate) fn opaque(&mut self, layer: usize, dir: &EntryPath) {
        self.remove_below(dir, layer);
    }

    pub(crate) fn keep(&mut self, layer: usize, path: EntryPath, is_dir: bool, value: K) {
        self.kept.insert(
            path,
            Record {
                layer,
                is_dir,
                value,
            },
        );
    }

    /// Survivors, in path order.
    pub(crate) fn finish(self) -> Vec<Kept<K>> {
        self.kept
            .into_iter()
            .map(|(path, r)| Kept {
                layer: r.layer,
                path,
                value: r.value,
            })
            .collect()
    }

    /// Removes records strictly below `dir` added by layers before `layer`.
    fn remove_below(&mut self, dir: &EntryPath, layer: usize) {
        if self.kept.is_empty() {
            return;
        }
        let doomed: Vec<EntryPath> = if dir.is_root() {
            self.kept
                .iter()
                .filter(|(p, r)| !p.is_root() && r.layer < layer)
                .map(|(p, _)| p.clone())
                .collect()
        } else {
            let mut low = dir.as_bytes().to_vec();
            low.push(b'/');
            let mut high = dir.as_bytes().to_vec();
            high.push(b'/' + 1);
            self.kept
                .range::<EntryPath, _>((
                    Bound::Included(EntryPath::from_raw(low)),
                    Bound::Excluded(EntryPath::from_raw(high)),
                ))
                .filter(|(_, r)| r.layer < layer)
                .map(|(p, _)| p.clone())
                .collect()
        };
        for p in doomed {
            self.kept.remove(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EntryPath {
        EntryPath::from(s)
    }

    fn survivors(s: Squash<&'static str>) -> Vec<(usize, String, &'static str)> {
        s.finish()
            .into_iter()
            .map(|k| (k.layer, k.path.to_string(), k.value))
            .collect()
    }

    #[test]
    fn whiteout_hides_lower_file_and_subtree_but_not_same_layer() {
        let mut s = Squash::new();
        s.keep(0, p("a/f"), false, "lower");
        s.keep(0, p("b/x/y"), false, "lower-deep");
        s.keep(1, p("c"), false, "same");
        s.whiteout(1, &p("a/f"));
        s.whiteout(1, &p("b"));
        s.whiteout(1, &p("c"));
        assert_eq!(survivors(s), vec![(1, "c".into(), "same")]);
    }

    #[test]
    fn opaque_hides_lower_children_only() {
        let mut s = Squash::new();
        s.keep(0, p("d"), true, "dir");
        s.keep(0, p("d/old"), false, "old");
        s.keep(0, p("d2/keep"), false, "sibling");
        s.keep(1, p("d/new"), false, "new");
        s.opaque(1, &p("d"));
        assert_eq!(
            survivors(s),
            vec![
                (0, "d".into(), "dir"),
                (1, "d/new".into(), "new"),
                (0, "d2/keep".into(), "sibling")
            ]
        );
    }

    #[test]
    fn later_entry_replaces_and_non_directory_hides_subtree() {
        let mut s = Squash::new();
        s.keep(0, p("usr/lib/x"), false, "x");
        s.keep(0, p("etc/f"), false, "f0");
        s.entry(1, &p("usr/lib"), false); // usr/lib became a symlink
        s.entry(1, &p("etc/f"), false);
        s.keep(1, p("etc/f"), false, "f1");
        s.entry(2, &p("etc"), true); // a directory entry merges
        assert_eq!(survivors(s), vec![(1, "etc/f".into(), "f1")]);
    }

    #[test]
    fn whiteout_of_root_level_opaque_clears_everything_lower() {
        let mut s = Squash::new();
        s.keep(0, p("a"), false, "a");
        s.keep(1, p("b"), false, "b");
        s.opaque(1, &p(""));
        assert_eq!(survivors(s), vec![(1, "b".into(), "b")]);
    }
}
