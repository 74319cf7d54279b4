//! Profiles and their modes; promotion pushes the changed document to every
//! node as an update.

use bulwark_control::rbac::{Permit, resources, verbs};
use bulwark_control::wire::UpdateKind;
use bulwark_core::Mode;
use bulwark_profile::{Class, Modes};

use super::{Store, StoreError, scope_clause, updates::update_stmts};
use crate::db::{Gate, Row, Stmt, Value};
use crate::model::{ModesView, ProfileView};

pub(super) fn modes_json(m: &Modes) -> Result<String, StoreError> {
    serde_json::to_string(&ModesView {
        process: m.process.to_string(),
        file: m.file.to_string(),
        network: m.network.to_string(),
        capability: m.capability.to_string(),
    })
    .map_err(|e| StoreError::Invalid(e.to_string()))
}

const COLS: &str = "workload, namespace, version, modes, document, updated_at, updated_by";

fn view(r: &Row) -> Result<ProfileView, StoreError> {
    Ok(ProfileView {
        workload: r.text(0)?,
        namespace: r.text(1)?,
        version: r.int(2)?,
        modes: serde_json::from_str(&r.text(3)?)
            .map_err(|e| StoreError::corrupt("profile modes", e))?,
        document: r.text(4)?,
        updated_at: r.int(5)?,
        updated_by: r.text(6)?,
    })
}

/// A requested mode change.
#[derive(Clone, Debug)]
pub struct ModeRequest {
    /// Classes to change (all four when empty).
    pub classes: Vec<Class>,
    pub to: Mode,
    pub reason: String,
}

impl Store {
    pub async fn list_profiles(
        &self,
        permit: &Permit<verbs::List, resources::Profiles>,
    ) -> Result<Vec<ProfileView>, StoreError> {
        let mut params = Vec::new();
        let scope = scope_clause(permit.filter(), "namespace", "workload", &mut params);
        let rows = self
            .db
            .query(
                &format!("SELECT {COLS} FROM profiles WHERE {scope} ORDER BY workload LIMIT 5000"),
                params,
            )
            .await?;
        rows.iter().map(view).collect()
    }

    pub async fn get_profile(
        &self,
        _permit: &Permit<verbs::Get, resources::Profiles>,
        workload: &str,
    ) -> Result<ProfileView, StoreError> {
        self.profile_row(workload).await
    }

    async fn profile_row(&self, workload: &str) -> Result<ProfileView, StoreError> {
        let row = self
            .db
            .query_one(
                &format!("SELECT {COLS} FROM profiles WHERE workload = $1"),
                vec![Value::from(workload)],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("profile of workload {workload}")))?;
        view(&row)
    }

    /// Changes modes; the new document (version + 1) is stored and sent to
    /// every node. Fails with a conflict if the profile changed meanwhile.
    pub async fn set_mode<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Update, resources::Profiles>,
        workload: &str,
        req: &ModeRequest,
        actor: &str,
        gate: Gate<T>,
    ) -> Result<(ProfileView, T), StoreError> {
        let current = self.profile_row(workload).await?;
        let mut docs =
            bulwark_profile::parse(&current.document, &format!("stored profile of {workload}"))
                .map_err(|e| StoreError::corrupt("stored profile", e))?;
        let Some(profile) = docs.first_mut() else {
            return Err(StoreError::Corrupt(format!(
                "stored profile of {workload} is empty"
            )));
        };
        let classes = if req.classes.is_empty() {
            Class::ALL.to_vec()
        } else {
            req.classes.clone()
        };
        let changes = profile.set_mode(&classes, req.to, &req.reason);
        if changes.is_empty() {
            return Err(StoreError::Conflict(format!(
                "{workload}: already in {} for the requested classes",
                req.to
            )));
        }
        let yaml =
            bulwark_profile::to_yaml(profile).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let version = i64::try_from(profile.metadata.version).unwrap_or(i64::MAX);
        let modes = modes_json(&profile.spec.modes)?;
        let now = crate::now_ms();
        let mut stmts = vec![Stmt::new(
            "UPDATE profiles SET document = $1, version = $2, modes = $3, updated_at = $4, updated_by = $5 \
             WHERE workload = $6 AND version = $7",
            vec![
                yaml.clone().into(),
                version.into(),
                modes.clone().into(),
                now.into(),
                actor.into(),
                workload.into(),
                current.version.into(),
            ],
        )
        .expect_rows(1)];
        stmts.extend(update_stmts(
            UpdateKind::WorkloadProfile,
            workload,
            Some(&yaml),
            now,
        ));
        let v = match self.db.write(stmts, gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                return Err(StoreError::Conflict(format!(
                    "the profile of {workload} changed meanwhile; retry"
                )));
            }
            other => other?.1,
        };
        let view = ProfileView {
            version,
            modes: serde_json::from_str(&modes).map_err(|e| StoreError::corrupt("modes", e))?,
            document: yaml,
            updated_at: now,
            updated_by: actor.into(),
            ..current
        };
        Ok((view, v))
    }
}
