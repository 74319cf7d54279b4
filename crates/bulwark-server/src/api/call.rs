//! The call layer: every API request gets a request id and exactly one
//! audit record, written and fsync'd before the response leaves.
//!
//! A write handler appends its record as the commit gate of its database
//! transaction ([`Call::gate`]), so the record is on disk before the change
//! commits and a change the log refuses is never made. For every other
//! request (reads, refusals, errors) the layer appends the record after the
//! handler ran; if that append fails, the handler's response is discarded
//! and the caller gets 503. If a write's commit fails after its record was
//! written, the layer appends `ACTION.aborted` (outcome failure, naming the
//! record it corrects), so the log never claims a change that was not made.
//! The layer also renders error bodies (with the request id) and counts the
//! request in the metrics.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bulwark_audit::{Entry, Outcome, Recorded};
use serde_json::json;

use super::error::{ApiError, COMMIT_FAILED, ErrorInfo, code_of};
use crate::app::App;
use crate::db::Gate;
use crate::model::ErrorBody;

/// Longest path or target recorded (the audit log bounds fields too).
const MAX_TARGET: usize = 1024;

#[derive(Debug, Default)]
struct CallState {
    actor: Option<String>,
    route: Option<String>,
    /// Set by a handler that knows better than method + route.
    action: Option<String>,
    target: Option<String>,
    detail: Option<serde_json::Value>,
    recorded: Option<u64>,
    /// The record the commit gate wrote (for an abort record).
    gated: Option<Entry>,
}

/// The request's audit context, in the request extensions.
#[derive(Clone, Debug)]
pub struct Call {
    pub request_id: String,
    pub method: String,
    pub path: String,
    state: Arc<Mutex<CallState>>,
}

fn bounded(text: &str) -> String {
    if text.len() <= MAX_TARGET {
        return text.to_owned();
    }
    let mut end = MAX_TARGET;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl Call {
    fn with<R>(&self, f: impl FnOnce(&mut CallState) -> R) -> Option<R> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    pub(crate) fn set_actor(&self, actor: &str) {
        self.with(|s| s.actor = Some(bounded(actor)));
    }

    /// Names what the call does, for its record (`profile.mode`, ...).
    pub fn describe(&self, action: &str, target: &str, detail: serde_json::Value) {
        self.with(|s| {
            s.action = Some(action.to_owned());
            s.target = Some(bounded(target));
            s.detail = Some(detail);
        });
    }

    fn entry(&self, outcome: Outcome, status: Option<u16>, error: Option<&ErrorInfo>) -> Entry {
        // Takes what the record says; the route and the recorded mark stay
        // for the metrics and the layer.
        let s = self
            .with(|s| {
                let taken = std::mem::take(s);
                s.route.clone_from(&taken.route);
                s.recorded = taken.recorded;
                s.gated.clone_from(&taken.gated);
                taken
            })
            .unwrap_or_default();
        let action = s
            .action
            .unwrap_or_else(|| format!("api.{}", self.method.to_ascii_lowercase()));
        let mut detail = json!({
            "request_id": self.request_id,
            "method": self.method,
            "path": bounded(&self.path),
            "route": s.route,
            "status": status,
        });
        if let (Some(obj), Some(extra)) = (detail.as_object_mut(), s.detail) {
            obj.insert("args".into(), extra);
        }
        if let (Some(obj), Some(e)) = (detail.as_object_mut(), error) {
            obj.insert(
                "error".into(),
                json!({"code": e.code, "message": bounded(&e.message)}),
            );
        }
        Entry::new(s.actor.unwrap_or_else(|| "anonymous".into()), action)
            .target(s.target.unwrap_or_else(|| bounded(&self.path)))
            .outcome(outcome)
            .detail(detail)
    }

    /// The commit gate of a write: appends this call's record (outcome
    /// success) and marks the call recorded.
    pub fn gate(&self, app: &App) -> Gate<Recorded> {
        // Written before the commit: the status is not known yet.
        let entry = self.entry(Outcome::Success, None, None);
        let log = app.audit.clone();
        let call = self.clone();
        Box::new(move || {
            let recorded = log.append_blocking(&entry).map_err(|e| e.to_string())?;
            call.with(|s| {
                s.recorded = Some(recorded.seq());
                s.gated = Some(entry);
            });
            Ok(recorded)
        })
    }

    fn recorded(&self) -> bool {
        self.with(|s| s.recorded.is_some()).unwrap_or(false)
    }

    /// The record correcting this call's gate record when its commit
    /// failed: same actor and target, `ACTION.aborted`, outcome failure.
    fn abort_entry(&self, status: StatusCode, error: &ErrorInfo) -> Option<Entry> {
        let (gated, seq) = self.with(|s| s.gated.clone().zip(s.recorded)).flatten()?;
        let entry = Entry::new(gated.actor, format!("{}.aborted", gated.action))
            .outcome(Outcome::Failure)
            .detail(json!({
                "request_id": self.request_id,
                "aborts_seq": seq,
                "status": status.as_u16(),
                "error": {"code": error.code, "message": bounded(&error.message)},
            }));
        Some(match gated.target {
            Some(target) => entry.target(target),
            None => entry,
        })
    }
}

fn outcome_of(status: StatusCode) -> Outcome {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
            Outcome::Denied
        }
        s if s.is_success() || s.is_redirection() => Outcome::Success,
        _ => Outcome::Failure,
    }
}

