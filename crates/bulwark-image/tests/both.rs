//! `Both`: two visitors sharing one walk see and keep exactly what each
//! would in a walk of its own, whatever later layers delete, replace or
//! hide. Layers written in code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bulwark_image::testutil::{LayoutBuilder, TarBuilder};
use bulwark_image::{Both, Compression, Entry, EntryKind, Image, Kept, VisitError, Visitor};
use common::Recorder;

/// Keeps the mode of every set-uid/set-gid file, reading no content.
struct SetId;

impl Visitor for SetId {
    type Keep = u32;

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<u32>, VisitError> {
        let set_id = *entry.kind() == EntryKind::File && entry.mode() & 0o6000 != 0;
        Ok(set_id.then_some(entry.mode()))
    }
}

fn image(dir: &std::path::Path) -> Image {
    let base = TarBuilder::new()
        .file("etc/os-release", b"ID=debian\n")
        .file_mode("usr/bin/su", b"su", 0o104755)
        .file_mode("usr/bin/gone", b"gone", 0o104755)
        .file_mode("opt/app/helper", b"old", 0o102755)
        .file("opt/app/data", b"data")
        .finish();
    let upper = TarBuilder::new()
        .whiteout("usr/bin", "gone")
        .opaque("opt/app")
        .file_mode("opt/app/helper", b"new", 0o755)
        .file_mode("etc/os-release", b"ID=hostile\n", 0o104644)
        .finish();
    LayoutBuilder::new(dir)
        .layer(base, Compression::Gzip)
        .layer(upper, Compression::Zstd)
        .write();
    common::open(dir).unwrap()
}

fn rows<K: Clone>(kept: &[Kept<K>]) -> Vec<(usize, String, K)> {
    kept.iter()
        .map(|k| (k.layer, k.path.to_string(), k.value.clone()))
        .collect()
}

#[test]
fn both_visitors_keep_what_their_own_walks_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let image = image(tmp.path());
    let (alone_recorder, alone_files) = common::walk(&image).unwrap();
    let alone_set_id = image.walk(&mut SetId).unwrap();

    let mut recorder = Recorder::default();
    let walked = image.walk(&mut Both(&mut recorder, SetId)).unwrap();
    let (files, set_id) = walked.split();

    assert_eq!(recorder.seen, alone_recorder.seen);
    assert_eq!(common::survivors(&files), common::survivors(&alone_files));
    assert_eq!(rows(&set_id), rows(&alone_set_id.kept));
    assert_eq!(
        rows(&set_id),
        [
            (1, "etc/os-release".into(), 0o104644),
            (0, "usr/bin/su".into(), 0o104755)
        ]
    );
    assert_eq!(files.layers, alone_files.layers);
}

#[test]
fn an_absent_visitor_keeps_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let image = image(tmp.path());
    let walked = image
        .walk(&mut Both(Recorder::default(), None::<SetId>))
        .unwrap();
    let (files, set_id) = walked.split();
    assert!(set_id.is_empty());
    assert_eq!(files.kept.len(), 3, "{:?}", common::survivors(&files));
}
