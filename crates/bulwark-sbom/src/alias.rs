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

use crate::catalog::{self, FIXED_LOCATIONS, FileKind};

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
    fn looping_fixed_locations_are_skipped() {
        let a = Aliases::find(&links(&[
            ("var/lib/dpkg", "dpkg2"),
            ("var/lib/dpkg2", "dpkg"),
        ]));
        assert!(a.is_empty());
    }
}
