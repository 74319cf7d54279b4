//! Runtime state files (pure): runc's `state.json`, crun's `status`, the
//! bundle's OCI `config.json`, docker's `config.v2.json` and podman's
//! `containers.json`. Only the fields attribution needs are read; unknown
//! fields are ignored so newer runtimes keep working.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// What a runtime records about one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeState {
    pub id: String,
    /// Host pid of the container's init.
    pub init_pid: Option<u32>,
    /// Start time of the init (clock ticks since boot), to detect pid reuse.
    pub init_start: Option<u64>,
    pub bundle: Option<PathBuf>,
    /// The cgroup v2 directory, absolute (runc), when the runtime says.
    pub cgroup_v2_dir: Option<PathBuf>,
    /// The cgroup path relative to each hierarchy's root.
    pub cgroup_path: Option<String>,
    pub created: Option<String>,
}

#[derive(Deserialize)]
struct RuncState {
    id: String,
    #[serde(default)]
    init_process_pid: Option<u32>,
    #[serde(default)]
    init_process_start: Option<u64>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    cgroup_paths: BTreeMap<String, String>,
    #[serde(default)]
    config: RuncConfig,
}

#[derive(Default, Deserialize)]
struct RuncConfig {
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    cgroups: Option<RuncCgroups>,
}

#[derive(Deserialize)]
struct RuncCgroups {
    #[serde(default)]
    path: Option<String>,
}

/// runc's (libcontainer's) `ROOT/ID/state.json`.
pub fn parse_runc_state(json: &str) -> Result<RuntimeState, serde_json::Error> {
    let s: RuncState = serde_json::from_str(json)?;
    let bundle = s
        .config
        .labels
        .iter()
        .find_map(|l| l.strip_prefix("bundle="))
        .map(PathBuf::from);
    Ok(RuntimeState {
        id: s.id,
        init_pid: s.init_process_pid.filter(|p| *p > 0),
        init_start: s.init_process_start,
        bundle,
        // The unified hierarchy is keyed "" (v2 and hybrid hosts).
        cgroup_v2_dir: s.cgroup_paths.get("").map(PathBuf::from),
        cgroup_path: s
            .config
            .cgroups
            .and_then(|c| c.path)
            .filter(|p| !p.is_empty()),
        created: s.created,
    })
}

#[derive(Deserialize)]
struct CrunStatus {
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default, rename = "process-start-time")]
    start: Option<u64>,
    #[serde(default, rename = "cgroup-path")]
    cgroup_path: Option<String>,
    #[serde(default)]
    bundle: Option<PathBuf>,
    #[serde(default)]
    created: Option<String>,
}

/// crun's `ROOT/ID/status`; crun does not record the id inside, the
/// directory name is the id.
pub fn parse_crun_status(id: &str, json: &str) -> Result<RuntimeState, serde_json::Error> {
    let s: CrunStatus = serde_json::from_str(json)?;
    Ok(RuntimeState {
        id: id.to_owned(),
        init_pid: s.pid.filter(|p| *p > 0),
        init_start: s.start,
        bundle: s.bundle,
        cgroup_v2_dir: None,
        cgroup_path: s.cgroup_path.filter(|p| !p.is_empty()),
        created: s.created,
    })
}

#[derive(Deserialize)]
struct OciConfig {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The `annotations` of an OCI runtime `config.json`.
pub fn parse_oci_annotations(json: &str) -> Result<BTreeMap<String, String>, serde_json::Error> {
    Ok(serde_json::from_str::<OciConfig>(json)?.annotations)
}

/// What docker's `/var/lib/docker/containers/ID/config.v2.json` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    pub name: Option<String>,
    /// The image as the user named it (`nginx:1.25`, `repo@sha256:...`).
    pub image: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DockerConfigV2 {
    #[serde(default, rename = "Name")]
    name: Option<String>,
    #[serde(default, rename = "Config")]
    config: Option<DockerInnerConfig>,
}

#[derive(Deserialize)]
struct DockerInnerConfig {
    #[serde(default, rename = "Image")]
    image: Option<String>,
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

pub fn parse_docker_config(json: &str) -> Result<DockerConfig, serde_json::Error> {
    let c: DockerConfigV2 = serde_json::from_str(json)?;
    let (image, labels) = match c.config {
        Some(inner) => (inner.image, inner.labels.unwrap_or_default()),
        None => (None, BTreeMap::new()),
    };
    Ok(DockerConfig {
        name: c.name.map(|n| n.trim_start_matches('/').to_owned()),
        image,
        labels,
    })
}

/// One entry of containers/storage's `overlay-containers/containers.json`
/// (podman, CRI-O).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageContainer {
    pub id: String,
    pub name: Option<String>,
    pub image_name: Option<String>,
}

#[derive(Deserialize)]
struct StorageEntry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    /// A JSON document inside a string.
    #[serde(default)]
    metadata: Option<String>,
}

