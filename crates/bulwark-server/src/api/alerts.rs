//! Alerts, silences and alert routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bulwark_control::rbac::{
    Resource, Target, Verb, authorize, authorize_list, holds_anywhere, resources, verbs,
};
use bulwark_control::routing::{RouteRule, SilenceMatcher};
use bulwark_core::Severity;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::model::{AlertView, RouteView, SilenceView};
use crate::store::AlertQuery;

/// Filters of `GET /api/v1/alerts`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct AlertParams {
    /// `low`, `medium`, `high`, `critical`.
    pub min_severity: Option<String>,
    /// One workload id.
    pub workload: Option<String>,
    /// Only alerts with `seq` below this (the next page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

pub(crate) fn severity(text: &str) -> Result<Severity, ApiError> {
    text.parse::<Severity>().map_err(|_| {
        ApiError::bad_request(format!(
            "min_severity {text:?}: expected unknown, low, medium, high or critical"
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, body = Vec<AlertView>), (status = 403, body = crate::model::ErrorBody)))]
pub async fn list_alerts(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<AlertParams>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let permit = authorize_list::<resources::Alerts>(&caller.principal)?;
    let q = AlertQuery {
        min_severity: p.min_severity.as_deref().map(severity).transpose()?,
        workload: p.workload,
        before: p.before,
        limit: p.limit,
    };
    Ok(Json(app.store.list_alerts(&permit, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_alert(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    holds_anywhere(&caller.principal, Verb::Get, Resource::Alerts)?;
    let target = app.store.alert_target(&id).await?;
    let permit = authorize::<verbs::Get, resources::Alerts>(&caller.principal, &target)?;
    Ok(Json(app.store.get_alert(&permit, &id).await?))
}

/// Filters of `GET /api/v1/silences`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct SilenceParams {
    /// Include expired silences.
    #[serde(default)]
    pub all: bool,
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts", params(SilenceParams),
    responses((status = 200, body = Vec<SilenceView>)))]
pub async fn list_silences(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<SilenceParams>,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    let permit = authorize_list::<resources::Silences>(&caller.principal)?;
    Ok(Json(app.store.list_silences(&permit, p.all).await?))
}

/// A new silence.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewSilence {
    /// `{namespace?, workload?, alert_id?, rule?}`: at least one.
    #[schema(value_type = Object)]
    pub matcher: SilenceMatcher,
    pub reason: String,
    /// Unix milliseconds; must be in the future.
    pub expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts", request_body = NewSilence,
    responses((status = 201, body = SilenceView), (status = 400, body = crate::model::ErrorBody), (status = 403, body = crate::model::ErrorBody)))]
pub async fn create_silence(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(req): Json<NewSilence>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    caller.call.describe(
        "silence.create",
        &req.matcher.target().to_string(),
        json!({"matcher": req.matcher, "reason": req.reason, "expires_at": req.expires_at}),
    );
    req.matcher
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let permit =
        authorize::<verbs::Create, resources::Silences>(&caller.principal, &req.matcher.target())?;
    let (view, _) = app
        .store
        .create_silence(
            &permit,
            &req.matcher,
            &req.reason,
            req.expires_at,
            &caller.actor(),
            caller.call.gate(&app),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts",
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn expire_silence(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    holds_anywhere(&caller.principal, Verb::Delete, Resource::Silences)?;
    let matcher = app.store.silence_matcher(&id).await?;
    caller
        .call
        .describe("silence.expire", &id, json!({"matcher": matcher}));
    let permit =
        authorize::<verbs::Delete, resources::Silences>(&caller.principal, &matcher.target())?;
    app.store
        .expire_silence(&permit, &id, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/alert-routes", tag = "alerts",
    responses((status = 200, body = Vec<RouteView>)))]
pub async fn list_routes(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<RouteView>>, ApiError> {
    let permit = authorize_list::<resources::AlertRoutes>(&caller.principal)?;
    Ok(Json(app.store.list_routes(&permit).await?))
}

/// A routing rule (its name is the path's).
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct RouteBody {
    /// `low`, `medium`, `high`, `critical`.
    #[schema(value_type = String)]
    pub min_severity: Severity,
    pub namespace: Option<String>,
    /// A workload id, or a prefix ending in `*`.
    pub workload: Option<String>,
    /// Sink names configured on the server.
    pub sinks: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/alert-routes/{name}", tag = "alerts", request_body = RouteBody,
    responses((status = 204), (status = 400, body = crate::model::ErrorBody), (status = 403, body = crate::model::ErrorBody)))]
pub async fn put_route(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<RouteBody>,
) -> Result<StatusCode, ApiError> {
    let rule = RouteRule {
        name,
        min_severity: body.min_severity,
        namespace: body.namespace,
        workload: body.workload,
        sinks: body.sinks,
    };
    caller.call.describe(
        "alert-route.put",
        &rule.name,
        serde_json::to_value(&rule).unwrap_or_default(),
    );
    let permit =
        authorize::<verbs::Update, resources::AlertRoutes>(&caller.principal, &Target::Cluster)?;
    if let Some(unknown) = rule
        .sinks
        .iter()
        .find(|s| !app.settings.sinks.contains_key(s.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "sink {unknown:?} is not configured on this server (configured: {})",
            app.settings
                .sinks
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    app.store
        .put_route(&permit, &rule, &caller.actor(), caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/alert-routes/{name}", tag = "alerts",
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_route(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.call.describe("alert-route.delete", &name, json!({}));
    let permit =
        authorize::<verbs::Delete, resources::AlertRoutes>(&caller.principal, &Target::Cluster)?;
    app.store
        .delete_route(&permit, &name, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
