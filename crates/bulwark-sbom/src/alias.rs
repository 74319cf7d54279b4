//! Package databases reached through symbolic links.
//!
//! dpkg reads `/var/lib/dpkg/status` whatever links lead there: if the image
//! makes `var/lib/dpkg` a link to `/opt/db`, the database is the file at
//! `opt/db/status`, which no path pattern of the catalogers matches. After a
//! walk, [`Aliases::find`] resolves each fixed location
//! ([`catalog::FIXED_LOCATIONS`]) through the image's final links, and
//! records the real directories and files whose path would not be cataloged
//! as what they stand for. Ordinary links (`var/lib/rpm ->
//! ../../usr/lib/sysimage/rpm`, `etc/os-release -> ../usr/lib/os-release`,
//! merged `/usr`) lead to paths the patterns cover already, and need nothing.

use std::collections::HashMap;

use bulwark_image::{EntryPath, Symlinks};

use crate::catalog::{self, FIXED_LOCATIONS, FileKind, STATUS_D};

/// The kind a file would have at a fixed location, when its name says
/// which one (`status`, `installed`, `os-release`, rpm database names; any
/// name in a directory named `status.d`) and its own path makes it
/// something else: the files a walk catalogs on the side, before the final
/// links are known, in case they make it an alias.
pub fn by_name(path: &str) -> Option<FileKind> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let as_fixed = if last(dir) == last(STATUS_D) {
        kind(&join(STATUS_D, name))
    } else {
        FIXED_LOCATIONS
            .iter()
            .filter(|(dir, names)| *dir != STATUS_D && names.contains(&name))
            .find_map(|(dir, _)| kind(&join(dir, name)))
    }?;
    (kind(path) != Some(as_fixed)).then_some(as_fixed)
}

