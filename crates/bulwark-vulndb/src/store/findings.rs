//! The findings each stored image has now, with their first-seen times,
//! and the event log of new and resolved findings.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::matcher::Finding;

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

/// What [`Store::record_findings_in`] wrote.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// New and resolved findings, oldest first.
    pub events: Vec<FindingEvent>,
    /// Open findings whose stored details changed (severity, summary, ...)
    /// and were rewritten; unchanged ones are not written at all.
    pub updated: usize,
}

/// The `content` column: the first 16 bytes of the SHA-256 of a
/// finding's stored JSON. Kept in the index of open findings, so a
/// re-match tells an unchanged finding from the index alone. The JSON is
/// serialised straight into the hash: most findings of a re-match are
/// unchanged and never need the text.
fn digest_of(f: &Finding) -> Result<Vec<u8>, serde_json::Error> {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    serde_json::to_writer(&mut h, f)?;
    Ok(h.0.finalize()[..16].to_vec())
}

impl Store {
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
            out.push(StoredFinding {
                digest,
                first_seen,
                resolved_at,
                finding: serde_json::from_str(&json).map_err(|e| self.data_err(e))?,
            });
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

    /// Open findings of an image (id -> content digest, `None` for rows
    /// migrated without one), read from the covering index alone: all of
    /// them, or those of the components in `scope` (one lookup each).
    fn open_digests(
        &self,
        digest: &str,
        scope: Option<&BTreeSet<String>>,
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, StoreError> {
        let mut out = BTreeMap::new();
        let mut collect = |rows: &mut rusqlite::Rows<'_>| -> Result<(), StoreError> {
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let id: String = r.get(0).map_err(|e| self.err(e))?;
                out.insert(id, r.get(1).map_err(|e| self.err(e))?);
            }
            Ok(())
        };
        let select = "SELECT finding_id, content FROM findings
             INDEXED BY findings_open_by_component WHERE digest = ?1 AND resolved_at IS NULL";
        match scope {
            None => {
                let mut stmt = self
                    .conn()
                    .prepare_cached(select)
                    .map_err(|e| self.err(e))?;
                collect(&mut stmt.query(params![digest]).map_err(|e| self.err(e))?)?;
            }
            Some(scope) => {
                let mut stmt = self
                    .conn()
                    .prepare_cached(&format!("{select} AND component = ?2"))
                    .map_err(|e| self.err(e))?;
                for component in scope {
                    let mut rows = stmt
                        .query(params![digest, component])
                        .map_err(|e| self.err(e))?;
                    collect(&mut rows)?;
                }
            }
        }
        Ok(out)
    }

    /// Marks an open finding resolved; returns it with its first-seen time.
    fn resolve(&self, digest: &str, id: &str, now: &str) -> Result<StoredFinding, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .prepare_cached(
                "SELECT first_seen, finding FROM findings WHERE digest = ?1 AND finding_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![digest, id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))?;
        let (first_seen, json) = row.ok_or_else(|| StoreError::Data {
            path: self.path().display().to_string(),
            detail: format!("open finding {id} of {digest} vanished"),
        })?;
        self.exec(
            "UPDATE findings SET resolved_at = ?3 WHERE digest = ?1 AND finding_id = ?2",
            params![digest, id, now],
        )?;
        Ok(StoredFinding {
            digest: digest.to_string(),
            first_seen,
            resolved_at: Some(now.to_string()),
            finding: serde_json::from_str(&json).map_err(|e| self.data_err(e))?,
        })
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
        Ok(self
            .record_findings_in(digest, image, None, current, now)?
            .events)
    }

    /// [`Store::record_findings`] for part of an image: `current` is the
    /// full set of findings of the components in `scope` (component ids,
    /// [`Finding::component_id`]); open findings of other components stand
    /// and are not even read. A finding still open is rewritten only when
    /// its stored form differs (by content digest, from the index alone).
    pub fn record_findings_in(
        &self,
        digest: &str,
        image: &str,
        scope: Option<&BTreeSet<String>>,
        current: &[Finding],
        now: &str,
    ) -> Result<Recorded, StoreError> {
        let mut open = self.open_digests(digest, scope)?;
        let mut out = Recorded::default();
        let event = |kind: &str, first_seen: &str, finding: Finding| FindingEvent {
            event: kind.into(),
            at: now.into(),
            image_digest: digest.into(),
            image: image.into(),
            first_seen: first_seen.into(),
            finding,
        };
        for f in current {
            let content = digest_of(f).map_err(|e| self.data_err(e))?;
            match open.remove(&f.id) {
                Some(Some(prev)) if prev == content => {}
                Some(_) => {
                    let json = serde_json::to_string(f).map_err(|e| self.data_err(e))?;
                    self.exec(
                        "UPDATE findings SET finding = ?3, content = ?4
                         WHERE digest = ?1 AND finding_id = ?2",
                        params![digest, f.id, json, content],
                    )?;
                    out.updated += 1;
                }
                None => {
                    let json = serde_json::to_string(f).map_err(|e| self.data_err(e))?;
                    self.insert_finding(digest, f, &json, &content, now)?;
                    out.events.push(event("new", now, f.clone()));
                }
            }
        }
        for id in open.into_keys() {
            let prev = self.resolve(digest, &id, now)?;
            out.events
                .push(event("resolved", &prev.first_seen, prev.finding));
        }
        for e in &out.events {
            let json = serde_json::to_string(e).map_err(|e| self.data_err(e))?;
            self.exec(
                "INSERT INTO events(at, event) VALUES (?1, ?2)",
                params![e.at, json],
            )?;
        }
        Ok(out)
    }

    /// A finding seen now that is not open: a new row, or a resolved one
    /// that came back (first seen again now).
    fn insert_finding(
        &self,
        digest: &str,
        f: &Finding,
        json: &str,
        content: &[u8],
        now: &str,
    ) -> Result<(), StoreError> {
        let component =
            f.id.strip_prefix(f.vuln_id.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or_default();
        self.exec(
            "INSERT INTO findings(digest, finding_id, vuln_id, component, first_seen, resolved_at,
               finding, content)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)
             ON CONFLICT(digest, finding_id) DO UPDATE SET vuln_id = excluded.vuln_id,
               component = excluded.component, first_seen = excluded.first_seen,
               resolved_at = NULL, finding = excluded.finding, content = excluded.content",
            params![
                digest,
                f.id,
                f.vuln_id.as_str(),
                component,
                now,
                json,
                content
            ],
        )
    }

    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{Evidence, Text};

    #[test]
    fn content_digest_is_of_the_stored_json() {
        let f: Finding = serde_json::from_value(serde_json::json!({
            "id": "X-1/PyPI/a@1", "vuln_id": "X-1", "aliases": ["CVE-1"], "ecosystem": "PyPI",
            "package": "a", "installed_version": "1", "severity": "high",
            "severity_source": "vendor", "affected_index": 0,
            "evidence": {"kind": "listed_version", "version": "1"}}))
        .unwrap();
        assert_eq!(
            f.evidence,
            Evidence::ListedVersion {
                version: Text::from("1")
            }
        );
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            digest_of(&f).unwrap(),
            Sha256::digest(json.as_bytes())[..16].to_vec()
        );
    }
}
