//! Scanned images and their vulnerability findings.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bulwark_control::compliance::Check;
use bulwark_control::rbac::{Target, authorize, authorize_list, resources, verbs};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::alerts::severity;
use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::model::{FindingView, ImageView, LayerView};
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FindingBody {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    /// `unknown`, `low`, `medium`, `high`, `critical`.
    pub severity: String,
    #[serde(default)]
    pub summary: String,
    /// The layer (`sha256:` diff id) that brought the package.
    #[serde(default)]
    pub layer: Option<String>,
}

/// A scan result to store (what `bulwark scan` found for one image).
/// Pushing the same digest again replaces its findings; `checks` and
/// `layers`, when left out, keep what is stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanBody {
    /// `sha256:` + 64 hex digits.
    pub digest: String,
    pub reference: String,
    pub packages: usize,
    /// CIS section 4 checks of the image configuration.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub checks: Option<Vec<Check>>,
    /// The image's layers, base first (at most 1000).
    #[serde(default)]
    pub layers: Option<Vec<LayerView>>,
    #[serde(default)]
    pub findings: Vec<FindingBody>,
}

/// Longest `created_by` of a layer kept.
const MAX_CREATED_BY: usize = 4096;
const MAX_LAYERS: usize = 1000;

fn check_layers(layers: &[LayerView]) -> Result<(), ApiError> {
    if layers.len() > MAX_LAYERS {
        return Err(ApiError::bad_request(format!(
            "layers: {} given, at most {MAX_LAYERS}",
            layers.len()
        )));
    }
    for l in layers {
        if !valid_digest(&l.diff_id) {
            return Err(ApiError::bad_request(format!(
                "layer {} diff_id {:?}: expected sha256: and 64 hex digits",
                l.index,
                l.diff_id.escape_debug().to_string()
            )));
        }
        if l.created_by
            .as_ref()
            .is_some_and(|c| c.len() > MAX_CREATED_BY)
        {
            return Err(ApiError::bad_request(format!(
                "layer {} created_by: longer than {MAX_CREATED_BY} bytes",
                l.index
            )));
        }
    }
    Ok(())
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
    if let Some(layers) = &body.layers {
        check_layers(layers)?;
    }
    let findings = body
        .findings
        .into_iter()
        .map(|f| {
            if let Some(layer) = f.layer.as_deref().filter(|l| !valid_digest(l)) {
                return Err(ApiError::bad_request(format!(
                    "finding {} layer {:?}: expected sha256: and 64 hex digits",
                    f.vulnerability.escape_debug(),
                    layer.escape_debug().to_string()
                )));
            }
            Ok(Finding {
                severity: severity(&f.severity)?,
                vulnerability: f.vulnerability,
                package: f.package,
                version: f.version,
                fixed: f.fixed,
                summary: f.summary,
                layer: f.layer,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let scan = ImageScan {
        digest: body.digest,
        reference: body.reference,
        packages: body.packages,
        checks: body.checks,
        layers: body.layers,
        findings,
    };
    app.store
        .put_image(&permit, &scan, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
