//! Symbolic links of the image as its layers are applied, and path
//! resolution through them, confined to the image root.
//!
//! Two questions need them:
//!
//! - **Where does an entry land?** Runtimes unpack each layer into its own
//!   directory (containerd's overlayfs snapshotter, Docker's overlay2,
//!   containers/storage) inside a chroot or with `RootPath`, then stack the
//!   directories with overlayfs. So an entry written through a symlink of
//!   *its own layer* (`evil -> /etc`, then `evil/passwd`) lands where the link
//!   points, re-rooted at the image root; an entry below a symlink of a
//!   *lower* layer creates a real directory in its own layer that hides the
//!   link (overlayfs stops merging at a non-directory), so it lands at its
//!   literal path and the lower link is gone. [`Symlinks::place`] does both.
//! - **What does a path name in the final filesystem?** A process in the
//!   container (dpkg reading `/var/lib/dpkg/status`) follows every link, as
//!   the kernel does: [`Symlinks::resolve`].
//!
//! In both, absolute targets restart at the image root, `..` stops at the
//! root, and more than [`MAX_FOLLOWS`] links in one resolution is a loop.
//!
//! Only links are stored (every link: when it is created nobody knows yet
//! whether it names a directory), never the files or directories of the
//! image, so memory grows with the number of links, bounded by
//! [`Limits::max_symlinks`](crate::Limits::max_symlinks).

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::path::EntryPath;

/// Links followed in one resolution before it is called a loop (Linux's
/// `MAXSYMLINKS`, which `open` in a chroot-based unpacker also meets).
pub const MAX_FOLLOWS: u32 = 40;

/// A resolution followed more than [`MAX_FOLLOWS`] links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyLinks;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    layer: usize,
    target: Box<[u8]>,
}

/// The resolved parent of the last entry placed, valid while no link
/// changes: tar entries come grouped by directory.
#[derive(Debug, Default)]
struct ParentCache {
    layer: usize,
    generation: u64,
    literal: Vec<u8>,
    resolved: EntryPath,
}

/// The symbolic links present in the image so far (after a walk: in the
/// squashed filesystem), by the path they sit at.
#[derive(Debug, Default)]
pub struct Symlinks {
    links: BTreeMap<EntryPath, Link>,
    generation: u64,
    cache: Option<ParentCache>,
}

impl Symlinks {
    /// Number of links.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The target of the link at `path`, as written, if `path` is one.
    pub fn target(&self, path: &EntryPath) -> Option<&[u8]> {
        self.links.get(path).map(|l| &*l.target)
    }

    /// Links directly inside `dir`.
    pub fn links_in<'a>(&'a self, dir: &'a EntryPath) -> impl Iterator<Item = &'a EntryPath> {
        self.below(dir).filter(move |p| p.parent() == *dir)
    }

    /// What `path` names in the filesystem these links belong to, following
    /// every link on the way including the last component, as a process in
    /// the container would. The result is the path of a non-link (or of
    /// nothing); `None` for a loop.
    pub fn resolve(&self, path: &EntryPath) -> Option<EntryPath> {
        self.walk(path.as_bytes(), &mut |_, _| true).ok()
    }

    /// Where an entry named `literal` in layer `layer` lands: its parent
    /// resolved through the links of the same layer. Links of lower layers on
    /// the way become directories (they are removed). The last component is
    /// never followed (the entry replaces whatever is there).
    pub(crate) fn place(
        &mut self,
        layer: usize,
        literal: &EntryPath,
    ) -> Result<EntryPath, TooManyLinks> {
        if self.links.is_empty() {
            return Ok(literal.clone());
        }
        let parent_len = literal.as_bytes().len() - literal.file_name().len();
        let parent = &literal.as_bytes()[..parent_len.saturating_sub(1)];
        if let Some(hit) = self.cached_parent(layer, parent) {
            return Ok(hit.join_component(literal.file_name()));
        }
        let mut lower = Vec::new();
        let resolved = self.walk(parent, &mut |path, link| {
            if link.layer == layer {
                return true;
            }
            lower.push(path.clone());
            false
        })?;
        for path in lower {
            self.links.remove(&path);
            self.generation += 1;
        }
        self.cache = Some(ParentCache {
            layer,
            generation: self.generation,
            literal: parent.to_vec(),
            resolved: resolved.clone(),
        });
        Ok(resolved.join_component(literal.file_name()))
    }

