//! Where a container's policy comes from: a directory of YAML documents,
//! each an `EnforcementPolicy` or a learned `WorkloadProfile` (compiled on
//! the fly). A container names its policy with the annotation
//! [`ANNOTATION_POLICY`] (a file name in the directory), or is matched by
//! workload: [`ANNOTATION_WORKLOAD`], else `image:REPOSITORY` of its image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulwark_core::{ContainerId, ContainerRef, WorkloadId};

use crate::from_profile::{self, Options};
use crate::policy::{EnforcePolicy, PolicyDocument, PolicyError};

/// `io.bulwark.policy`: the policy file (without `.yaml`) in the directory.
pub const ANNOTATION_POLICY: &str = "io.bulwark.policy";
/// `io.bulwark.workload`: the workload identity.
pub const ANNOTATION_WORKLOAD: &str = "io.bulwark.workload";

/// Most documents one directory may hold.
pub const MAX_DOCUMENTS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("policy name {0:?}: only letters, digits, `.`, `_` and `-` (no path)")]
    BadName(String),
    #[error("policy {name:?} named by the container is not in {dir}")]
    NotFound { name: String, dir: PathBuf },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{path}: {problem}")]
    Document { path: PathBuf, problem: String },
    #[error("{dir} holds more than {MAX_DOCUMENTS} documents")]
    TooMany { dir: PathBuf },
}

/// Who is asking for a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub container: ContainerId,
    /// `None` only for ids too long to be a workload id.
    pub workload: Option<WorkloadId>,
    /// An explicit policy name from the annotations.
    pub policy_name: Option<String>,
}

impl Subject {
    /// From a container's annotations.
    pub fn from_annotations(id: &ContainerId, annotations: &BTreeMap<String, String>) -> Subject {
        let meta = bulwark_containers::from_annotations(annotations);
        let explicit = annotations
            .get(ANNOTATION_WORKLOAD)
            .and_then(|w| WorkloadId::new(w.clone()).ok());
        let cref = ContainerRef {
            id: id.clone(),
            runtime: "runc".into(),
            image: meta.image,
            image_digest: meta.image_digest,
            workload: explicit,
            pod_namespace: None,
            pod_name: None,
        };
        let workload =
            bulwark_profile::workload_of(&cref).or_else(|| WorkloadId::new(id.as_str()).ok());
        Subject {
            container: id.clone(),
            workload,
            policy_name: annotations.get(ANNOTATION_POLICY).cloned(),
        }
    }
}

/// A source of policies.
pub trait PolicySource: Send + Sync {
    /// The policy for `subject`, `None` when it has none (not protected).
    fn policy_for(&self, subject: &Subject) -> Result<Option<EnforcePolicy>, StoreError>;
}

/// A directory of policy and profile documents.
#[derive(Clone, Debug)]
pub struct PolicyDir {
    dir: PathBuf,
    options: Options,
}

impl PolicyDir {
    pub fn new(dir: impl Into<PathBuf>, options: Options) -> Self {
        PolicyDir {
            dir: dir.into(),
            options,
        }
    }

    fn load(&self, path: &Path) -> Result<Vec<EnforcePolicy>, StoreError> {
        load_document(path, &self.options)
    }

    fn documents(&self) -> Result<Vec<PathBuf>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| StoreError::Read {
            path: self.dir.clone(),
            source,
        })?;
        let mut out: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        if out.len() > MAX_DOCUMENTS {
            return Err(StoreError::TooMany {
                dir: self.dir.clone(),
            });
        }
        out.sort();
        Ok(out)
    }
}

/// The policies of one document: an `EnforcementPolicy`, or the
/// `WorkloadProfile`s it holds compiled with `options`.
pub fn load_document(path: &Path, options: &Options) -> Result<Vec<EnforcePolicy>, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Read {
        path: path.to_owned(),
        source,
    })?;
    let input = path.display().to_string();
    if text.contains("kind: WorkloadProfile") {
        let profiles = bulwark_profile::parse(&text, &input).map_err(|e| StoreError::Document {
            path: path.to_owned(),
            problem: e.to_string(),
        })?;
        return profiles
            .iter()
            .map(|p| Ok(from_profile::compile(p, options)?))
            .collect();
    }
    Ok(vec![PolicyDocument::parse(&input, &text)?.spec])
}

/// Checks a policy file name (without `.yaml`): letters, digits, `.`, `_`
/// and `-`, not starting with `.`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.escape_debug().to_string()))
    }
}

impl PolicySource for PolicyDir {
    fn policy_for(&self, subject: &Subject) -> Result<Option<EnforcePolicy>, StoreError> {
        if let Some(name) = &subject.policy_name {
            check_name(name)?;
            let path = self.dir.join(format!("{name}.yaml"));
            if !path.exists() {
                return Err(StoreError::NotFound {
                    name: name.clone(),
                    dir: self.dir.clone(),
                });
            }
            return Ok(self.load(&path)?.into_iter().next());
        }
        // The profile store names files after the workload: try that first.
        if let Some(w) = &subject.workload {
            let direct = self.dir.join(bulwark_nanoseg::file_name(w));
            if direct.is_file()
                && let Ok(policies) = self.load(&direct)
                && let Some(p) = policies.into_iter().find(|p| &p.workload == w)
            {
                return Ok(Some(p));
            }
        }
        for path in self.documents()? {
            // A broken document for another workload must not stop this one.
            match self.load(&path) {
                Ok(policies) => {
                    let mine = |p: &EnforcePolicy| subject.workload.as_ref() == Some(&p.workload);
                    if let Some(p) = policies.into_iter().find(mine) {
                        return Ok(Some(p));
                    }
                }
                Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(policy: Option<&str>, image: Option<&str>) -> Subject {
        let mut a = BTreeMap::new();
        if let Some(p) = policy {
            a.insert(ANNOTATION_POLICY.to_owned(), p.to_owned());
        }
        if let Some(i) = image {
            a.insert("io.bulwark.image".to_owned(), i.to_owned());
        }
        Subject::from_annotations(&ContainerId::new("c1").unwrap(), &a)
    }

    const POLICY: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {name: web}\nspec:\n  workload: image:registry.test/web\n  mode: protect\n";

    #[test]
    fn policy_is_found_by_name_or_by_image_workload() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.yaml"), POLICY).unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "{{{").unwrap();
        let store = PolicyDir::new(dir.path(), Options::default());
        assert!(
            store
                .policy_for(&subject(Some("web"), None))
                .unwrap()
                .is_some()
        );
        let by_image = store
            .policy_for(&subject(None, Some("registry.test/web:1.2")))
            .unwrap();
        assert_eq!(
            by_image.unwrap().workload.as_str(),
            "image:registry.test/web"
        );
        assert!(
            store
                .policy_for(&subject(None, Some("other:1")))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn policy_name_with_path_traversal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = PolicyDir::new(dir.path(), Options::default());
        for bad in ["../etc/passwd", "a/b", ".hidden", ""] {
            let err = store.policy_for(&subject(Some(bad), None));
            assert!(matches!(err, Err(StoreError::BadName(_))), "{bad:?}");
        }
        let missing = store.policy_for(&subject(Some("nope"), None));
        assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    }
}