/// Outer layer: request id, the record, error bodies, metrics.
pub async fn layer(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = crate::auth::secret::new_id().unwrap_or_else(|_| "unavailable".into());
    let call = Call {
        request_id,
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        state: Arc::default(),
    };
    req.extensions_mut().insert(call.clone());
    let response = next.run(req).await;
    let response = finish(&app, &call, response).await;
    let route = call
        .with(|s| s.route.clone())
        .flatten()
        .unwrap_or_else(|| "unmatched".into());
    app.metrics.request(
        &call.method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Inner (route) layer: notes the matched route template.
pub async fn matched(req: Request, next: Next) -> Response {
    if let (Some(call), Some(path)) = (
        req.extensions().get::<Call>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let route = path.as_str().to_owned();
        call.with(|s| s.route = Some(route));
    }
    next.run(req).await
}

async fn finish(app: &App, call: &Call, response: Response) -> Response {
    let status = response.status();
    let (response, error) = split_error(status, response).await;
    if call.recorded() {
        let aborted = error
            .as_ref()
            .filter(|e| e.code == COMMIT_FAILED)
            .and_then(|e| call.abort_entry(status, e));
        if let Some(entry) = aborted
            && let Err(e) = app.audit.append(entry).await
        {
            app.metrics.add(|m| &m.audit_failures, 1);
            tracing::error!(error = %e, request_id = %call.request_id, "recording an aborted commit failed");
        }
    } else {
        let entry = call.entry(outcome_of(status), Some(status.as_u16()), error.as_ref());
        if let Err(e) = app.audit.append(entry).await {
            app.metrics.add(|m| &m.audit_failures, 1);
            tracing::error!(error = %e, request_id = %call.request_id, "audit append failed; request refused");
            let refused = ApiError::audit_unavailable(e);
            return error_response(call, refused.status, &refused.info, &response);
        }
    }
    match error {
        Some(info) => error_response(call, status, &info, &response),
        None => {
            let mut response = response;
            set_request_id(&mut response, call);
            response
        }
    }
}

/// For an error response, its code and message (from the handler's
/// [`ErrorInfo`], or the body axum wrote, which is drained).
async fn split_error(status: StatusCode, mut response: Response) -> (Response, Option<ErrorInfo>) {
    if !(status.is_client_error() || status.is_server_error()) {
        return (response, None);
    }
    if let Some(info) = response.extensions_mut().remove::<ErrorInfo>() {
        return (response, Some(info));
    }
    let body = axum::body::to_bytes(std::mem::take(response.body_mut()), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = match text.lines().next() {
        Some(line) if !line.trim().is_empty() => line.trim().to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let info = ErrorInfo {
        code: code_of(status),
        message,
    };
    (response, Some(info))
}

fn error_response(call: &Call, status: StatusCode, info: &ErrorInfo, old: &Response) -> Response {
    let body = ErrorBody {
        error: info.code.to_owned(),
        message: info.message.clone(),
        request_id: call.request_id.clone(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(v) = old.headers().get(axum::http::header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v.clone());
    }
    if let Some(v) = old.headers().get(axum::http::header::ALLOW) {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, v.clone());
    }
    set_request_id(&mut response, call);
    response
}

fn set_request_id(response: &mut Response, call: &Call) {
    if let Ok(v) = HeaderValue::from_str(&call.request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
}
