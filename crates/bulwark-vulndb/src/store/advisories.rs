//! Advisories in the store: importing records with change detection,
//! looking them up by (ecosystem, package), and the DB metadata.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};
use crate::matcher::Candidate;
use crate::osv::{Record, Vulnerability};
use crate::time_fmt;

/// What happened to one imported record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Added,
    /// Content changed (by content hash) and `modified` is not older.
    Changed,
    /// Same content as stored: nothing written.
    Unchanged,
    /// Older `modified` than the stored record with the same id: ignored.
    Stale,
}

/// Counts of one import, and the (ecosystem, package) keys whose advisories
/// changed (before or after), which drive the continuous re-match.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportSummary {
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub invalid: u64,
    #[serde(skip)]
    pub changed_keys: BTreeSet<(String, String)>,
}

/// Writes records of one import; created by [`Store::import`].
pub struct Importer<'s> {
    store: &'s Store,
    source: String,
    now: String,
    summary: ImportSummary,
}

/// Orders two `modified` timestamps (RFC 3339; text order as a fallback).
fn cmp_modified(a: &str, b: &str) -> Ordering {
    match (time_fmt::parse(a), time_fmt::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

impl Importer<'_> {
    /// Stores one record (or not, when unchanged or stale).
    pub fn put(&mut self, record: &Record) -> Result<PutOutcome, StoreError> {
        let conn = self.store.conn();
        let err = |e| self.store.err(e);
        let id = &record.vuln.id;
        let existing: Option<(String, String)> = conn
            .prepare_cached("SELECT modified, content_hash FROM vulns WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(err)?;
        let outcome = match &existing {
            None => PutOutcome::Added,
            Some((_, hash)) if *hash == record.content_hash => PutOutcome::Unchanged,
            Some((modified, _)) if cmp_modified(&record.vuln.modified, modified).is_lt() => {
                PutOutcome::Stale
            }
            Some(_) => PutOutcome::Changed,
        };
        match outcome {
            PutOutcome::Unchanged => self.summary.unchanged += 1,
            PutOutcome::Stale => self.summary.stale += 1,
            PutOutcome::Added | PutOutcome::Changed => {
                self.write(record, outcome == PutOutcome::Changed)?;
            }
        }
        Ok(outcome)
    }

    fn write(&mut self, record: &Record, replacing: bool) -> Result<(), StoreError> {
        let conn = self.store.conn();
        let err = |e| self.store.err(e);
        let id = &record.vuln.id;
        if replacing {
            let old = self.store.keys_of(id)?;
            self.summary.changed_keys.extend(old);
            conn.prepare_cached("DELETE FROM affected_keys WHERE vuln_id = ?1")
                .and_then(|mut s| s.execute(params![id]))
                .map_err(err)?;
            self.summary.changed += 1;
        } else {
            self.summary.added += 1;
        }
        let raw = serde_json::to_string(&record.raw).map_err(|e| StoreError::Data {
            path: self.store.path().display().to_string(),
            detail: e.to_string(),
        })?;
        conn.prepare_cached(
            "INSERT INTO vulns(id, modified, content_hash, source, withdrawn, imported_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET modified = excluded.modified,
               content_hash = excluded.content_hash, source = excluded.source,
               withdrawn = excluded.withdrawn, imported_at = excluded.imported_at,
               record = excluded.record",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                record.vuln.modified,
                record.content_hash,
                self.source,
                record.vuln.withdrawn.is_some(),
                self.now,
                raw
            ])
        })
        .map_err(err)?;
        let keys = self.store.put_candidates(&record.vuln)?;
        self.summary.changed_keys.extend(keys);
        Ok(())
    }

    /// Counts a record that could not be read.
    pub fn invalid(&mut self) {
        self.summary.invalid += 1;
    }
}

/// Metadata shown by `bulwark db status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub path: String,
    pub schema_version: String,
    pub size_bytes: u64,
    /// When the last import finished (RFC 3339), if any.
    pub built_at: Option<String>,
    pub records: u64,
    pub withdrawn: u64,
    pub package_keys: u64,
    pub newest_modified: Option<String>,
    pub sources: Vec<SourceStatus>,
    pub stored_sboms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceStatus {
    pub name: String,
    pub imported_at: String,
    pub records: u64,
    pub invalid: u64,
    pub newest_modified: Option<String>,
}

