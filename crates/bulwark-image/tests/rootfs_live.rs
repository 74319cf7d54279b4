//! A live root filesystem changes while it is walked (`bulwark sbom /` on a
//! busy host): entries deleted after their directory was listed are skipped,
//! not errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::PathBuf;

use bulwark_image::{Entry, Image, OpenOptions, VisitError, Visitor};

/// Deletes `victims` when it sees the first entry, then keeps every file.
struct Deleter {
    victims: Vec<PathBuf>,
}

impl Visitor for Deleter {
    type Keep = ();
    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<()>, VisitError> {
        for victim in self.victims.drain(..) {
            if victim.is_dir() {
                std::fs::remove_dir_all(&victim)?;
            } else {
                std::fs::remove_file(&victim)?;
            }
        }
        Ok((*entry.kind() == bulwark_image::EntryKind::File).then_some(()))
    }
}

#[test]
fn rootfs_entries_deleted_during_the_walk_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"first").unwrap();
    std::fs::write(dir.path().join("b"), b"vanishes").unwrap();
    std::fs::create_dir(dir.path().join("c")).unwrap();
    std::fs::write(dir.path().join("c/x"), b"vanishes with its directory").unwrap();
    std::fs::write(dir.path().join("d"), b"stays").unwrap();
    let image = Image::open(dir.path().to_str().unwrap(), &OpenOptions::default()).unwrap();
    let mut visitor = Deleter {
        victims: vec![dir.path().join("b"), dir.path().join("c")],
    };
    let walked = image.walk(&mut visitor).unwrap();
    let kept: Vec<String> = walked.kept.iter().map(|k| k.path.to_string()).collect();
    assert_eq!(kept, ["a", "d"]);
}
