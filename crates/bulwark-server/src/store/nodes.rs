//! Nodes (agents) and their liveness.

use bulwark_control::rbac::{Permit, resources, verbs};

use super::{Store, StoreError};
use crate::db::{Gate, Stmt, Value};
use crate::model::NodeView;

const COLS: &str = "id, hostname, version, first_seen, last_seen, stale, events, events_lost, alerts_dropped, applied_update, update_failure, \
    alerts, queue_drops, flows_dropped";

fn view(r: &crate::db::Row) -> Result<NodeView, StoreError> {
    Ok(NodeView {
        id: r.text(0)?,
        hostname: r.text(1)?,
        version: r.text(2)?,
        first_seen: r.int(3)?,
        last_seen: r.int(4)?,
        stale: r.int(5)? != 0,
        events: r.int(6)?,
        events_lost: r.int(7)?,
        alerts_dropped: r.int(8)?,
        applied_update: r.int(9)?,
        update_failure: r
            .opt_text(10)?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::corrupt("node update failure", e))?,
        alerts: r.int(11)?,
        queue_drops: r.int(12)?,
        flows_dropped: r.int(13)?,
    })
}

impl Store {
    pub async fn list_nodes(
        &self,
        _permit: &Permit<verbs::List, resources::Nodes>,
    ) -> Result<Vec<NodeView>, StoreError> {
        self.all_nodes().await
    }

    /// Every node, for the server's own bookkeeping (sweeper, metrics).
    pub(crate) async fn all_nodes(&self) -> Result<Vec<NodeView>, StoreError> {
        let rows = self
            .db
            .query(&format!("SELECT {COLS} FROM nodes ORDER BY id"), vec![])
            .await?;
        rows.iter().map(view).collect()
    }

    /// Nodes not flagged yet whose last report is older than `cutoff`.
    pub async fn silent_nodes(&self, cutoff: i64) -> Result<Vec<NodeView>, StoreError> {
        let rows = self
            .db
            .query(
                &format!("SELECT {COLS} FROM nodes WHERE stale = 0 AND last_seen < $1"),
                vec![Value::from(cutoff)],
            )
            .await?;
        rows.iter().map(view).collect()
    }

    /// Flags a node stale if it still has not reported since `cutoff`;
    /// false if it reported meanwhile. Its containers are no longer counted
    /// as running (its next report lists the ones that still are).
    pub async fn flag_stale<T: Send + 'static>(
        &self,
        node: &str,
        cutoff: i64,
        gate: Gate<T>,
    ) -> Result<Option<T>, StoreError> {
        let stmt = Stmt::new(
            "UPDATE nodes SET stale = 1 WHERE id = $1 AND stale = 0 AND last_seen < $2",
            vec![node.into(), cutoff.into()],
        )
        .expect_rows(1);
        let stopped = Stmt::new(
            "UPDATE containers SET running = 0 WHERE node = $1 AND running = 1",
            vec![node.into()],
        );
        match self.db.write(vec![stmt, stopped], gate).await {
            Ok((_, v)) => Ok(Some(v)),
            Err(crate::db::DbError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
