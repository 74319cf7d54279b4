//! Workloads, their profiles and modes, the connection graph and nodes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use bulwark_control::rbac::{Target, authorize, authorize_list, resources, verbs};
use bulwark_core::Mode;
use bulwark_profile::Class;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::model::{GraphView, NodeView, ProfileView, WorkloadView};
use crate::store::ModeRequest;

#[utoipa::path(get, path = "/api/v1/workloads", tag = "workloads",
    responses((status = 200, body = Vec<WorkloadView>), (status = 403, body = crate::model::ErrorBody)))]
pub async fn list_workloads(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<WorkloadView>>, ApiError> {
    let permit = authorize_list::<resources::Workloads>(&caller.principal)?;
    Ok(Json(app.store.list_workloads(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/workloads/{id}", tag = "workloads",
    params(("id" = String, Path, description = "workload id, URL-encoded (k8s:NS/OWNER, image:REPO, ...)")),
    responses((status = 200, body = WorkloadView), (status = 403, body = crate::model::ErrorBody), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_workload(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkloadView>, ApiError> {
    let permit =
        authorize::<verbs::Get, resources::Workloads>(&caller.principal, &Target::workload(&id))?;
    Ok(Json(app.store.get_workload(&permit, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/graph", tag = "workloads",
    responses((status = 200, body = GraphView)))]
pub async fn graph(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<GraphView>, ApiError> {
    let permit = authorize_list::<resources::Workloads>(&caller.principal)?;
    Ok(Json(app.store.graph(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles",
    responses((status = 200, body = Vec<ProfileView>)))]
pub async fn list_profiles(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<ProfileView>>, ApiError> {
    let permit = authorize_list::<resources::Profiles>(&caller.principal)?;
    Ok(Json(app.store.list_profiles(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/profiles/{id}", tag = "profiles",
    params(("id" = String, Path, description = "workload id, URL-encoded")),
    responses((status = 200, body = ProfileView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_profile(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let permit =
        authorize::<verbs::Get, resources::Profiles>(&caller.principal, &Target::workload(&id))?;
    Ok(Json(app.store.get_profile(&permit, &id).await?))
}

/// A mode change (promotion or demotion).
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ModeChange {
    /// `discover`, `monitor` or `protect`.
    #[schema(value_type = String)]
    pub to: Mode,
    /// `process`, `file`, `network`, `capability`; all when empty.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub classes: Vec<Class>,
    #[serde(default)]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/profiles/{id}/mode", tag = "profiles",
    params(("id" = String, Path, description = "workload id, URL-encoded")),
    request_body = ModeChange,
    responses((status = 200, body = ProfileView), (status = 403, body = crate::model::ErrorBody), (status = 409, body = crate::model::ErrorBody)))]
pub async fn set_mode(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<ModeChange>,
) -> Result<Json<ProfileView>, ApiError> {
    if req.reason.len() > 1024 || req.reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "reason: at most 1024 bytes, no control characters",
        ));
    }
    caller.call.describe(
        "profile.mode",
        &id,
        json!({"to": req.to, "classes": req.classes, "reason": req.reason}),
    );
    let permit =
        authorize::<verbs::Update, resources::Profiles>(&caller.principal, &Target::workload(&id))?;
    let request = ModeRequest {
        classes: req.classes,
        to: req.to,
        reason: req.reason,
    };
    let (view, _) = app
        .store
        .set_mode(
            &permit,
            &id,
            &request,
            &caller.actor(),
            caller.call.gate(&app),
        )
        .await?;
    app.feed.notify(app.store.latest_update().await?);
    Ok(Json(view))
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes",
    responses((status = 200, body = Vec<NodeView>)))]
pub async fn list_nodes(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    let permit = authorize_list::<resources::Nodes>(&caller.principal)?;
    Ok(Json(app.store.list_nodes(&permit).await?))
}
