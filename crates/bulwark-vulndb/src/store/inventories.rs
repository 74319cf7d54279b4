//! Stored SBOM inventories (by image digest), the findings each one has
//! now with their first-seen times, and the event log of new and resolved
//! findings.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::matcher::{Component, Finding};

/// An image's inventory as stored for re-matching.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredInventory {
    pub digest: String,
    pub reference: String,
    pub stored_at: String,
    pub components: Vec<Component>,
}

/// A finding with its history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredFinding {
    pub digest: String,
    pub first_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    pub finding: Finding,
}

/// A finding that appeared or went away, one JSON line each.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FindingEvent {
    /// `new` or `resolved`.
    pub event: String,
    pub at: String,
    pub image_digest: String,
    pub image: String,
    pub first_seen: String,
    pub finding: Finding,
}

impl Store {
    fn data_err(&self, e: serde_json::Error) -> StoreError {
        StoreError::Data {
            path: self.path().display().to_string(),
            detail: e.to_string(),
        }
    }

    /// Stores (or replaces) an image's inventory.
    pub fn put_inventory(&self, inv: &StoredInventory) -> Result<(), StoreError> {
        let json = serde_json::to_string(&inv.components).map_err(|e| self.data_err(e))?;
        self.transaction(|| {
            let c = self.conn();
            let err = |e| self.err(e);
            c.execute(
                "INSERT INTO inventories(digest, reference, stored_at, inventory) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(digest) DO UPDATE SET reference = excluded.reference,
                   stored_at = excluded.stored_at, inventory = excluded.inventory",
                params![inv.digest, inv.reference, inv.stored_at, json],
            )
            .map_err(err)?;
            c.execute("DELETE FROM inventory_keys WHERE digest = ?1", params![inv.digest])
                .map_err(err)?;
            let mut insert = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO inventory_keys(ecosystem, name, digest) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for comp in &inv.components {
                for (eco, name) in comp.keys() {
                    insert.execute(params![eco, name, inv.digest]).map_err(err)?;
                }
            }
            Ok(())
        })
    }

    fn inventory_from_row(
        &self,
        row: (String, String, String, String),
    ) -> Result<StoredInventory, StoreError> {
        let (digest, reference, stored_at, json) = row;
        Ok(StoredInventory {
            digest,
            reference,
            stored_at,
            components: serde_json::from_str(&json).map_err(|e| self.data_err(e))?,
        })
    }

