//! The agents' side of the API (protocol in `bulwark_control::wire`):
//! reports up, updates down. A report is accepted only over mTLS: the node
//! is the SPIFFE ID of its client certificate, never anything the report
//! says. The report is stored and audited in one transaction before it is
//! acknowledged; its alerts then go to the routed sinks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bulwark_control::rbac::{Target, authorize, resources, verbs};
use bulwark_control::wire::{Downlink, Report, ReportAck};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use crate::api::caller::{Caller, Via};
use crate::api::error::ApiError;
use crate::app::App;

pub const REPORT_PATH: &str = "/agent/v1/report";
pub const UPDATES_PATH: &str = "/agent/v1/updates";
/// How often an idle update stream says it is alive.
pub const KEEPALIVE: Duration = Duration::from_secs(5);
/// Updates read from storage at once.
const UPDATE_PAGE: i64 = 256;

#[utoipa::path(post, path = "/agent/v1/report", tag = "agents",
    request_body(content = Object, description = "a `bulwark_control::wire::Report`"),
    responses((status = 200, description = "a `ReportAck`, sent after the report is stored and audited"),
              (status = 403, body = crate::model::ErrorBody), (status = 413, body = crate::model::ErrorBody)))]
pub async fn report(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Body,
) -> Result<Json<ReportAck>, ApiError> {
    if caller.via != Via::Mtls {
        return Err(ApiError::forbidden(
            "agent reports come over mTLS with the node's SVID (the node is its certificate)",
        ));
    }
    let node = caller.actor();
    let permit =
        authorize::<verbs::Create, resources::AgentStream>(&caller.principal, &Target::Cluster)?;
    let bytes = axum::body::to_bytes(body, app.settings.report_limit)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the report is unreadable or larger than {} bytes",
                    app.settings.report_limit
                ),
            )
        })?;
    let report: Report = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the report is not valid JSON: {e}")))?;
    report.check_limits().map_err(ApiError::bad_request)?;
    let screened = app.store.screen(&node, report).await?;
    let report = screened.report();
    caller.call.describe(
        "agent.report",
        &node,
        json!({"seq": report.seq, "boot": report.boot, "alerts": report.alerts.len(),
               "containers": report.containers.len(), "flows": report.flows.len(),
               "profiles": report.profiles.len(), "rejected": screened.rejected()}),
    );
    let outcome = app
        .store
        .ingest(&permit, &screened, caller.call.gate(&app))
        .await?;
    if outcome.stored {
        app.metrics.add(|m| &m.reports, 1);
        app.metrics
            .add(|m| &m.alerts_ingested, outcome.alerts.len() as u64);
        app.dispatch(outcome.alerts);
    } else {
        app.metrics.add(|m| &m.reports_duplicate, 1);
    }
    Ok(Json(ReportAck {
        seq: report.seq,
        stored: outcome.stored,
        latest_update: app.store.latest_update().await?,
        stale_after_secs: app.settings.stale_after.as_secs(),
        rejected: outcome.rejected,
    }))
}

/// Where the stream starts.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct UpdatesParams {
    /// Send updates after this version (0: everything).
    #[serde(default)]
    pub since: u64,
}

#[utoipa::path(get, path = "/agent/v1/updates", tag = "agents", params(UpdatesParams),
    responses((status = 200, description = "newline-delimited JSON `Downlink` messages: updates after `since`, then new ones as they are made, and keepalives", content_type = "application/x-ndjson")))]
pub async fn updates(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(p): Query<UpdatesParams>,
) -> Result<Response, ApiError> {
    authorize::<verbs::Get, resources::AgentStream>(&caller.principal, &Target::Cluster)?;
    caller
        .call
        .describe("agent.updates", &caller.actor(), json!({"since": p.since}));
    // The first page now, so storage errors are the response's status.
    let first = app.store.updates_since(p.since, UPDATE_PAGE).await?;
    app.metrics.add(|m| &m.agent_streams, 1);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(stream_updates(app, p.since, first, tx));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn line(msg: &Downlink) -> Bytes {
    let mut text = serde_json::to_string(msg).unwrap_or_default();
    text.push('\n');
    Bytes::from(text)
}

/// Sends updates after `since` until the agent hangs up.
async fn stream_updates(
    app: Arc<App>,
    mut since: u64,
    mut page: Vec<bulwark_control::wire::Update>,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let mut feed = app.feed.subscribe();
    loop {
        let full = page.len() as i64 >= UPDATE_PAGE;
        for u in page.drain(..) {
            since = since.max(u.version);
            if tx.send(Ok(line(&Downlink::Update(u)))).await.is_err() {
                return;
            }
        }
        if !full {
            let latest = *feed.borrow_and_update();
            if latest <= since {
                let keepalive = line(&Downlink::Keepalive { latest: since });
                tokio::select! {
                    changed = feed.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(KEEPALIVE) => {
                        if tx.send(Ok(keepalive)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
        }
        page = match app.store.updates_since(since, UPDATE_PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading updates for a stream; closing it");
                return;
            }
        };
    }
}