fn last(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

/// The warning on a file read as the fixed path `as_fixed`.
pub fn note(as_fixed: &str) -> String {
    format!("read as /{as_fixed}: the image's symbolic links lead /{as_fixed} here")
}

/// Real paths that stand for fixed locations.
#[derive(Debug, Default)]
pub struct Aliases {
    /// Real directory -> the fixed directory links lead there from.
    dirs: HashMap<String, String>,
    /// Real file -> the fixed path a link leads there from.
    files: HashMap<String, String>,
}

fn kind(path: &str) -> Option<FileKind> {
    catalog::classify(path, false)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

impl Aliases {
    /// The fixed locations `symlinks` lead somewhere the catalogers' path
    /// patterns do not cover.
    pub fn find(symlinks: &Symlinks) -> Aliases {
        let mut out = Aliases::default();
        for (dir, names) in FIXED_LOCATIONS {
            let fixed = EntryPath::from(*dir);
            let Some(real) = symlinks.resolve(&fixed) else {
                continue; // a loop: dpkg would not get there either
            };
            let real_dir = real.to_string();
            if real != fixed
                && names
                    .iter()
                    .any(|n| kind(&join(dir, n)) != kind(&join(&real_dir, n)))
            {
                out.dirs.insert(real_dir.clone(), (*dir).to_owned());
            }
            for link in symlinks.links_in(&real) {
                let as_fixed = join(dir, &String::from_utf8_lossy(link.file_name()));
                let Some(wanted) = kind(&as_fixed) else {
                    continue;
                };
                let Some(target) = symlinks.resolve(link) else {
                    continue;
                };
                let target = target.to_string();
                if kind(&target) != Some(wanted) {
                    out.files.insert(target, as_fixed);
                }
            }
        }
        out
    }

    /// Whether every file these aliases make a package database is one
    /// [`by_name`] selects, as the kind it selects it for: then the files
    /// cataloged on the side during the walk are all a second walk would
    /// read. Not so for a directory not named `status.d` standing for
    /// `status.d` (any file name counts there), nor for `status.d` or an
    /// rpm directory standing for another (their other files are classified
    /// by directory, not by the general name rules both sides share), nor
    /// for a link to a file named otherwise.
    pub fn covered_by_name(&self) -> bool {
        let dirs = self.dirs.iter().all(|(real, fixed)| {
            (fixed != STATUS_D || last(real) == last(STATUS_D))
                && !catalog::classifies_any_name(real)
        });
        let files = self
            .files
            .iter()
            .all(|(target, fixed)| by_name(target).is_some_and(|k| kind(fixed) == Some(k)));
        dirs && files
    }

    /// Whether every fixed location is where the patterns look.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.files.is_empty()
    }

    /// The fixed path the file at real `path` stands for and the cataloger
    /// that reads it, if it is an alias the patterns miss.
    pub fn read_as(&self, path: &str) -> Option<(String, FileKind)> {
        let as_fixed = match self.files.get(path) {
            Some(fixed) => fixed.clone(),
            None => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                join(self.dirs.get(dir)?, name)
            }
        };
        let wanted = kind(&as_fixed)?;
        (kind(path) != Some(wanted)).then_some((as_fixed, wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links as the walker records them, built through a real walk of a
    /// root filesystem directory.
    fn links(pairs: &[(&str, &str)]) -> Symlinks {
        let tmp = tempfile::tempdir().unwrap();
        for (path, target) in pairs {
            let at = tmp.path().join(path);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, at).unwrap();
        }
        let image = bulwark_image::Image::open(
            tmp.path().to_str().unwrap(),
            &bulwark_image::OpenOptions::default(),
        )
        .unwrap();
        image.walk_only().unwrap().symlinks
    }

    #[test]
    fn ordinary_distribution_links_need_no_alias() {
        let a = Aliases::find(&links(&[
            ("lib", "usr/lib"),
            ("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
            ("etc/os-release", "../usr/lib/os-release"),
        ]));
        assert!(a.is_empty(), "{a:?}");
    }

    #[test]
    fn a_linked_dpkg_directory_makes_its_files_aliases() {
        let a = Aliases::find(&links(&[("var/lib/dpkg", "/opt/db")]));
        assert_eq!(
            a.read_as("opt/db/status"),
            Some(("var/lib/dpkg/status".into(), FileKind::DpkgStatus))
        );
        assert_eq!(a.read_as("opt/db/other"), None);
        assert_eq!(a.read_as("opt/status"), None);
    }

    #[test]
    fn a_linked_status_file_and_status_d_entries_are_aliases() {
        let a = Aliases::find(&links(&[
            ("var/lib/dpkg/status", "../../../srv/s"),
            ("var/lib/dpkg/status.d/libc6", "/srv/libc6"),
        ]));
        assert_eq!(
            a.read_as("srv/s"),
            Some(("var/lib/dpkg/status".into(), FileKind::DpkgStatus))
        );
        assert_eq!(
            a.read_as("srv/libc6"),
            Some(("var/lib/dpkg/status.d/libc6".into(), FileKind::DpkgStatusD))
        );
    }

    #[test]
    fn a_dpkg_directory_linked_to_the_root_reads_root_files() {
        let a = Aliases::find(&links(&[("var/lib/dpkg", "/")]));
        assert_eq!(
            a.read_as("status"),
            Some(("var/lib/dpkg/status".into(), FileKind::DpkgStatus))
        );
    }

    #[test]
    fn files_named_like_databases_are_selected_where_no_pattern_looks() {
        assert_eq!(by_name("opt/db/status"), Some(FileKind::DpkgStatus));
        assert_eq!(
            by_name("opt/db/status.d/libc6"),
            Some(FileKind::DpkgStatusD)
        );
        assert_eq!(by_name("srv/installed"), Some(FileKind::ApkInstalled));
        assert_eq!(by_name("x/rpmdb.sqlite"), Some(FileKind::RpmSqlite));
        assert_eq!(by_name("var/lib/dpkg/status"), None, "a pattern reads it");
        assert_eq!(by_name("opt/db/other"), None);
    }

    #[test]
    fn a_moved_dpkg_directory_is_covered_by_name_a_renamed_status_d_is_not() {
        let moved = Aliases::find(&links(&[("var/lib/dpkg", "/opt/db")]));
        assert!(!moved.is_empty());
        assert!(moved.covered_by_name(), "{moved:?}");
        let renamed = Aliases::find(&links(&[("var/lib/dpkg/status.d", "/srv/pkgs")]));
        assert!(!renamed.covered_by_name(), "{renamed:?}");
        let file = Aliases::find(&links(&[("var/lib/dpkg/status", "/srv/s")]));
        assert!(!file.covered_by_name(), "{file:?}");
    }

    #[test]
    fn looping_fixed_locations_are_skipped() {
        let a = Aliases::find(&links(&[
            ("var/lib/dpkg", "dpkg2"),
            ("var/lib/dpkg2", "dpkg"),
        ]));
        assert!(a.is_empty());
    }
}