    /// How many inventories are stored.
    pub fn inventory_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM inventories", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// The stored inventory of one image.
    pub fn inventory(&self, digest: &str) -> Result<Option<StoredInventory>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT digest, reference, stored_at, inventory FROM inventories WHERE digest = ?1",
                params![digest],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|r| self.inventory_from_row(r)).transpose()
    }

    /// Digests of the stored inventories containing any of `keys`.
    pub fn inventories_with_keys(
        &self,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT digest FROM inventory_keys WHERE ecosystem = ?1 AND name = ?2")
            .map_err(|e| self.err(e))?;
        let mut out = BTreeSet::new();
        for (eco, name) in keys {
            let rows = stmt
                .query_map(params![eco, name], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            for digest in rows {
                out.insert(digest.map_err(|e| self.err(e))?);
            }
        }
        Ok(out)
    }

    /// Open (unresolved) findings of an image.
    pub fn open_findings(&self, digest: &str) -> Result<Vec<StoredFinding>, StoreError> {
        self.findings_where("digest = ?1 AND resolved_at IS NULL", digest)
    }

    fn findings_where(&self, filter: &str, arg: &str) -> Result<Vec<StoredFinding>, StoreError> {
        let sql = format!(
            "SELECT digest, first_seen, resolved_at, finding FROM findings WHERE {filter} ORDER BY finding_id"
        );
        let mut stmt = self.conn().prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![arg], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (digest, first_seen, resolved_at, json) = row.map_err(|e| self.err(e))?;
            out.push(self.stored_finding(digest, first_seen, resolved_at, &json)?);
        }
        Ok(out)
    }

    fn stored_finding(
        &self,
        digest: String,
        first_seen: String,
        resolved_at: Option<String>,
        json: &str,
    ) -> Result<StoredFinding, StoreError> {
        Ok(StoredFinding {
            digest,
            first_seen,
            resolved_at,
            finding: serde_json::from_str(json).map_err(|e| self.data_err(e))?,
        })
    }

    /// Open findings of an image's components in `scope` (component ids,
    /// [`Finding::component_id`]): which ones from the covering index, then
    /// only those rows read and parsed.
    fn open_findings_of(
        &self,
        digest: &str,
        scope: &BTreeSet<String>,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let mut ids = self
            .conn()
            .prepare_cached(
                "SELECT finding_id, vuln_id FROM findings INDEXED BY findings_open
                 WHERE digest = ?1 AND resolved_at IS NULL",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = ids.query(params![digest]).map_err(|e| self.err(e))?;
        let mut wanted = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let (id, vuln): (String, String) = (
                r.get(0).map_err(|e| self.err(e))?,
                r.get(1).map_err(|e| self.err(e))?,
            );
            let component = id
                .strip_prefix(vuln.as_str())
                .and_then(|rest| rest.strip_prefix('/'));
            if component.is_some_and(|c| scope.contains(c)) {
                wanted.push(id);
            }
        }
        let mut one = self
            .conn()
            .prepare_cached(
                "SELECT first_seen, finding FROM findings WHERE digest = ?1 AND finding_id = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(wanted.len());
        for id in wanted {
            let (first_seen, json): (String, String) = one
                .query_row(params![digest, id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?;
            out.push(self.stored_finding(digest.to_string(), first_seen, None, &json)?);
        }
        Ok(out)
    }

    /// Every stored finding (open or resolved) whose id or vulnerability id
    /// is `key`.
    pub fn findings_named(&self, key: &str) -> Result<Vec<StoredFinding>, StoreError> {
        let mut out = self.findings_where("finding_id = ?1", key)?;
        if out.is_empty() {
            out = self.findings_where("vuln_id = ?1", key)?;
        }
        Ok(out)
    }

    /// Records that `current` is the full set of findings of an image now:
    /// new ones get a first-seen time, vanished ones are resolved; both
    /// become events. Returns the events, oldest first.
    pub fn record_findings(
        &self,
        digest: &str,
        image: &str,
        current: &[Finding],
        now: &str,
    ) -> Result<Vec<FindingEvent>, StoreError> {
        self.record_findings_in(digest, image, None, current, now)
    }

    /// [`Store::record_findings`] for part of an image: `current` is the
    /// full set of findings of the components in `scope` (component ids,
    /// [`Finding::component_id`]); open findings of other components stand
    /// and are not even read.
    pub fn record_findings_in(
        &self,
        digest: &str,
        image: &str,
        scope: Option<&BTreeSet<String>>,
        current: &[Finding],
        now: &str,
    ) -> Result<Vec<FindingEvent>, StoreError> {
        let open = match scope {
            Some(scope) => self.open_findings_of(digest, scope)?,
            None => self.open_findings(digest)?,
        };
        let open: BTreeMap<String, StoredFinding> = open
            .into_iter()
            .map(|f| (f.finding.id.clone(), f))
            .collect();
        let mut events = Vec::new();
        let current_ids: BTreeSet<&str> = current.iter().map(|f| f.id.as_str()).collect();
        for f in current {
            if let Some(prev) = open.get(&f.id) {
                // Still there: refresh the details (severity may change).
                if prev.finding != *f {
                    self.upsert_finding(digest, f, &prev.first_seen, None)?;
                }
                continue;
            }
            self.upsert_finding(digest, f, now, None)?;
            events.push(FindingEvent {
                event: "new".into(),
                at: now.into(),
                image_digest: digest.into(),
                image: image.into(),
                first_seen: now.into(),
                finding: f.clone(),
            });
        }
        for (id, prev) in &open {
            if current_ids.contains(id.as_str()) {
                continue;
            }
            self.upsert_finding(digest, &prev.finding, &prev.first_seen, Some(now))?;
            events.push(FindingEvent {
                event: "resolved".into(),
                at: now.into(),
                image_digest: digest.into(),
                image: image.into(),
                first_seen: prev.first_seen.clone(),
                finding: prev.finding.clone(),
            });
        }
        for e in &events {
            let json = serde_json::to_string(e).map_err(|e| self.data_err(e))?;
            self.conn()
                .prepare_cached("INSERT INTO events(at, event) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![e.at, json]))
                .map_err(|e| self.err(e))?;
        }
        Ok(events)
    }

    fn upsert_finding(
        &self,
        digest: &str,
        f: &Finding,
        first_seen: &str,
        resolved_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(f).map_err(|e| self.data_err(e))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO findings(digest, finding_id, vuln_id, first_seen, resolved_at, finding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(digest, finding_id) DO UPDATE SET vuln_id = excluded.vuln_id,
                   first_seen = excluded.first_seen, resolved_at = excluded.resolved_at,
                   finding = excluded.finding",
            )
            .and_then(|mut s| s.execute(params![digest, f.id, f.vuln_id, first_seen, resolved_at, json]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Events at or after `since` (RFC 3339), oldest first.
    pub fn events_since(&self, since: &str) -> Result<Vec<FindingEvent>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT event FROM events WHERE at >= ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let json = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&json).map_err(|e| self.data_err(e))?);
        }
        Ok(out)
    }
}
