//! AccessPolicy files on disk, loaded into the running proxy's
//! [`PolicySet`] and re-read when they change. A change that does not parse
//! (or a file that went missing) is refused with a log line and the last
//! good set stays in force: a typo never opens or closes the mesh by itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tracing::{info, warn};

use crate::policy::{PolicyError, PolicySet};

/// Why the policy files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFilesError {
    #[error("reading AccessPolicy file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The AccessPolicy files of one proxy (none: deny everything).
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    paths: Vec<PathBuf>,
}

impl PolicyFiles {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        PolicyFiles { paths }
    }

    /// Every policy of every file, in file order.
    pub fn load(&self) -> Result<PolicySet, PolicyFilesError> {
        let mut policies = Vec::new();
        for path in &self.paths {
            let text = std::fs::read_to_string(path).map_err(|e| PolicyFilesError::Read {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            policies.extend(PolicySet::parse(&path.display().to_string(), &text)?);
        }
        Ok(PolicySet::new(policies))
    }

    /// Re-reads the files whenever one of them changes (size, mtime or
    /// inode), every `every`, until `set` is dropped by everyone else.
    pub fn watch(self, set: Arc<ArcSwap<PolicySet>>, every: Duration) {
        let paths = self.paths.clone();
        crate::watch::on_change(paths, every, set, move |set| match self.load() {
            Ok(new) => {
                info!(
                    policies = new.policies().len(),
                    "AccessPolicy files changed; new policy set in force"
                );
                set.store(Arc::new(new));
            }
            Err(e) => warn!(
                error = %e,
                "AccessPolicy files changed but were refused; the previous set stays in force"
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DOC: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: a}\nspec: {to: spiffe://example.org/api, from: [spiffe://example.org/web]}\n";

    #[test]
    fn every_file_is_loaded_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        std::fs::write(&a, DOC).unwrap();
        std::fs::write(&b, DOC.replace("name: a", "name: b")).unwrap();
        let set = PolicyFiles::new(vec![a, b]).load().unwrap();
        let names: Vec<_> = set.policies().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(
            PolicyFiles::new(vec![])
                .load()
                .unwrap()
                .policies()
                .is_empty()
        );
    }

    #[test]
    fn a_missing_or_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let err = PolicyFiles::new(vec![missing]).load().unwrap_err();
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, "kind: [").unwrap();
        let err = PolicyFiles::new(vec![broken]).load().unwrap_err();
        assert!(err.to_string().contains("broken.yaml"), "{err}");
    }
}
