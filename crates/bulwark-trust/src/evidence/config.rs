//! The parts of an OCI/Docker image configuration the policy checks.

use serde::Deserialize;

use crate::digest::Digest;

/// Image configuration: user, environment, healthcheck, history, layers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageConfig {
    pub user: String,
    pub env: Vec<String>,
    /// `Healthcheck.Test`, when set (`["NONE"]` disables it).
    pub healthcheck: Option<Vec<String>>,
    /// `history[].created_by`, in build order.
    pub history: Vec<String>,
    /// `rootfs.diff_ids`: digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// A file with the set-uid or set-gid bit, and the layer that added it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetuidFile {
    pub layer: usize,
    pub path: String,
    pub mode: u32,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    history: Vec<RawHistory>,
    rootfs: RawRootfs,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(rename = "User", default)]
    user: Option<String>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
    #[serde(rename = "Healthcheck", default)]
    healthcheck: Option<RawHealthcheck>,
}

#[derive(Deserialize)]
struct RawHealthcheck {
    #[serde(rename = "Test", default)]
    test: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(default)]
    created_by: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<Digest>,
}

impl ImageConfig {
    /// Parse an image configuration blob.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, String> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("image config: {e}"))?;
        if raw.rootfs.kind != "layers" {
            return Err(format!(
                "image config: rootfs.type {:?} is not \"layers\"",
                raw.rootfs.kind
            ));
        }
        let config = raw.config.unwrap_or_default();
        Ok(ImageConfig {
            user: config.user.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            healthcheck: config.healthcheck.and_then(|h| h.test),
            history: raw
                .history
                .into_iter()
                .filter_map(|h| h.created_by)
                .collect(),
            diff_ids: raw.rootfs.diff_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_style_config() {
        let d = Digest::of(b"layer");
        let json = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"User": "app", "Env": ["PATH=/bin"], "Healthcheck": {"Test": ["CMD", "true"]}},
            "history": [{"created_by": "ADD file:x in /"}, {"empty_layer": true}],
            "rootfs": {"type": "layers", "diff_ids": [d.to_string()]}
        });
        let c = ImageConfig::parse(json.to_string().as_bytes()).unwrap();
        assert_eq!(c.user, "app");
        assert_eq!(c.diff_ids, vec![d]);
        assert_eq!(c.history.len(), 1);
    }

    #[test]
    fn rejects_config_without_layers() {
        assert!(ImageConfig::parse(br#"{"rootfs": {"type": "x", "diff_ids": []}}"#).is_err());
        assert!(ImageConfig::parse(b"[]").is_err());
    }
}
