//! Where the container images are in each kind the webhook admits.

use serde_json::Value;

/// A container image found in an admitted object, with the JSON pointer to
/// its `image` field (for the patch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    /// `/spec/template/spec/containers/0/image`
    pub pointer: String,
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    pub container: String,
    pub image: String,
}

/// The container kinds of a pod spec. All three are checked: an
/// ephemeral debug container runs code like any other.
pub const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// JSON pointer of the pod spec inside an object of `kind`, or `None` for
/// kinds that carry no pod spec.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Every container image of `object` (of `kind`), in spec order.
/// A container without an `image` string is reported with an empty image,
/// so the caller refuses it rather than skipping it.
pub fn container_images(kind: &str, object: &Value) -> Option<Vec<ContainerImage>> {
    let base = pod_spec_pointer(kind)?;
    let spec = object.pointer(base)?;
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            out.push(ContainerImage {
                pointer: format!("{base}/{list}/{i}/image"),
                list,
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                image: c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_container_kind_in_a_cronjob() {
        let obj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "a"}],
            "containers": [{"name": "c", "image": "b"}, {"name": "d", "image": "c"}],
            "ephemeralContainers": [{"name": "e", "image": "d"}]
        }}}}}});
        let found = container_images("CronJob", &obj).unwrap();
        let pointers: Vec<_> = found.iter().map(|c| c.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/spec/jobTemplate/spec/template/spec/initContainers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/1/image",
                "/spec/jobTemplate/spec/template/spec/ephemeralContainers/0/image",
            ]
        );
    }

    #[test]
    fn other_kinds_carry_no_pod_spec() {
        assert!(container_images("ConfigMap", &json!({})).is_none());
    }
}
