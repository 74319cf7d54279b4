//! One scan: an SBOM matched against the store, its inventory and findings
//! stored for the continuous re-match, then VEX and `--ignore-unfixed`
//! applied to what is reported. The stored findings are the matches
//! themselves; VEX documents and report filters are inputs of one scan and
//! change only its report.

use bulwark_sbom::Sbom;
use sha2::{Digest, Sha256};

use crate::report::{SCHEMA, ScanReport, Suppressed, Target, TargetLayer};
use crate::rescan::scan_inventory;
use crate::store::{Store, StoreError, StoredInventory};
use crate::vex::{VexDocument, suppression};

/// Report filters.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanOptions {
    /// Leave out findings the advisory names no fixed version for.
    pub ignore_unfixed: bool,
}

/// What the caller read from the image besides its SBOM.
#[derive(Clone, Debug, Default)]
pub struct ImageFacts {
    /// The config digest (the image ID): the key for inputs without a
    /// manifest digest, such as docker archives.
    pub image_id: Option<String>,
    /// The build step (`created_by`) of each layer, base first.
    pub layer_steps: Vec<Option<String>>,
}

/// The key findings of this target are tracked under: the manifest
/// digest, else the image ID, or for inputs with neither (a root
/// filesystem) a digest of the reference.
pub fn target_key(sbom: &Sbom, image_id: Option<&str>) -> String {
    match (&sbom.source.digest, image_id) {
        (Some(d), _) => d.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => format!(
            "{}:sha256:{}",
            sbom.source.kind,
            hex::encode(Sha256::digest(sbom.source.reference.as_bytes()))
        ),
    }
}

fn target(sbom: &Sbom, facts: &ImageFacts, stored_as: String) -> Target {
    let layers = sbom
        .layers
        .iter()
        .map(|l| TargetLayer {
            index: l.index,
            diff_id: l.diff_id.clone(),
            created_by: facts.layer_steps.get(l.index).cloned().flatten(),
        })
        .collect();
    Target {
        reference: sbom.source.reference.clone(),
        digest: sbom.source.digest.clone(),
        stored_as,
        layers,
    }
}

/// Matches, stores and filters.
pub fn scan_sbom(
    store: &Store,
    sbom: &Sbom,
    facts: &ImageFacts,
    vex: &[VexDocument],
    options: ScanOptions,
    now: &str,
) -> Result<ScanReport, StoreError> {
    let (components, unmatched_packages) = crate::sbom::components(sbom);
    let digest = target_key(sbom, facts.image_id.as_deref());
    let inventory = StoredInventory {
        digest: digest.clone(),
        reference: sbom.source.reference.clone(),
        stored_at: now.to_string(),
        components,
    };
    let outcome = scan_inventory(store, &inventory, now)?;
    let image_ids = [sbom.source.reference.as_str(), digest.as_str()];
    let mut findings = Vec::new();
    let mut suppressed = Vec::new();
    for f in outcome.report.findings {
        if options.ignore_unfixed && !f.is_fixed() {
            continue;
        }
        match suppression(vex, &image_ids, &f) {
            Some(vex) => suppressed.push(Suppressed { finding: f, vex }),
            None => findings.push(f),
        }
    }
    Ok(ScanReport {
        schema: SCHEMA,
        target: target(sbom, facts, digest),
        db_built_at: store.built_at()?,
        findings,
        suppressed,
        warnings: outcome.report.warnings,
        unmatched_packages,
        packages: inventory.components,
    })
}