    /// Where a hard link's target named `literal` in layer `layer` is: like
    /// [`Symlinks::place`], without changing anything.
    pub(crate) fn locate(
        &self,
        layer: usize,
        literal: &EntryPath,
    ) -> Result<EntryPath, TooManyLinks> {
        let parent = literal.parent();
        let resolved = self.walk(parent.as_bytes(), &mut |_, link| link.layer == layer)?;
        Ok(resolved.join_component(literal.file_name()))
    }

    /// A link at `path` (already placed) in `layer`; it replaces whatever
    /// was at and below `path`.
    pub(crate) fn link(&mut self, layer: usize, path: &EntryPath, target: &[u8]) {
        self.remove_below(path, usize::MAX);
        self.links.insert(
            path.clone(),
            Link {
                layer,
                target: target.into(),
            },
        );
        self.generation += 1;
    }

    /// A directory at `path`: it replaces a link there, merges with a
    /// directory.
    pub(crate) fn directory(&mut self, path: &EntryPath) {
        if self.links.remove(path).is_some() {
            self.generation += 1;
        }
    }

    /// A file or other non-directory at `path`: it replaces a link there and
    /// everything below.
    pub(crate) fn non_directory(&mut self, path: &EntryPath) {
        if self.links.remove(path).is_some() {
            self.generation += 1;
        }
        self.remove_below(path, usize::MAX);
    }

    /// A whiteout in `layer` deleting `path` and below from lower layers.
    pub(crate) fn whiteout(&mut self, layer: usize, path: &EntryPath) {
        if self.links.get(path).is_some_and(|l| l.layer < layer) {
            self.links.remove(path);
            self.generation += 1;
        }
        self.remove_below(path, layer);
    }

    /// An opaque marker in `layer` hiding lower-layer content below `dir`.
    pub(crate) fn opaque(&mut self, layer: usize, dir: &EntryPath) {
        self.remove_below(dir, layer);
    }

    fn cached_parent(&self, layer: usize, parent: &[u8]) -> Option<&EntryPath> {
        self.cache
            .as_ref()
            .filter(|c| c.layer == layer && c.generation == self.generation && c.literal == parent)
            .map(|c| &c.resolved)
    }

    /// Links strictly below `dir`, in path order.
    fn below<'a>(&'a self, dir: &EntryPath) -> impl Iterator<Item = &'a EntryPath> {
        let (low, high) = if dir.is_root() {
            (Bound::Unbounded, Bound::Unbounded)
        } else {
            let mut low = dir.as_bytes().to_vec();
            low.push(b'/');
            let mut high = dir.as_bytes().to_vec();
            high.push(b'/' + 1);
            (
                Bound::Excluded(EntryPath::from_raw(low)),
                Bound::Excluded(EntryPath::from_raw(high)),
            )
        };
        self.links.range((low, high)).map(|(p, _)| p)
    }

    /// Removes links strictly below `dir` added by layers before `layer`.
    fn remove_below(&mut self, dir: &EntryPath, layer: usize) {
        let doomed: Vec<EntryPath> = self
            .below(dir)
            .filter(|p| self.links.get(*p).is_some_and(|l| l.layer < layer))
            .cloned()
            .collect();
        if doomed.is_empty() {
            return;
        }
        for p in doomed {
            self.links.remove(&p);
        }
        self.generation += 1;
    }

    /// Resolves `path` component by component from the root. At each link,
    /// `follow(path, link)` decides: follow it (absolute targets restart at
    /// the root, relative ones at the link's directory) or treat it as a
    /// plain directory. `..` goes to the parent of the directory reached so
    /// far, never above the root.
    fn walk(
        &self,
        path: &[u8],
        follow: &mut dyn FnMut(&EntryPath, &Link) -> bool,
    ) -> Result<EntryPath, TooManyLinks> {
        let mut pending: Vec<Vec<u8>> = Vec::new();
        push_components(&mut pending, path);
        let mut current = EntryPath::default();
        let mut follows = 0;
        while let Some(name) = pending.pop() {
            if name == b".." {
                current = current.parent();
                continue;
            }
            let next = current.join_component(&name);
            match self.links.get(&next) {
                Some(link) if follow(&next, link) => {
                    follows += 1;
                    if follows > MAX_FOLLOWS {
                        return Err(TooManyLinks);
                    }
                    if link.target.first() == Some(&b'/') {
                        current = EntryPath::default();
                    }
                    push_components(&mut pending, &link.target);
                }
                _ => current = next,
            }
        }
        Ok(current)
    }
}

