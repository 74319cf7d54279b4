//! Logging in and out of the dashboard, and who the caller is.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{AppendHeaders, IntoResponse, Response};
use bulwark_control::rbac::{Principal, ROLES, Resource, Subject, Verb};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::call::Call;
use super::caller::{Caller, SESSION_COOKIE, Via, remote_key};
use super::error::ApiError;
use crate::app::App;
use crate::auth::secret;
use crate::model::BindingView;
use crate::store::TokenOwner;

/// A login.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

/// A dashboard session (the secret itself is only in the HttpOnly cookie).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub name: String,
    /// Send as `X-CSRF-Token` on every request that changes state.
    pub csrf: String,
    pub expires_at: Option<i64>,
}

/// The caller, its bindings and what they allow.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The user name or SPIFFE ID.
    pub name: String,
    /// `user` or `spiffe`.
    pub kind: String,
    /// `token`, `session` or `mtls`.
    pub via: String,
    pub bindings: Vec<BindingView>,
    /// `verb resource` pairs granted somewhere (for showing actions; the
    /// server checks every request anyway).
    pub permissions: Vec<String>,
}

/// Argon2 runs off the async threads.
async fn password_ok(app: &App, name: &str, password: String) -> Result<bool, ApiError> {
    let stored = app.store.directory().password_hash(name).await?;
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(phc) => secret::verify_password(&password, &phc),
        None => {
            // Same work for unknown users, so timing does not tell.
            let _ = secret::hash_password(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    Ok(ok)
}

fn cookie(app: &App, token: &str, max_age_secs: u64) -> String {
    let secure = if app.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session",
    request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, body = crate::model::ErrorBody), (status = 429, body = crate::model::ErrorBody)))]
pub async fn login(
    State(app): State<Arc<App>>,
    parts: Parts,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let call = parts
        .extensions
        .get::<Call>()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("no call context"))?;
    let name = req.name.trim().to_owned();
    call.set_actor(&Subject::User(name.clone()).to_string());
    call.describe("session.login", &name, json!({}));
    let now = crate::now_ms();
    let keys = [remote_key(&parts), format!("user:{name}")];
    for key in &keys {
        if let Err(secs) = app.limiter.check(key, now) {
            app.metrics.add(|m| &m.auth_throttled, 1);
            return Err(ApiError::throttled(secs));
        }
    }
    if name.is_empty() || !password_ok(&app, &name, req.password).await? {
        for key in &keys {
            app.limiter.failure(key, now);
        }
        app.metrics.add(|m| &m.auth_failures, 1);
        return Err(ApiError::unauthenticated("wrong user name or password"));
    }
    let csrf = secret::new_id().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ttl = app.settings.session_ttl;
    let principal = Principal {
        subject: Subject::User(name.clone()),
        bindings: Vec::new(),
    };
    let (token, _) = app
        .store
        .directory()
        .create_token(
            TokenOwner::Caller(&principal),
            "dashboard session",
            "session",
            Some(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            Some(csrf.clone()),
            call.gate(&app),
        )
        .await?;
    let body = SessionView {
        name,
        csrf,
        expires_at: token.expires_at,
    };
    let set = cookie(&app, &token.token, ttl.as_secs());
    Ok((AppendHeaders([(SET_COOKIE, set)]), Json(body)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 401, body = crate::model::ErrorBody)))]
pub async fn logout(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let Via::Session { id } = &caller.via else {
        return Err(ApiError::bad_request(
            "not a dashboard session (revoke API tokens with DELETE /api/v1/tokens/{id})",
        ));
    };
    caller
        .call
        .describe("session.logout", &caller.actor(), json!({}));
    app.store
        .directory()
        .delete_token(id, caller.user(), caller.call.gate(&app))
        .await?;
    let clear = cookie(&app, "", 0);
    Ok((
        axum::http::StatusCode::NO_CONTENT,
        AppendHeaders([(SET_COOKIE, clear)]),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/whoami", tag = "session",
    responses((status = 200, body = WhoAmI), (status = 401, body = crate::model::ErrorBody)))]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    let p = &caller.principal;
    let (kind, name) = match &p.subject {
        Subject::User(n) => ("user", n.clone()),
        Subject::Spiffe(id) => ("spiffe", id.clone()),
    };
    let bindings = p
        .bindings
        .iter()
        .map(super::directory::binding_summary)
        .collect();
    let mut permissions = Vec::new();
    for verb in Verb::ALL {
        for resource in Resource::ALL {
            let granted = p.bindings.iter().any(|b| {
                b.subject.matches(&p.subject)
                    && ROLES
                        .iter()
                        .any(|r| r.name == b.role && r.grants(verb, resource))
            });
            if granted {
                permissions.push(format!("{verb} {resource}"));
            }
        }
    }
    let via = match caller.via {
        Via::Token { .. } => "token",
        Via::Session { .. } => "session",
        Via::Mtls => "mtls",
    };
    Json(WhoAmI {
        name,
        kind: kind.into(),
        via: via.into(),
        bindings,
        permissions,
    })
}
