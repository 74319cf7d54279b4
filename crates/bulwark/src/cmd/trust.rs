//! What `bulwark verify` and `bulwark admission` share: the policy, trust
//! root and image store options, and the gate built from them.

mod layout;
mod registry;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_image::registry::RegistryOptions;
use bulwark_trust::evidence::ArtifactStore;
use bulwark_trust::gate::{Gate, GateOptions};
use bulwark_trust::policy::{PolicySet, Unmatched};
use bulwark_trust::signature::TrustRoot;

pub use layout::LayoutStore;
pub use registry::RegistryStore;

/// Policy, trust root and where images come from.
#[derive(clap::Args, Debug, Clone)]
pub struct TrustArgs {
    /// ImagePolicy YAML (one or more `---`-separated documents).
    #[arg(long)]
    pub policy: PathBuf,
    /// Sigstore `trusted_root.json` for keyless signatures and transparency
    /// logs (offline: never fetched).
    #[arg(long = "trusted-root")]
    pub trusted_root: Option<PathBuf>,
    /// OCI image layout directory holding the images and their signatures;
    /// without it, images are read from their registries.
    #[arg(long)]
    pub layout: Option<PathBuf>,
    /// Extra PEM CA certificates to trust for registries.
    #[arg(long = "registry-ca")]
    pub registry_ca: Vec<PathBuf>,
    /// Talk plain HTTP to registries (credentials only go to loopback).
    #[arg(long = "plain-http")]
    pub plain_http: bool,
    /// Registry network timeout per operation, seconds.
    #[arg(long = "registry-timeout", default_value_t = 10)]
    pub registry_timeout: u64,
    /// Allow images no policy selects (default: deny them).
    #[arg(long)]
    pub allow_unmatched: bool,
}

impl TrustArgs {
    pub fn policies(&self) -> anyhow::Result<PolicySet> {
        let text = std::fs::read_to_string(&self.policy)
            .with_context(|| format!("read policy {}", self.policy.display()))?;
        let set = PolicySet::from_yaml(&text)
            .with_context(|| format!("policy {}", self.policy.display()))?;
        Ok(set.with_unmatched(if self.allow_unmatched {
            Unmatched::Allow
        } else {
            Unmatched::Deny
        }))
    }

    pub fn trust_root(&self) -> anyhow::Result<Option<TrustRoot>> {
        let Some(path) = &self.trusted_root else {
            return Ok(None);
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("read trusted root {}", path.display()))?;
        let root = TrustRoot::from_json(&bytes)
            .with_context(|| format!("trusted root {}", path.display()))?;
        Ok(Some(root))
    }

    /// Where images are read from: the layout if given, else registries.
    pub fn store(&self) -> anyhow::Result<Arc<dyn ArtifactStore>> {
        Ok(match &self.layout {
            Some(dir) => Arc::new(LayoutStore::open(dir)?),
            None => Arc::new(RegistryStore::new(&RegistryOptions {
                ca_files: self.registry_ca.clone(),
                plain_http: self.plain_http,
                timeout_secs: self.registry_timeout,
                ..RegistryOptions::default()
            })?),
        })
    }

    pub fn gate(&self, options: GateOptions) -> anyhow::Result<Gate> {
        Ok(Gate::new(
            self.store()?,
            self.policies()?,
            self.trust_root()?,
            options,
        ))
    }
}
