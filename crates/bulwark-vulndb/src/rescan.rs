//! Scanning an inventory against the store, and the continuous re-match:
//! after an import, only the stored inventories that contain a changed
//! (ecosystem, package) key are matched again, and the difference to their
//! open findings becomes `new`/`resolved` events.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::matcher::{
    AdvisorySource, Candidate, Candidates, Component, Finding, MatchReport, match_components,
};
use crate::store::{FindingEvent, Store, StoreError, StoredInventory};

/// The store as an [`AdvisorySource`]: one indexed lookup per key through
/// a cached prepared statement (none for keys of an ecosystem no record
/// names, such as `AlmaLinux` without a release), and the candidates kept
/// in memory for the next SBOM that holds the same package.
pub struct StoreAdvisories<'s> {
    store: &'s Store,
    /// By ecosystem, then name.
    cache: RefCell<FxHashMap<String, FxHashMap<String, Candidates>>>,
    /// The ecosystems of the stored keys, read on the first lookup (inside
    /// the caller's read transaction).
    ecosystems: RefCell<Option<BTreeSet<String>>>,
}

impl<'s> StoreAdvisories<'s> {
    pub fn new(store: &'s Store) -> Result<Self, StoreError> {
        Ok(StoreAdvisories {
            store,
            cache: RefCell::default(),
            ecosystems: RefCell::default(),
        })
    }
}

impl AdvisorySource for StoreAdvisories<'_> {
    type Error = StoreError;

    fn advisories(&self, ecosystem: &str, name: &str) -> Result<Vec<Arc<Candidate>>, StoreError> {
        Ok(self
            .advisories_for_keys(&[(ecosystem, name)])?
            .pop()
            .map(|c| c.to_vec())
            .unwrap_or_default())
    }

    fn advisories_for_keys(&self, keys: &[(&str, &str)]) -> Result<Vec<Candidates>, StoreError> {
        let mut ecosystems = self.ecosystems.borrow_mut();
        let ecosystems = match &mut *ecosystems {
            Some(e) => e,
            empty => empty.insert(self.store.advisory_ecosystems()?),
        };
        let mut cache = self.cache.borrow_mut();
        let none: Candidates = Arc::new([]);
        let mut out = Vec::with_capacity(keys.len());
        for &(eco, name) in keys {
            if !ecosystems.contains(eco) {
                out.push(none.clone());
                continue;
            }
            if let Some(hit) = cache.get(eco).and_then(|names| names.get(name)) {
                out.push(hit.clone());
                continue;
            }
            let found: Candidates = self
                .store
                .candidates_for(eco, name)?
                .into_iter()
                .map(Arc::new)
                .collect();
            cache
                .entry(eco.to_string())
                .or_default()
                .insert(name.to_string(), found.clone());
            out.push(found);
        }
        Ok(out)
    }
}

/// Matches `components` against the store in one read transaction.
pub fn match_in_store(
    store: &Store,
    source: &StoreAdvisories<'_>,
    components: &[Component],
) -> Result<MatchReport, StoreError> {
    store.read(|| match_components(components, source))
}

/// Result of scanning one inventory.
#[derive(Debug, Serialize)]
pub struct ScanOutcome {
    pub report: MatchReport,
    pub events: Vec<FindingEvent>,
}

/// Stores the inventory, matches it, and records its findings.
pub fn scan_inventory(
    store: &Store,
    inv: &StoredInventory,
    now: &str,
) -> Result<ScanOutcome, StoreError> {
    scan_inventory_with(store, &StoreAdvisories::new(store)?, inv, now)
}

/// [`scan_inventory`] with an advisory source shared across scans.
pub fn scan_inventory_with(
    store: &Store,
    source: &StoreAdvisories<'_>,
    inv: &StoredInventory,
    now: &str,
) -> Result<ScanOutcome, StoreError> {
    store.put_inventory(inv)?;
    let report = match_in_store(store, source, &inv.components)?;
    let events = store.transaction(|| {
        store.record_findings(&inv.digest, &inv.reference, &report.findings, now)
    })?;
    Ok(ScanOutcome { report, events })
}

/// What a re-match after an import did.
#[derive(Debug, Default, Serialize)]
pub struct RematchSummary {
    /// Stored inventories that held an affected key and were matched again.
    pub rematched: usize,
    /// Components matched again, over all those inventories (only the
    /// ones holding a changed key).
    pub components: usize,
    /// Stored inventories in total (the rest were not touched).
    pub stored: u64,
    /// Open findings whose details changed and were rewritten (no event).
    pub updated: usize,
    pub events: Vec<FindingEvent>,
}

/// Re-matches, in the stored inventories that contain any of
/// `changed_keys`, the components holding such a key (only those rows are
/// read); the findings of every other component stand as they are.
pub fn rematch(
    store: &Store,
    changed_keys: &BTreeSet<(String, String)>,
    now: &str,
) -> Result<RematchSummary, StoreError> {
    let mut summary = RematchSummary {
        stored: store.inventory_count()?,
        ..RematchSummary::default()
    };
    if changed_keys.is_empty() {
        return Ok(summary);
    }
    let source = StoreAdvisories::new(store)?;
    store.transaction(|| {
        for touched in store.components_with_keys(changed_keys)? {
            summary.rematched += 1;
            summary.components += touched.components.len();
            let report = match_components(&touched.components, &source)?;
            let scope: BTreeSet<String> = touched
                .components
                .iter()
                .map(Finding::component_id)
                .collect();
            let recorded = store.record_findings_in(
                &touched.digest,
                &touched.reference,
                Some(&scope),
                &report.findings,
                now,
            )?;
            summary.updated += recorded.updated;
            summary.events.extend(recorded.events);
        }
        Ok(())
    })?;
    Ok(summary)
}
