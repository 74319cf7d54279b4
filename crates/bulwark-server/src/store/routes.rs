//! Alert routing rules.

use bulwark_control::rbac::{Permit, resources, verbs};
use bulwark_control::routing::RouteRule;

use super::{Store, StoreError};
use crate::db::{Gate, Stmt};
use crate::model::RouteView;

impl Store {
    /// Every rule, for the dispatcher.
    pub async fn route_rules(&self) -> Result<Vec<RouteRule>, StoreError> {
        let rows = self
            .db
            .query("SELECT rule FROM alert_routes ORDER BY name", vec![])
            .await?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(&r.text(0)?).map_err(|e| StoreError::corrupt("route rule", e))
            })
            .collect()
    }

    pub async fn list_routes(
        &self,
        _permit: &Permit<verbs::List, resources::AlertRoutes>,
    ) -> Result<Vec<RouteView>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT name, rule, created_by, created_at FROM alert_routes ORDER BY name",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RouteView {
                    name: r.text(0)?,
                    rule: serde_json::from_str(&r.text(1)?)
                        .map_err(|e| StoreError::corrupt("route rule", e))?,
                    created_by: r.text(2)?,
                    created_at: r.int(3)?,
                })
            })
            .collect()
    }

    /// Creates or replaces a rule (sinks checked by the caller against the
    /// configured ones).
    pub async fn put_route<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Update, resources::AlertRoutes>,
        rule: &RouteRule,
        actor: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        rule.validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let json = serde_json::to_string(rule).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let stmt = Stmt::new(
            "INSERT INTO alert_routes (name, rule, created_by, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET rule = excluded.rule, created_by = excluded.created_by, \
             created_at = excluded.created_at",
            vec![
                rule.name.clone().into(),
                json.into(),
                actor.into(),
                crate::now_ms().into(),
            ],
        );
        Ok(self.db.write(vec![stmt], gate).await?.1)
    }

    pub async fn delete_route<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Delete, resources::AlertRoutes>,
        name: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let stmt = Stmt::new(
            "DELETE FROM alert_routes WHERE name = $1",
            vec![name.into()],
        )
        .expect_rows(1);
        match self.db.write(vec![stmt], gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("alert route {name}")))
            }
            other => Ok(other?.1),
        }
    }
}
