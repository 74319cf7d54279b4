//! What `bulwark verify` and `bulwark admission` share: the policy, trust
//! root and image store options, and the gate built from them.

mod inspect;
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

pub use inspect::Inspector;
pub(crate) use inspect::setuid;
pub use layout::LayoutStore;
pub use registry::RegistryStore;

use super::DataDir;
use super::db::StaleArgs;
use inspect::{LayerSource, VulnSource};

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
    /// The vulnerability DB (`DATA/vulndb/vulndb.sqlite`) that `findings`
    /// limits match images against.
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub stale: StaleArgs,
    /// OpenVEX documents: findings they mark `not_affected` or `fixed` do
    /// not count against `findings` limits.
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<PathBuf>,
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

    fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            ca_files: self.registry_ca.clone(),
            plain_http: self.plain_http,
            timeout_secs: self.registry_timeout,
            ..RegistryOptions::default()
        }
    }

    /// Where images are read from (the layout if given, else registries),
    /// and the inspector that reads their layers from the same place.
    pub fn store(&self) -> anyhow::Result<(Arc<dyn ArtifactStore>, Inspector)> {
        let (store, layers): (Arc<dyn ArtifactStore>, LayerSource) = match &self.layout {
            Some(dir) => {
                let layout = Arc::new(LayoutStore::open(dir)?);
                (layout.clone(), LayerSource::Layout(layout))
            }
            None => (
                Arc::new(RegistryStore::new(&self.registry_options())?),
                LayerSource::Registry(self.registry_options()),
            ),
        };
        let mut vex = Vec::new();
        for path in &self.vex {
            let bytes =
                std::fs::read(path).with_context(|| format!("read VEX {}", path.display()))?;
            vex.push(bulwark_vulndb::vex::parse(
                &path.display().to_string(),
                &bytes,
            )?);
        }
        let inspector = Inspector {
            source: layers,
            vulns: VulnSource {
                db: self.data.vulndb(),
                stale: self.stale.clone(),
                vex,
            },
        };
        Ok((store, inspector))
    }

    pub fn gate(&self, options: GateOptions) -> anyhow::Result<Gate> {
        let (store, inspector) = self.store()?;
        Ok(
            Gate::new(store, self.policies()?, self.trust_root()?, options)
                .with_enricher(Arc::new(inspector)),
        )
    }
}
