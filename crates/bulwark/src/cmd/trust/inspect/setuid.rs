//! CIS 4.8 evidence: the set-uid/set-gid regular files that survive in the
//! squashed image, each with the layer that wrote it. A hard link carries
//! its target's mode (it is the same inode), whatever its own header says.

use std::collections::HashMap;

use bulwark_image::{Entry, EntryKind, Image, Kept, Layer, VisitError, Visitor};
use bulwark_trust::evidence::SetuidFile;

const SET_ID: u32 = 0o6000;

/// Set-uid/set-gid files of `image` that a container would see (a walk of
/// their own, for policies that need no findings).
pub fn files(image: &Image) -> Result<Vec<SetuidFile>, String> {
    let walked = image
        .walk(&mut SetIdFiles::default())
        .map_err(|e| e.to_string())?;
    Ok(survivors(walked.kept))
}

/// The evidence from what [`SetIdFiles`] kept, in this walk or in one it
/// shared.
pub fn survivors(kept: Vec<Kept<u32>>) -> Vec<SetuidFile> {
    kept.into_iter()
        .map(|k| SetuidFile {
            layer: k.layer,
            path: k.path.to_string(),
            mode: k.value,
        })
        .collect()
}

/// Keeps set-id files; remembers this layer's regular files' modes for its
/// hard links.
#[derive(Default)]
pub struct SetIdFiles {
    layer_modes: HashMap<String, u32>,
}

impl Visitor for SetIdFiles {
    type Keep = u32;

    fn layer_start(&mut self, _layer: &Layer) -> Result<(), VisitError> {
        self.layer_modes.clear();
        Ok(())
    }

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<u32>, VisitError> {
        let mode = match entry.kind() {
            EntryKind::File => {
                if entry.mode() & SET_ID != 0 {
                    self.layer_modes
                        .insert(entry.path().to_string(), entry.mode());
                }
                entry.mode()
            }
            EntryKind::Hardlink(target) => self
                .layer_modes
                .get(&target.to_string())
                .copied()
                .unwrap_or(entry.mode()),
            _ => return Ok(None),
        };
        Ok((mode & SET_ID != 0).then_some(mode))
    }
}
