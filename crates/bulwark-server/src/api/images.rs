//! Scanned images and their vulnerability findings.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bulwark_control::compliance::Check;
use bulwark_control::rbac::{Target, authorize, authorize_list, resources, verbs};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::alerts::severity;
use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::model::{FindingView, ImageView};
use crate::store::{Finding, ImageScan};

#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, body = Vec<ImageView>)))]
pub async fn list_images(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<ImageView>>, ApiError> {
    let permit = authorize_list::<resources::Images>(&caller.principal)?;
    Ok(Json(app.store.list_images(&permit).await?))
}

#[utoipa::path(get, path = "/api/v1/images/{digest}", tag = "images",
    responses((status = 200, body = ImageView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn get_image(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(digest): Path<String>,
) -> Result<Json<ImageView>, ApiError> {
    let permit = authorize::<verbs::Get, resources::Images>(&caller.principal, &Target::Cluster)?;
    Ok(Json(app.store.get_image(&permit, &digest).await?))
}

/// Filters of the findings lists.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct FindingParams {
    /// `low`, `medium`, `high`, `critical`.
    pub min_severity: Option<String>,
    /// Only this image's findings.
    pub image: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/images/{digest}/findings", tag = "images", params(FindingParams),
    responses((status = 200, body = Vec<FindingView>)))]
pub async fn image_findings(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(digest): Path<String>,
    Query(p): Query<FindingParams>,
) -> Result<Json<Vec<FindingView>>, ApiError> {
    findings_of(&app, &caller, Some(&digest), &p).await
}

#[utoipa::path(get, path = "/api/v1/findings", tag = "images", params(FindingParams),
    responses((status = 200, body = Vec<FindingView>)))]
pub async fn list_findings(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<FindingParams>,
) -> Result<Json<Vec<FindingView>>, ApiError> {
    findings_of(&app, &caller, p.image.as_deref(), &p).await
}

async fn findings_of(
    app: &App,
    caller: &Caller,
    image: Option<&str>,
    p: &FindingParams,
) -> Result<Json<Vec<FindingView>>, ApiError> {
    let permit = authorize_list::<resources::Findings>(&caller.principal)?;
    let min = p.min_severity.as_deref().map(severity).transpose()?;
    Ok(Json(
        app.store
            .list_findings(&permit, image, min, p.limit)
            .await?,
    ))
}

/// One finding of an uploaded scan.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct FindingBody {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    /// `unknown`, `low`, `medium`, `high`, `critical`.
    pub severity: String,
    #[serde(default)]
    pub summary: String,
}

/// A scan result to store (what `bulwark scan` found for one image).
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ScanBody {
    /// `sha256:` + 64 hex digits.
    pub digest: String,
    pub reference: String,
    pub packages: usize,
    /// CIS section 4 checks of the image configuration.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<Check>,
    #[serde(default)]
    pub findings: Vec<FindingBody>,
}

fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[utoipa::path(post, path = "/api/v1/images", tag = "images", request_body = ScanBody,
    responses((status = 204), (status = 400, body = crate::model::ErrorBody), (status = 403, body = crate::model::ErrorBody)))]
pub async fn put_scan(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(body): Json<ScanBody>,
) -> Result<StatusCode, ApiError> {
    caller.call.describe(
        "image.scan",
        &body.reference,
        json!({"digest": body.digest, "findings": body.findings.len()}),
    );
    let permit =
        authorize::<verbs::Create, resources::Images>(&caller.principal, &Target::Cluster)?;
    if !valid_digest(&body.digest) {
        return Err(ApiError::bad_request(format!(
            "digest {:?}: expected sha256: and 64 hex digits",
            body.digest.escape_debug().to_string()
        )));
    }
    if body.reference.is_empty()
        || body.reference.len() > 512
        || body.reference.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "reference: 1 to 512 printable characters",
        ));
    }
    let findings = body
        .findings
        .into_iter()
        .map(|f| {
            Ok(Finding {
                severity: severity(&f.severity)?,
                vulnerability: f.vulnerability,
                package: f.package,
                version: f.version,
                fixed: f.fixed,
                summary: f.summary,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let scan = ImageScan {
        digest: body.digest,
        reference: body.reference,
        packages: body.packages,
        checks: body.checks,
        findings,
    };
    app.store
        .put_image(&permit, &scan, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
