//! Stored SBOM inventories (by image digest): one row per component, and
//! per component the (ecosystem, package) keys its advisories are stored
//! under, so the continuous re-match reads only the components an import
//! touched.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::matcher::Component;

/// An image's inventory as stored for re-matching.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredInventory {
    pub digest: String,
    pub reference: String,
    pub stored_at: String,
    pub components: Vec<Component>,
}

/// The components of one stored image that hold a changed key.
#[derive(Clone, Debug)]
pub struct TouchedInventory {
    pub digest: String,
    pub reference: String,
    pub components: Vec<Component>,
}

impl Store {
    pub(super) fn data_err(&self, e: serde_json::Error) -> StoreError {
        StoreError::Data {
            path: self.path().display().to_string(),
            detail: e.to_string(),
        }
    }

    /// Stores (or replaces) an image's inventory.
    pub fn put_inventory(&self, inv: &StoredInventory) -> Result<(), StoreError> {
        self.transaction(|| self.insert_inventory(inv))
    }

    /// [`Store::put_inventory`] inside the caller's transaction.
    pub(super) fn insert_inventory(&self, inv: &StoredInventory) -> Result<(), StoreError> {
        let c = self.conn();
        let err = |e| self.err(e);
        c.prepare_cached(
            "INSERT INTO inventories(digest, reference, stored_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(digest) DO UPDATE SET reference = excluded.reference,
               stored_at = excluded.stored_at",
        )
        .and_then(|mut s| s.execute(params![inv.digest, inv.reference, inv.stored_at]))
        .map_err(err)?;
        for table in ["inventory_components", "inventory_keys"] {
            c.prepare_cached(&format!("DELETE FROM {table} WHERE digest = ?1"))
                .and_then(|mut s| s.execute(params![inv.digest]))
                .map_err(err)?;
        }
        let mut component = c
            .prepare_cached(
                "INSERT INTO inventory_components(digest, seq, component) VALUES (?1, ?2, ?3)",
            )
            .map_err(err)?;
        let mut key = c
            .prepare_cached(
                "INSERT OR IGNORE INTO inventory_keys(ecosystem, name, digest, seq)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(err)?;
        for (seq, comp) in inv.components.iter().enumerate() {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            let json = serde_json::to_string(comp).map_err(|e| self.data_err(e))?;
            component
                .execute(params![inv.digest, seq, json])
                .map_err(err)?;
            for (eco, name) in comp.keys() {
                key.execute(params![eco, name, inv.digest, seq])
                    .map_err(err)?;
            }
        }
        Ok(())
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
        let head: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT reference, stored_at FROM inventories WHERE digest = ?1",
                params![digest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((reference, stored_at)) = head else {
            return Ok(None);
        };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT component FROM inventory_components WHERE digest = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![digest]).map_err(|e| self.err(e))?;
        let mut components = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            components.push(self.component_from(row)?);
        }
        Ok(Some(StoredInventory {
            digest: digest.to_string(),
            reference,
            stored_at,
            components,
        }))
    }

    fn component_from(&self, row: &rusqlite::Row<'_>) -> Result<Component, StoreError> {
        let text = row
            .get_ref(0)
            .and_then(|v| Ok(v.as_str()?))
            .map_err(|e| self.err(e))?;
        serde_json::from_str(text).map_err(|e| self.data_err(e))
    }

    /// The stored components holding any of `keys`, by image: only those
    /// rows are read.
    pub fn components_with_keys(
        &self,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<Vec<TouchedInventory>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT digest, seq FROM inventory_keys WHERE ecosystem = ?1 AND name = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut touched: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for (eco, name) in keys {
            let mut rows = stmt.query(params![eco, name]).map_err(|e| self.err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                let digest: String = row.get(0).map_err(|e| self.err(e))?;
                let seq: i64 = row.get(1).map_err(|e| self.err(e))?;
                touched.entry(digest).or_default().insert(seq);
            }
        }
        touched
            .into_iter()
            .map(|(digest, seqs)| self.touched_inventory(digest, &seqs))
            .collect()
    }

    fn touched_inventory(
        &self,
        digest: String,
        seqs: &BTreeSet<i64>,
    ) -> Result<TouchedInventory, StoreError> {
        let reference: String = self
            .conn()
            .prepare_cached("SELECT reference FROM inventories WHERE digest = ?1")
            .and_then(|mut s| s.query_row(params![digest], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT component FROM inventory_components WHERE digest = ?1 AND seq = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut components = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let mut rows = stmt.query(params![digest, seq]).map_err(|e| self.err(e))?;
            if let Some(row) = rows.next().map_err(|e| self.err(e))? {
                components.push(self.component_from(row)?);
            }
        }
        Ok(TouchedInventory {
            digest,
            reference,
            components,
        })
    }
}
