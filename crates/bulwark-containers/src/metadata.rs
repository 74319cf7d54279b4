//! Container metadata from OCI annotations (pure).
//!
//! | what | annotation keys, first present wins |
//! | --- | --- |
//! | image | `io.bulwark.image` (set by `bulwark run`), `io.kubernetes.cri.image-name` (containerd CRI), `io.kubernetes.cri-o.ImageName` (CRI-O) |
//! | image digest | `io.bulwark.image.digest`, else the `@sha256:...` part of the image reference |
//! | pod namespace | `io.kubernetes.cri.sandbox-namespace` (containerd), `io.kubernetes.pod.namespace` (CRI-O, dockershim) |
//! | pod name | `io.kubernetes.cri.sandbox-name`, `io.kubernetes.pod.name` |
//! | pod UID | `io.kubernetes.cri.sandbox-uid`, `io.kubernetes.pod.uid` |
//! | container name | `io.kubernetes.cri.container-name`, `io.kubernetes.container.name` |
//! | sandbox (pause) container | `io.kubernetes.cri.container-type` or `io.kubernetes.cri-o.ContainerType` = `sandbox` |
//! | labels | CRI-O's `io.kubernetes.cri-o.Labels` (a JSON object) |
//!
//! CRI-O's `ImageRef` is an image id (config digest), not a manifest digest,
//! so it is not reported as one.

use std::collections::BTreeMap;

/// Bulwark's own annotation for the image reference.
pub const ANNOTATION_IMAGE: &str = "io.bulwark.image";
/// Bulwark's own annotation for the image manifest digest.
pub const ANNOTATION_IMAGE_DIGEST: &str = "io.bulwark.image.digest";

const IMAGE: [&str; 3] = [
    ANNOTATION_IMAGE,
    "io.kubernetes.cri.image-name",
    "io.kubernetes.cri-o.ImageName",
];
const POD_NAMESPACE: [&str; 2] = [
    "io.kubernetes.cri.sandbox-namespace",
    "io.kubernetes.pod.namespace",
];
const POD_NAME: [&str; 2] = ["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"];
const POD_UID: [&str; 2] = ["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"];
const CONTAINER_NAME: [&str; 2] = [
    "io.kubernetes.cri.container-name",
    "io.kubernetes.container.name",
];
const CONTAINER_TYPE: [&str; 2] = [
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri-o.ContainerType",
];
const CRIO_LABELS: &str = "io.kubernetes.cri-o.Labels";

/// The Kubernetes pod a container belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
}

/// What annotations say about a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub pod: Option<Pod>,
    /// A pod's infrastructure (pause) container.
    pub sandbox: bool,
    pub labels: BTreeMap<String, String>,
}

pub fn from_annotations(a: &BTreeMap<String, String>) -> Metadata {
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| a.get(*k).filter(|v| !v.is_empty()).cloned())
    };
    let image = first(&IMAGE);
    let image_digest =
        first(&[ANNOTATION_IMAGE_DIGEST]).or_else(|| image.as_deref().and_then(digest_of));
    let pod = Pod {
        namespace: first(&POD_NAMESPACE),
        name: first(&POD_NAME),
        uid: first(&POD_UID),
    };
    let has_pod = pod.namespace.is_some() || pod.name.is_some() || pod.uid.is_some();
    Metadata {
        name: first(&CONTAINER_NAME),
        image,
        image_digest,
        pod: has_pod.then_some(pod),
        sandbox: first(&CONTAINER_TYPE).as_deref() == Some("sandbox"),
        labels: a
            .get(CRIO_LABELS)
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_default(),
    }
}

/// `sha256:...` from `name@sha256:...`.
pub fn digest_of(reference: &str) -> Option<String> {
    let (_, digest) = reference.rsplit_once('@')?;
    let (algo, hex) = digest.split_once(':')?;
    let ok = matches!(algo, "sha256" | "sha512")
        && !hex.is_empty()
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| digest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn containerd_cri_annotations() {
        let m = from_annotations(&map(&[
            ("io.kubernetes.cri.container-type", "container"),
            (
                "io.kubernetes.cri.image-name",
                "docker.io/library/nginx:1.25",
            ),
            ("io.kubernetes.cri.sandbox-namespace", "shop"),
            ("io.kubernetes.cri.sandbox-name", "web-7d9f"),
            ("io.kubernetes.cri.sandbox-uid", "7f9c1e2a-3b4c"),
            ("io.kubernetes.cri.container-name", "nginx"),
        ]));
        assert_eq!(m.image.as_deref(), Some("docker.io/library/nginx:1.25"));
        assert_eq!(m.image_digest, None);
        assert_eq!(m.name.as_deref(), Some("nginx"));
        let pod = m.pod.unwrap();
        assert_eq!(pod.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.name.as_deref(), Some("web-7d9f"));
        assert!(!m.sandbox);
    }

    #[test]
    fn crio_annotations_and_labels() {
        let m = from_annotations(&map(&[
            ("io.kubernetes.cri-o.ContainerType", "sandbox"),
            ("io.kubernetes.cri-o.ImageName", "registry.k8s.io/pause:3.9"),
            (
                "io.kubernetes.cri-o.ImageRef",
                "sha256:e6f1816883972d4be47bd48879a08919b96afcd344132622e4d444987919323c",
            ),
            ("io.kubernetes.pod.namespace", "kube-system"),
            ("io.kubernetes.pod.name", "coredns-1"),
            (
                "io.kubernetes.cri-o.Labels",
                r#"{"app":"coredns","io.kubernetes.pod.name":"coredns-1"}"#,
            ),
        ]));
        assert!(m.sandbox);
        assert_eq!(m.image.as_deref(), Some("registry.k8s.io/pause:3.9"));
        assert_eq!(
            m.image_digest, None,
            "ImageRef is an image id, not a manifest digest"
        );
        assert_eq!(m.labels.get("app").map(String::as_str), Some("coredns"));
    }

    #[test]
    fn bulwark_annotations_win_and_digest_is_kept() {
        let m = from_annotations(&map(&[
            (ANNOTATION_IMAGE, "registry.test/app:1"),
            (ANNOTATION_IMAGE_DIGEST, "sha256:abc"),
            ("io.kubernetes.cri.image-name", "other:2"),
        ]));
        assert_eq!(m.image.as_deref(), Some("registry.test/app:1"));
        assert_eq!(m.image_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(m.pod, None);
    }

    #[test]
    fn digest_comes_from_a_pinned_reference() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let m = from_annotations(&map(&[(
            "io.kubernetes.cri.image-name",
            &format!("nginx@{d}"),
        )]));
        assert_eq!(m.image_digest.as_deref(), Some(d));
        assert_eq!(digest_of("nginx:1.25"), None);
        assert_eq!(digest_of("nginx@md5:abc"), None);
        assert_eq!(digest_of("nginx@sha256:ZZ"), None);
    }

    #[test]
    fn malformed_crio_labels_are_ignored_not_fatal() {
        let m = from_annotations(&map(&[("io.kubernetes.cri-o.Labels", "{not json")]));
        assert!(m.labels.is_empty());
    }
}
