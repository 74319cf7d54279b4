//! Policies (enforcement, image, access) and workload identity entries:
//! YAML documents, validated, versioned and sent to every node.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bulwark_control::rbac::{Target, authorize, authorize_list, resources, verbs};
use bulwark_control::wire::UpdateKind;
use serde_json::json;

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::model::PolicyView;

fn policy_kind(kind: &str) -> Result<UpdateKind, ApiError> {
    match UpdateKind::parse(kind) {
        Some(
            k
            @ (UpdateKind::EnforcementPolicy | UpdateKind::ImagePolicy | UpdateKind::AccessPolicy),
        ) => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "policy kind {:?}: expected EnforcementPolicy, ImagePolicy or AccessPolicy",
            kind.escape_debug().to_string()
        ))),
    }
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies",
    responses((status = 200, body = Vec<PolicyView>)))]
pub async fn list_policies(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    let permit = authorize_list::<resources::Policies>(&caller.principal)?;
    Ok(Json(app.store.list_documents(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/policies/{kind}/{name}", tag = "policies",
    responses((status = 200, body = PolicyView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    let kind = policy_kind(&kind)?;
    let permit = authorize::<verbs::Get, resources::Policies>(&caller.principal, &Target::Cluster)?;
    Ok(Json(app.store.get_document(&permit, kind, &name).await?))
}

#[utoipa::path(put, path = "/api/v1/policies/{kind}/{name}", tag = "policies",
    request_body(content = String, content_type = "application/yaml", description = "one YAML document of that kind, named as in the path"),
    responses((status = 200, body = PolicyView), (status = 400, body = crate::model::ErrorBody), (status = 403, body = crate::model::ErrorBody)))]
pub async fn put_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
    body: String,
) -> Result<Json<PolicyView>, ApiError> {
    let kind = policy_kind(&kind)?;
    caller.call.describe(
        "policy.put",
        &format!("{}/{name}", kind.as_str()),
        json!({"bytes": body.len()}),
    );
    let permit =
        authorize::<verbs::Update, resources::Policies>(&caller.principal, &Target::Cluster)?;
    let (view, _) = app
        .store
        .put_document(
            &permit,
            kind,
            &name,
            &body,
            &caller.actor(),
            caller.call.gate(&app),
        )
        .await?;
    app.feed.notify(app.store.latest_update().await?);
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/api/v1/policies/{kind}/{name}", tag = "policies",
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = policy_kind(&kind)?;
    caller.call.describe(
        "policy.delete",
        &format!("{}/{name}", kind.as_str()),
        json!({}),
    );
    let permit =
        authorize::<verbs::Delete, resources::Policies>(&caller.principal, &Target::Cluster)?;
    app.store
        .delete_document(&permit, kind, &name, caller.call.gate(&app))
        .await?;
    app.feed.notify(app.store.latest_update().await?);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/identities", tag = "identities",
    responses((status = 200, body = Vec<PolicyView>)))]
pub async fn list_identities(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    let permit = authorize_list::<resources::Identities>(&caller.principal)?;
    Ok(Json(app.store.list_documents(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/identities/{name}", tag = "identities",
    responses((status = 200, body = PolicyView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_identity(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let permit =
        authorize::<verbs::Get, resources::Identities>(&caller.principal, &Target::Cluster)?;
    Ok(Json(
        app.store
            .get_document(&permit, UpdateKind::WorkloadIdentity, &name)
            .await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/identities/{name}", tag = "identities",
    request_body(content = String, content_type = "application/yaml", description = "one `kind: WorkloadIdentity` YAML document"),
    responses((status = 200, body = PolicyView), (status = 400, body = crate::model::ErrorBody)))]
pub async fn put_identity(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
    body: String,
) -> Result<Json<PolicyView>, ApiError> {
    caller
        .call
        .describe("identity.put", &name, json!({"bytes": body.len()}));
    let permit =
        authorize::<verbs::Update, resources::Identities>(&caller.principal, &Target::Cluster)?;
    let (view, _) = app
        .store
        .put_document(
            &permit,
            UpdateKind::WorkloadIdentity,
            &name,
            &body,
            &caller.actor(),
            caller.call.gate(&app),
        )
        .await?;
    app.feed.notify(app.store.latest_update().await?);
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/api/v1/identities/{name}", tag = "identities",
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_identity(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.call.describe("identity.delete", &name, json!({}));
    let permit =
        authorize::<verbs::Delete, resources::Identities>(&caller.principal, &Target::Cluster)?;
    app.store
        .delete_document(
            &permit,
            UpdateKind::WorkloadIdentity,
            &name,
            caller.call.gate(&app),
        )
        .await?;
    app.feed.notify(app.store.latest_update().await?);
    Ok(StatusCode::NO_CONTENT)
}