impl Store {
    /// Stores the record's digested entries under every key it names;
    /// returns the keys.
    pub(crate) fn put_candidates(
        &self,
        vuln: &Vulnerability,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut insert = self
            .conn()
            .prepare_cached(
                "INSERT OR REPLACE INTO affected_keys(ecosystem, name, vuln_id, candidate)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| self.err(e))?;
        let mut keys = Vec::new();
        for ((eco, name), candidate) in Candidate::all_of(vuln) {
            insert
                .execute(params![eco, name, vuln.id, candidate.to_bytes()])
                .map_err(|e| self.err(e))?;
            keys.push((eco, name));
        }
        Ok(keys)
    }

    /// The digested entries of every record naming `name` in `ecosystem`
    /// (exact string, release suffix included), by record id.
    pub fn candidates_for(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<Candidate>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT candidate FROM affected_keys WHERE ecosystem = ?1 AND name = ?2
                 ORDER BY vuln_id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![ecosystem, name])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let bytes = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(|e| self.err(e))?;
            out.push(Candidate::from_bytes(bytes).map_err(|e| StoreError::Data {
                path: self.path().display().to_string(),
                detail: format!("candidate of ({ecosystem}, {name}): {e}"),
            })?);
        }
        Ok(out)
    }

    /// Imports records in one transaction. `f` receives an [`Importer`];
    /// when it fails nothing of this import is kept.
    pub fn import<E: From<StoreError>>(
        &self,
        source: &str,
        now: std::time::SystemTime,
        f: impl FnOnce(&mut Importer<'_>) -> Result<(), E>,
    ) -> Result<ImportSummary, E> {
        let now = time_fmt::format(now);
        let mut importer = Importer {
            store: self,
            source: source.to_string(),
            now: now.clone(),
            summary: ImportSummary::default(),
        };
        self.conn()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| E::from(self.err(e)))?;
        let result = f(&mut importer).and_then(|()| {
            let s = &importer.summary;
            self.conn()
                .execute(
                    "INSERT INTO sources(name, imported_at, invalid) VALUES (?1, ?2, ?3)
                     ON CONFLICT(name) DO UPDATE SET imported_at = excluded.imported_at,
                       invalid = excluded.invalid",
                    params![source, now, i64::try_from(s.invalid).unwrap_or(i64::MAX)],
                )
                .map_err(|e| E::from(self.err(e)))?;
            self.set_meta("built_at", &now).map_err(E::from)?;
            self.conn()
                .execute_batch("COMMIT")
                .map_err(|e| E::from(self.err(e)))
        });
        match result {
            Ok(()) => Ok(importer.summary),
            Err(e) => {
                // The original error is what the caller needs to see.
                let _ = self.conn().execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The keys a stored record names.
    pub(crate) fn keys_of(&self, id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT ecosystem, name FROM affected_keys WHERE vuln_id = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every record naming `name` in `ecosystem` (exact string, release
    /// suffix included).
    pub fn advisories_for(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<Vulnerability>, StoreError> {
        let mut out = Vec::new();
        self.each_advisory_for(ecosystem, name, &mut |_, text| {
            out.push(self.parse_record(text)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f(id, record_json)` for every record naming `name` in
    /// `ecosystem`, so callers can skip parsing records they already hold.
    pub fn each_advisory_for(
        &self,
        ecosystem: &str,
        name: &str,
        f: &mut dyn FnMut(&str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT v.id, v.record FROM affected_keys k JOIN vulns v ON v.id = k.vuln_id
                 WHERE k.ecosystem = ?1 AND k.name = ?2 ORDER BY v.id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![ecosystem, name])
            .map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let id: &str = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.err(e))?;
            let text: &str = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.err(e))?;
            f(id, text)?;
        }
        Ok(())
    }

    /// Parses a stored record.
    pub fn parse_record(&self, text: &str) -> Result<Vulnerability, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Data {
            path: self.path().display().to_string(),
            detail: e.to_string(),
        })
    }

    /// The ids of every stored record, sorted.
    pub fn record_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id FROM vulns ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The distinct ecosystems of the stored keys (with release), one
    /// index seek each instead of a scan of every key.
    pub fn advisory_ecosystems(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "WITH RECURSIVE e(x) AS (
                     SELECT (SELECT min(ecosystem) FROM affected_keys)
                     UNION ALL
                     SELECT (SELECT min(ecosystem) FROM affected_keys WHERE ecosystem > x)
                     FROM e WHERE x IS NOT NULL)
                 SELECT x FROM e WHERE x IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every (ecosystem, name) key that has at least one advisory.
    pub fn all_keys(&self) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT DISTINCT ecosystem, name FROM affected_keys")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The stored record as imported (normalised JSON), by id or alias.
    pub fn record(&self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row("SELECT record FROM vulns WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Data {
                path: self.path().display().to_string(),
                detail: e.to_string(),
            })
    }

    /// DB metadata for `bulwark db status`.
    pub fn status(&self) -> Result<Status, StoreError> {
        let err = |e| self.err(e);
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn()
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(err)
        };
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT s.name, s.imported_at, s.invalid, count(v.id), max(v.modified)
                 FROM sources s LEFT JOIN vulns v ON v.source = s.name
                 GROUP BY s.name ORDER BY s.name",
            )
            .map_err(err)?;
        let sources = stmt
            .query_map([], |r| {
                Ok(SourceStatus {
                    name: r.get(0)?,
                    imported_at: r.get(1)?,
                    invalid: r.get::<_, i64>(2)?.max(0) as u64,
                    records: r.get::<_, i64>(3)?.max(0) as u64,
                    newest_modified: r.get(4)?,
                })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let newest_modified = sources
            .iter()
            .filter_map(|s| s.newest_modified.clone())
            .max_by(|a, b| cmp_modified(a, b));
        Ok(Status {
            path: self.path().display().to_string(),
            schema_version: self.meta("schema_version")?.unwrap_or_default(),
            size_bytes: std::fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0),
            built_at: self.meta("built_at")?,
            records: count("SELECT count(*) FROM vulns")?,
            withdrawn: count("SELECT count(*) FROM vulns WHERE withdrawn")?,
            package_keys: count(
                "SELECT count(*) FROM (SELECT DISTINCT ecosystem, name FROM affected_keys)",
            )?,
            newest_modified,
            sources,
            stored_sboms: count("SELECT count(*) FROM inventories")?,
        })
    }
}
