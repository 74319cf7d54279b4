//! Policies and identity entries: validated YAML documents, versioned, sent
//! to every node as updates when they change.

use bulwark_control::rbac::{Permit, Resource, ResourceKind, VerbKind, verbs};
use bulwark_control::wire::UpdateKind;

use super::{Store, StoreError, updates::update_stmts};
use crate::db::{Gate, Row, Stmt, Value};
use crate::model::PolicyView;

/// The RBAC resource guarding documents of `kind`.
pub fn resource_of(kind: UpdateKind) -> Resource {
    match kind {
        UpdateKind::WorkloadIdentity => Resource::Identities,
        UpdateKind::WorkloadProfile => Resource::Profiles,
        _ => Resource::Policies,
    }
}

fn check_permit<V: VerbKind, R: ResourceKind>(
    _permit: &Permit<V, R>,
    kind: UpdateKind,
) -> Result<(), StoreError> {
    if resource_of(kind) == R::RESOURCE && kind != UpdateKind::WorkloadProfile {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{} documents are not managed as {}",
            kind.as_str(),
            R::RESOURCE
        )))
    }
}

const COLS: &str = "kind, name, version, updated_at, updated_by, document";

fn view(r: &Row) -> Result<PolicyView, StoreError> {
    Ok(PolicyView {
        kind: r.text(0)?,
        name: r.text(1)?,
        version: r.int(2)?,
        updated_at: r.int(3)?,
        updated_by: r.text(4)?,
        document: r.text(5)?,
    })
}

impl Store {
    /// Documents of the kinds the permit's resource covers.
    pub async fn list_documents<R: ResourceKind>(
        &self,
        _permit: &Permit<verbs::List, R>,
    ) -> Result<Vec<PolicyView>, StoreError> {
        let kinds: Vec<&str> = UpdateKind::ALL
            .into_iter()
            .filter(|k| resource_of(*k) == R::RESOURCE && *k != UpdateKind::WorkloadProfile)
            .map(UpdateKind::as_str)
            .collect();
        let mut out = Vec::new();
        for kind in kinds {
            let rows = self
                .db
                .query(
                    &format!("SELECT {COLS} FROM policies WHERE kind = $1 ORDER BY name"),
                    vec![kind.into()],
                )
                .await?;
            for r in &rows {
                out.push(view(r)?);
            }
        }
        Ok(out)
    }

    pub async fn get_document<R: ResourceKind>(
        &self,
        permit: &Permit<verbs::Get, R>,
        kind: UpdateKind,
        name: &str,
    ) -> Result<PolicyView, StoreError> {
        check_permit(permit, kind)?;
        let row = self
            .db
            .query_one(
                &format!("SELECT {COLS} FROM policies WHERE kind = $1 AND name = $2"),
                vec![kind.as_str().into(), Value::from(name)],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} {name}", kind.as_str())))?;
        view(&row)
    }

    /// Creates or replaces a document (validated by the caller) and sends
    /// it to the nodes.
    pub async fn put_document<R: ResourceKind, T: Send + 'static>(
        &self,
        permit: &Permit<verbs::Update, R>,
        kind: UpdateKind,
        name: &str,
        document: &str,
        actor: &str,
        gate: Gate<T>,
    ) -> Result<(PolicyView, T), StoreError> {
        check_permit(permit, kind)?;
        crate::documents::validate(kind, name, document)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = crate::now_ms();
        let mut stmts = vec![Stmt::new(
            "INSERT INTO policies (kind, name, document, version, updated_at, updated_by) VALUES ($1, $2, $3, 1, $4, $5) \
             ON CONFLICT (kind, name) DO UPDATE SET document = excluded.document, version = policies.version + 1, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            vec![
                kind.as_str().into(),
                name.into(),
                document.into(),
                now.into(),
                actor.into(),
            ],
        )];
        stmts.extend(update_stmts(kind, name, Some(document), now));
        let v = self.db.write(stmts, gate).await?.1;
        let row = self
            .db
            .query_one(
                &format!("SELECT {COLS} FROM policies WHERE kind = $1 AND name = $2"),
                vec![kind.as_str().into(), Value::from(name)],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} {name}", kind.as_str())))?;
        Ok((view(&row)?, v))
    }

    /// Deletes a document; nodes are told to remove it.
    pub async fn delete_document<R: ResourceKind, T: Send + 'static>(
        &self,
        permit: &Permit<verbs::Delete, R>,
        kind: UpdateKind,
        name: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        check_permit(permit, kind)?;
        let now = crate::now_ms();
        let mut stmts = vec![
            Stmt::new(
                "DELETE FROM policies WHERE kind = $1 AND name = $2",
                vec![kind.as_str().into(), name.into()],
            )
            .expect_rows(1),
        ];
        stmts.extend(update_stmts(kind, name, None, now));
        match self.db.write(stmts, gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("{} {name}", kind.as_str())))
            }
            other => Ok(other?.1),
        }
    }

    /// How many documents of `kind` exist (for the compliance assessment).
    pub async fn count_documents(&self, kind: UpdateKind) -> Result<usize, StoreError> {
        let row = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM policies WHERE kind = $1",
                vec![kind.as_str().into()],
            )
            .await?;
        Ok(row
            .map(|r| r.int(0))
            .transpose()?
            .map_or(0, |n| usize::try_from(n).unwrap_or(0)))
    }
}