/// Pushes the meaningful components of `path` so that popping yields them in
/// order (`.` and empty components dropped).
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    pending.extend(
        path.split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .rev()
            .map(<[u8]>::to_vec),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EntryPath {
        EntryPath::from(s)
    }

    fn with(links: &[(usize, &str, &str)]) -> Symlinks {
        let mut s = Symlinks::default();
        for (layer, path, target) in links {
            s.link(*layer, &p(path), target.as_bytes());
        }
        s
    }

    fn resolve(s: &Symlinks, path: &str) -> Option<String> {
        s.resolve(&p(path)).map(|r| r.to_string())
    }

    #[test]
    fn absolute_targets_restart_at_the_image_root() {
        let s = with(&[(0, "evil", "/etc")]);
        assert_eq!(resolve(&s, "evil/passwd").as_deref(), Some("etc/passwd"));
    }

    #[test]
    fn dotdot_in_targets_is_clamped_at_the_root() {
        let s = with(&[
            (0, "a/b/up", "../../../../../../tmp"),
            (0, "abs", "/../../etc"),
        ]);
        assert_eq!(resolve(&s, "a/b/up/x").as_deref(), Some("tmp/x"));
        assert_eq!(resolve(&s, "abs/shadow").as_deref(), Some("etc/shadow"));
    }

    #[test]
    fn relative_targets_start_at_the_links_directory() {
        let s = with(&[(0, "var/lib/rpm", "../../usr/lib/sysimage/rpm")]);
        assert_eq!(
            resolve(&s, "var/lib/rpm/rpmdb.sqlite").as_deref(),
            Some("usr/lib/sysimage/rpm/rpmdb.sqlite")
        );
    }

    #[test]
    fn chains_and_dotdot_after_a_link_are_resolved_physically() {
        // lib -> usr/lib, usr/lib/x -> ../share/x: lib/x/.. is usr/share, not lib.
        let s = with(&[
            (0, "lib", "usr/lib"),
            (0, "usr/lib/x", "../share/x"),
            (0, "up", "lib/x/../y"),
        ]);
        assert_eq!(resolve(&s, "lib/x/f").as_deref(), Some("usr/share/x/f"));
        assert_eq!(resolve(&s, "up").as_deref(), Some("usr/share/y"));
    }

    #[test]
    fn the_last_component_is_followed_when_resolving() {
        let s = with(&[(0, "etc/os-release", "../usr/lib/os-release")]);
        assert_eq!(
            resolve(&s, "etc/os-release").as_deref(),
            Some("usr/lib/os-release")
        );
    }

    #[test]
    fn symlink_loops_resolve_to_nothing() {
        let s = with(&[(0, "a", "b"), (0, "b", "a"), (0, "self", "self/x")]);
        assert_eq!(resolve(&s, "a/f"), None);
        assert_eq!(resolve(&s, "self"), None);
    }

    #[test]
    fn long_chains_within_the_limit_resolve() {
        let mut links = Vec::new();
        let names: Vec<String> = (0..=MAX_FOLLOWS).map(|i| format!("l{i}")).collect();
        for i in 0..MAX_FOLLOWS as usize {
            links.push((0, names[i].as_str(), names[i + 1].as_str()));
        }
        let s = with(&links);
        assert_eq!(resolve(&s, "l0/f").as_deref(), Some("l40/f"));
        let mut longer = links.clone();
        longer.push((0, "l40", "l41"));
        assert_eq!(resolve(&with(&longer), "l0/f"), None);
    }

    #[test]
    fn place_follows_links_of_the_same_layer_only() {
        let mut s = with(&[(1, "evil", "/etc")]);
        assert_eq!(s.place(1, &p("evil/passwd")).unwrap(), "etc/passwd");
        assert_eq!(s.len(), 1, "the link stays");
    }

    #[test]
    fn place_below_a_lower_layer_link_replaces_it_with_a_directory() {
        let mut s = with(&[(0, "lib", "usr/lib"), (0, "bin", "usr/bin")]);
        assert_eq!(
            s.place(1, &p("lib/x/libfoo.so")).unwrap(),
            "lib/x/libfoo.so"
        );
        assert_eq!(s.target(&p("lib")), None, "lib became a directory");
        assert_eq!(s.target(&p("bin")), Some(&b"usr/bin"[..]));
        assert_eq!(resolve(&s, "lib/x").as_deref(), Some("lib/x"));
    }

    #[test]
    fn place_does_not_follow_the_last_component() {
        let mut s = with(&[(0, "etc/passwd", "/tmp/x")]);
        assert_eq!(s.place(0, &p("etc/passwd")).unwrap(), "etc/passwd");
    }

    #[test]
    fn place_through_a_same_layer_link_to_a_lower_link_replaces_the_lower_one() {
        let mut s = with(&[(0, "var/lib/dpkg", "/opt/db"), (1, "x", "/var/lib/dpkg")]);
        assert_eq!(s.place(1, &p("x/status")).unwrap(), "var/lib/dpkg/status");
        assert_eq!(s.target(&p("var/lib/dpkg")), None);
    }

    #[test]
    fn place_reports_loops() {
        let mut s = with(&[(0, "a", "b"), (0, "b", "a")]);
        assert_eq!(s.place(0, &p("a/f")), Err(TooManyLinks));
    }

    #[test]
    fn cached_parent_is_dropped_when_a_link_changes() {
        let mut s = with(&[(0, "d", "/real")]);
        assert_eq!(s.place(0, &p("d/a")).unwrap(), "real/a");
        s.directory(&p("d"));
        s.link(0, &p("other"), b"/x");
        assert_eq!(s.place(0, &p("d/b")).unwrap(), "d/b");
    }

    #[test]
    fn whiteouts_and_opaque_directories_remove_lower_links_only() {
        let mut s = with(&[
            (0, "a", "/x"),
            (0, "d/l0", "/y"),
            (1, "d/l1", "/z"),
            (1, "b", "/w"),
        ]);
        s.whiteout(1, &p("a"));
        s.whiteout(1, &p("b"));
        s.opaque(1, &p("d"));
        let left: Vec<String> = s.links.keys().map(ToString::to_string).collect();
        assert_eq!(left, ["b", "d/l1"]);
    }

    #[test]
    fn a_file_replacing_a_directory_removes_links_below_it() {
        let mut s = with(&[(0, "d/l", "/y"), (0, "d2/l", "/y")]);
        s.non_directory(&p("d"));
        assert_eq!(s.len(), 1);
        let mut s = with(&[(0, "d/l", "/y")]);
        s.link(1, &p("d"), b"/elsewhere");
        assert_eq!(s.target(&p("d/l")), None);
    }

    #[test]
    fn links_in_lists_direct_children_only() {
        let s = with(&[(0, "etc/a", "x"), (0, "etc/sub/b", "y"), (0, "etc2/c", "z")]);
        let got: Vec<String> = s.links_in(&p("etc")).map(ToString::to_string).collect();
        assert_eq!(got, ["etc/a"]);
    }
}
