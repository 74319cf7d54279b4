//! What `bulwark verify` and `bulwark admission` share: the policy, trust
//! root and image store options, and the gate built from them.

mod layout;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_trust::gate::{Gate, GateOptions};
use bulwark_trust::policy::{PolicySet, Unmatched};
use bulwark_trust::signature::TrustRoot;

pub use layout::LayoutStore;

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
    /// OCI image layout directory holding the images and their signatures.
    #[arg(long)]
    pub layout: PathBuf,
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

    pub fn gate(&self, options: GateOptions) -> anyhow::Result<Gate> {
        let store = LayoutStore::open(&self.layout)?;
        Ok(Gate::new(
            Arc::new(store),
            self.policies()?,
            self.trust_root()?,
            options,
        ))
    }
}
