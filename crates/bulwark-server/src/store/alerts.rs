//! Stored alerts and silences.

use bulwark_control::rbac::{Permit, Target, resources, verbs};
use bulwark_control::routing::SilenceMatcher;
use bulwark_core::Severity;

use super::{Store, StoreError, page_limit, scope_clause, severity_rank};
use crate::db::{Gate, Row, Stmt, Value};
use crate::model::{AlertView, SilenceView};

/// Filters of the alert list.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub min_severity: Option<Severity>,
    pub workload: Option<String>,
    /// Only alerts with `seq` below this (paging backwards).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

const COLS: &str = "id, seq, node, namespace, received_at, silenced_by, body";

fn view(r: &Row) -> Result<AlertView, StoreError> {
    Ok(AlertView {
        id: r.text(0)?,
        seq: r.int(1)?,
        node: r.text(2)?,
        namespace: r.text(3)?,
        received_at: r.int(4)?,
        silenced_by: r.opt_text(5)?,
        alert: serde_json::from_str(&r.text(6)?)
            .map_err(|e| StoreError::corrupt("alert body", e))?,
    })
}

fn silence_view(r: &Row) -> Result<SilenceView, StoreError> {
    Ok(SilenceView {
        id: r.text(0)?,
        matcher: serde_json::from_str(&r.text(1)?)
            .map_err(|e| StoreError::corrupt("silence matcher", e))?,
        reason: r.text(2)?,
        created_by: r.text(3)?,
        created_at: r.int(4)?,
        expires_at: r.int(5)?,
    })
}

impl Store {
    /// Newest first.
    pub async fn list_alerts(
        &self,
        permit: &Permit<verbs::List, resources::Alerts>,
        q: &AlertQuery,
    ) -> Result<Vec<AlertView>, StoreError> {
        let mut params = Vec::new();
        let mut conds = vec![scope_clause(
            permit.filter(),
            "namespace",
            "workload",
            &mut params,
        )];
        if let Some(s) = q.min_severity {
            params.push(Value::from(severity_rank(s)));
            conds.push(format!("severity >= ${}", params.len()));
        }
        if let Some(w) = &q.workload {
            params.push(Value::from(w.as_str()));
            conds.push(format!("workload = ${}", params.len()));
        }
        if let Some(b) = q.before {
            params.push(Value::from(b));
            conds.push(format!("seq < ${}", params.len()));
        }
        params.push(Value::from(page_limit(q.limit)));
        let sql = format!(
            "SELECT {COLS} FROM alerts WHERE {} ORDER BY seq DESC LIMIT ${}",
            conds.join(" AND "),
            params.len()
        );
        let rows = self.db.query(&sql, params).await?;
        rows.iter().map(view).collect()
    }

    /// Where an alert lives, to authorise reading it.
    pub async fn alert_target(&self, id: &str) -> Result<Target, StoreError> {
        let row = self
            .db
            .query_one(
                "SELECT namespace, workload FROM alerts WHERE id = $1",
                vec![id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))?;
        Ok(Target::Namespaced {
            namespace: row.text(0)?,
            workload: row.opt_text(1)?,
        })
    }

    pub async fn get_alert(
        &self,
        _permit: &Permit<verbs::Get, resources::Alerts>,
        id: &str,
    ) -> Result<AlertView, StoreError> {
        let row = self
            .db
            .query_one(
                &format!("SELECT {COLS} FROM alerts WHERE id = $1"),
                vec![id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))?;
        view(&row)
    }

    pub async fn count_alerts_since(&self, since: i64) -> Result<i64, StoreError> {
        let row = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM alerts WHERE received_at >= $1",
                vec![since.into()],
            )
            .await?;
        Ok(row.map(|r| r.int(0)).transpose()?.unwrap_or(0))
    }

    pub async fn list_silences(
        &self,
        permit: &Permit<verbs::List, resources::Silences>,
        include_expired: bool,
    ) -> Result<Vec<SilenceView>, StoreError> {
        let mut params = vec![Value::from(if include_expired {
            i64::MIN
        } else {
            crate::now_ms()
        })];
        let scope = scope_clause(permit.filter(), "namespace", "workload", &mut params);
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT id, matcher, reason, created_by, created_at, expires_at FROM silences \
                     WHERE expires_at > $1 AND {scope} ORDER BY created_at DESC LIMIT 1000"
                ),
                params,
            )
            .await?;
        rows.iter().map(silence_view).collect()
    }

    /// Creates a silence (the permit was checked against the matcher's target).
    pub async fn create_silence<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Create, resources::Silences>,
        matcher: &SilenceMatcher,
        reason: &str,
        expires_at: i64,
        actor: &str,
        gate: Gate<T>,
    ) -> Result<(SilenceView, T), StoreError> {
        matcher
            .validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        if reason.len() > 1024 {
            return Err(StoreError::Invalid("reason: at most 1024 bytes".into()));
        }
        let now = crate::now_ms();
        if expires_at <= now {
            return Err(StoreError::Invalid(
                "the silence would already be expired".into(),
            ));
        }
        let id = crate::auth::secret::new_id().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let matcher_json =
            serde_json::to_string(matcher).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let (namespace, workload) = match matcher.target() {
            Target::Cluster => (String::new(), None),
            Target::Namespaced {
                namespace,
                workload,
            } => (namespace, workload),
        };
        let stmt = Stmt::new(
            "INSERT INTO silences (id, matcher, namespace, workload, reason, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                id.clone().into(),
                matcher_json.clone().into(),
                namespace.into(),
                workload.into(),
                reason.into(),
                actor.into(),
                now.into(),
                expires_at.into(),
            ],
        );
        let v = self.db.write(vec![stmt], gate).await?.1;
        Ok((
            SilenceView {
                id,
                matcher: serde_json::from_str(&matcher_json)
                    .map_err(|e| StoreError::corrupt("matcher", e))?,
                reason: reason.into(),
                created_by: actor.into(),
                created_at: now,
                expires_at,
            },
            v,
        ))
    }

    /// The matcher of a silence, to authorise expiring it.
    pub async fn silence_matcher(&self, id: &str) -> Result<SilenceMatcher, StoreError> {
        let row = self
            .db
            .query_one(
                "SELECT matcher FROM silences WHERE id = $1",
                vec![id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("silence {id}")))?;
        serde_json::from_str(&row.text(0)?).map_err(|e| StoreError::corrupt("silence matcher", e))
    }

    /// Ends a silence now (kept for the record).
    pub async fn expire_silence<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Delete, resources::Silences>,
        id: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let now = crate::now_ms();
        let stmt = Stmt::new(
            "UPDATE silences SET expires_at = $1 WHERE id = $2 AND expires_at > $1",
            vec![now.into(), id.into()],
        )
        .expect_rows(1);
        match self.db.write(vec![stmt], gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("active silence {id}")))
            }
            other => Ok(other?.1),
        }
    }
}
