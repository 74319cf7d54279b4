//! Reading the audit log through the API (newest first, paged by `seq`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use bulwark_control::rbac::{authorize_list, resources};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;

/// Paging of `GET /api/v1/audit`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Only records with `seq` below this.
    pub before: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One audit record as stored (hash-chained).
#[derive(Clone, Debug, serde::Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev: String,
    pub hash: String,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Vec<AuditRecordView>), (status = 403, body = crate::model::ErrorBody)))]
pub async fn list_audit(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditRecordView>>, ApiError> {
    authorize_list::<resources::Audit>(&caller.principal)?;
    let path = app.audit.path();
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let records = tokio::task::spawn_blocking(move || {
        crate::audit::read_recent(&path, p.before, limit)
    })
    .await
    .map_err(|e| ApiError::bad_request(e.to_string()))?
    .map_err(|e| {
        tracing::error!(error = %e, "reading the audit log");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the audit log is unreadable (details in the server log; run `bulwark audit verify`)",
        )
    })?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| AuditRecordView {
                seq: r.seq,
                time: r.time,
                actor: r.actor,
                action: r.action,
                target: r.target,
                outcome: serde_json::to_value(r.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                detail: r.detail,
                prev: r.prev.to_hex(),
                hash: r.hash.to_hex(),
            })
            .collect(),
    ))
}
