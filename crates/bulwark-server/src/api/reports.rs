//! The compliance report (JSON or HTML) and the Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};
use bulwark_control::rbac::{Target, authorize, authorize_list, resources, verbs};
use serde::Deserialize;
use utoipa::IntoParams;

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;

/// `format=html` for the page; JSON otherwise.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct ComplianceParams {
    /// `json` (default) or `html`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/compliance", tag = "compliance", params(ComplianceParams),
    responses((status = 200, description = "the report: JSON (CIS checks of images and of the running containers the caller may see, NIST SP 800-190 assessment for cluster-wide callers) or HTML"),
              (status = 403, body = crate::model::ErrorBody)))]
pub async fn compliance(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<ComplianceParams>,
) -> Result<Response, ApiError> {
    let permit = authorize_list::<resources::Compliance>(&caller.principal)?;
    let report = crate::compliance::report(&app.store, &permit).await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("html") => {
            let page = crate::compliance::html(&report).map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("rendering the report: {e}"),
                )
            })?;
            Ok(Html(page).into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "format {:?}: expected json or html",
            other.escape_debug().to_string()
        ))),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    authorize::<verbs::Get, resources::Metrics>(&caller.principal, &Target::Cluster)?;
    let nodes = app.store.all_nodes().await?;
    let stale = nodes.iter().filter(|n| n.stale).count();
    let latest = app.store.latest_update().await?;
    let text = app.metrics.render(&[
        (
            "bulwark_nodes",
            "Nodes that ever reported.",
            nodes.len() as u64,
        ),
        (
            "bulwark_nodes_stale",
            "Nodes flagged for not reporting.",
            stale as u64,
        ),
        (
            "bulwark_update_version",
            "Newest update version for the nodes.",
            latest,
        ),
    ]);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