#[derive(Deserialize)]
struct StorageMetadata {
    #[serde(default, rename = "image-name")]
    image_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub fn parse_storage_containers(json: &str) -> Result<Vec<StorageContainer>, serde_json::Error> {
    let entries: Vec<StorageEntry> = serde_json::from_str(json)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let meta = e
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str::<StorageMetadata>(m).ok());
            let (image_name, meta_name) = meta.map_or((None, None), |m| (m.image_name, m.name));
            StorageContainer {
                name: meta_name.or_else(|| e.names.into_iter().next()),
                id: e.id,
                image_name,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real runc 1.1.5 `state.json` on this project's machine.
    const RUNC_STATE: &str = r#"{
      "id": "bwprobe2", "init_process_pid": 13729, "init_process_start": 135305,
      "created": "2026-11-25T16:07:34.378167504Z",
      "config": { "labels": ["bundle=/tmp/sensor-probe/b"],
                  "cgroups": { "path": "/bwprobe/t1", "Systemd": false } },
      "rootless": false,
      "cgroup_paths": { "": "/sys/fs/cgroup/unified/bwprobe/t1",
                        "memory": "/sys/fs/cgroup/memory/bwprobe/t1" },
      "namespace_paths": { "NEWPID": "/proc/13729/ns/pid" }
    }"#;

    #[test]
    fn runc_state_gives_pid_bundle_and_cgroups() {
        let s = parse_runc_state(RUNC_STATE).unwrap();
        assert_eq!(s.id, "bwprobe2");
        assert_eq!(s.init_pid, Some(13729));
        assert_eq!(s.init_start, Some(135_305));
        assert_eq!(s.bundle, Some(PathBuf::from("/tmp/sensor-probe/b")));
        assert_eq!(
            s.cgroup_v2_dir,
            Some(PathBuf::from("/sys/fs/cgroup/unified/bwprobe/t1"))
        );
        assert_eq!(s.cgroup_path.as_deref(), Some("/bwprobe/t1"));
    }

    #[test]
    fn stopped_runc_container_has_no_init_pid() {
        let s = parse_runc_state(r#"{"id":"x","init_process_pid":0}"#).unwrap();
        assert_eq!(s.init_pid, None);
    }

    /// Field names as crun 1.x writes them (`libcrun_write_container_status`).
    #[test]
    fn crun_status_uses_the_directory_name_as_id() {
        let json = r#"{"pid": 139179, "process-start-time": 263473330, "cgroup-path": "/busybox1",
            "scope": "", "rootfs": "rootfs", "systemd-cgroup": false,
            "bundle": "/home/u/c", "created": "2021-08-29T14:34:52Z", "detached": true}"#;
        let s = parse_crun_status("busybox1", json).unwrap();
        assert_eq!(s.id, "busybox1");
        assert_eq!(s.init_pid, Some(139_179));
        assert_eq!(s.cgroup_path.as_deref(), Some("/busybox1"));
        assert_eq!(s.bundle, Some(PathBuf::from("/home/u/c")));
    }

    #[test]
    fn truncated_state_is_an_error_not_a_guess() {
        assert!(parse_runc_state(r#"{"id": "x", "init_process_pid": 1"#).is_err());
        assert!(parse_runc_state(r#"{"init_process_pid": 1}"#).is_err());
    }

    #[test]
    fn oci_config_without_annotations_is_empty() {
        assert!(
            parse_oci_annotations(r#"{"ociVersion":"1.0.2"}"#)
                .unwrap()
                .is_empty()
        );
        let a = parse_oci_annotations(r#"{"annotations":{"k":"v"}}"#).unwrap();
        assert_eq!(a.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn docker_config_v2_gives_name_image_labels() {
        let json = r#"{"ID":"abc","Name":"/web","Image":"sha256:1111",
            "Config":{"Image":"nginx:1.25","Labels":{"team":"blue"}}}"#;
        let c = parse_docker_config(json).unwrap();
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.image.as_deref(), Some("nginx:1.25"));
        assert_eq!(c.labels.get("team").map(String::as_str), Some("blue"));
    }

    #[test]
    fn storage_containers_read_the_nested_metadata_document() {
        let json = r#"[{"id":"aaa","names":["happy_turing"],"image":"bbb",
            "metadata":"{\"image-name\":\"docker.io/library/alpine:3.20\",\"name\":\"happy_turing\"}"},
            {"id":"ccc","names":["x"],"metadata":"not json"}]"#;
        let c = parse_storage_containers(json).unwrap();
        assert_eq!(
            c[0].image_name.as_deref(),
            Some("docker.io/library/alpine:3.20")
        );
        assert_eq!(c[0].name.as_deref(), Some("happy_turing"));
        assert_eq!(c[1].image_name, None);
        assert_eq!(c[1].name.as_deref(), Some("x"));
    }
}
