//! Scanning an inventory against the store, and the continuous re-match:
//! after an import, only the stored inventories that contain a changed
//! (ecosystem, package) key are matched again, and the difference to their
//! open findings becomes `new`/`resolved` events.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::matcher::{AdvisorySource, MatchReport, match_components};
use crate::osv::Vulnerability;
use crate::store::{FindingEvent, Store, StoreError, StoredInventory};

/// (ecosystem, normalised package name).
type Key = (String, String);

/// The store as an [`AdvisorySource`]: knows which keys have advisories
/// (one query up front) and caches what it loaded.
pub struct StoreAdvisories<'s> {
    store: &'s Store,
    known: HashSet<(String, String)>,
    cache: RefCell<HashMap<Key, Vec<Arc<Vulnerability>>>>,
    /// Parsed records by id: a record naming many packages is parsed once.
    records: RefCell<HashMap<String, Arc<Vulnerability>>>,
}

impl<'s> StoreAdvisories<'s> {
    pub fn new(store: &'s Store) -> Result<Self, StoreError> {
        Ok(StoreAdvisories {
            store,
            known: store.all_keys()?,
            cache: RefCell::default(),
            records: RefCell::default(),
        })
    }
}

impl AdvisorySource for StoreAdvisories<'_> {
    type Error = StoreError;

    fn advisories(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<Arc<Vulnerability>>, StoreError> {
        let key = (ecosystem.to_string(), name.to_string());
        if !self.known.contains(&key) {
            return Ok(Vec::new());
        }
        if let Some(hit) = self.cache.borrow().get(&key) {
            return Ok(hit.clone());
        }
        let mut found = Vec::new();
        self.store
            .each_advisory_for(ecosystem, name, &mut |id, text| {
                let cached = self.records.borrow().get(id).cloned();
                let record = match cached {
                    Some(r) => r,
                    None => {
                        let r = Arc::new(self.store.parse_record(text)?);
                        self.records
                            .borrow_mut()
                            .insert(id.to_string(), Arc::clone(&r));
                        r
                    }
                };
                found.push(record);
                Ok(())
            })?;
        self.cache.borrow_mut().insert(key, found.clone());
        Ok(found)
    }
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
    let report = match_components(&inv.components, source)?;
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
    /// Stored inventories in total (the rest were not touched).
    pub stored: u64,
    pub events: Vec<FindingEvent>,
}

/// Re-matches the stored inventories that contain any of `changed_keys`.
pub fn rematch(
    store: &Store,
    changed_keys: &BTreeSet<(String, String)>,
    now: &str,
) -> Result<RematchSummary, StoreError> {
    let digests = store.inventories_with_keys(changed_keys)?;
    let mut summary = RematchSummary {
        rematched: digests.len(),
        stored: store.inventory_count()?,
        events: Vec::new(),
    };
    if digests.is_empty() {
        return Ok(summary);
    }
    let source = StoreAdvisories::new(store)?;
    store.transaction(|| {
        for digest in &digests {
            let Some(inv) = store.inventory(digest)? else {
                continue;
            };
            let report = match_components(&inv.components, &source)?;
            summary.events.extend(store.record_findings(
                &inv.digest,
                &inv.reference,
                &report.findings,
                now,
            )?);
        }
        Ok(())
    })?;
    Ok(summary)
}
