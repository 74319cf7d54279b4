//! Findings for `findings` limits: the image cataloged by `bulwark-sbom`,
//! matched by `bulwark-vulndb` against the local store (read only: verify
//! and admission do not record inventories), minus what OpenVEX documents
//! say does not apply.

use std::path::PathBuf;

use bulwark_sbom::Sbom;
use bulwark_trust::evidence::Finding;
use bulwark_trust::{Digest, ImageRef};
use bulwark_vulndb::matcher::match_components;
use bulwark_vulndb::rescan::StoreAdvisories;
use bulwark_vulndb::store::Store;
use bulwark_vulndb::vex::{self, VexDocument};

use crate::cmd::db::StaleArgs;

/// The vulnerability store and how to judge it.
pub struct VulnSource {
    pub db: PathBuf,
    pub stale: StaleArgs,
    pub vex: Vec<VexDocument>,
}

impl VulnSource {
    /// The store, if it exists and is fresh enough under the staleness
    /// policy; checked before the image is read.
    pub fn store(&self) -> Result<Store, String> {
        let store = Store::open_existing(&self.db).map_err(|e| e.to_string())?;
        self.stale.enforce(&store).map_err(|e| format!("{e:#}"))?;
        Ok(store)
    }

    /// Findings of `sbom` (the image at `digest`, as `reference` names it)
    /// in `store`.
    pub fn findings(
        &self,
        store: &Store,
        sbom: &Sbom,
        reference: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Finding>, String> {
        let (components, _) = bulwark_vulndb::sbom::components(sbom);
        let source = StoreAdvisories::new(store).map_err(|e| e.to_string())?;
        let report = match_components(&components, &source).map_err(|e| e.to_string())?;
        let name = reference.to_string();
        let pinned = reference.with_digest(digest.clone()).pinned_form();
        let digest = digest.to_string();
        let ids = [name.as_str(), pinned.as_str(), digest.as_str()];
        Ok(report
            .findings
            .into_iter()
            .filter(|f| vex::suppression(&self.vex, &ids, f).is_none())
            .map(|f| Finding {
                id: f.vuln_id.to_string(),
                package: format!("{}@{}", f.package, f.installed_version),
                severity: f.severity,
                fixed_version: f.fixed_version.map(|v| v.to_string()),
            })
            .collect())
    }
}
