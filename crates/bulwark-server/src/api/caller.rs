//! Authentication of API requests: who the caller is, and every role
//! binding that may apply to it.
//!
//! In order: an `Authorization: Bearer` API token, the dashboard's session
//! cookie (state-changing requests must also carry the session's
//! `X-CSRF-Token`), or the SPIFFE ID of the mTLS client certificate the TLS
//! listener verified. Failed attempts count against the remote address'
//! rate limit, which is checked before any credential is looked at.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use bulwark_control::rbac::{Principal, Subject};

use super::call::Call;
use super::error::ApiError;
use crate::app::App;
use crate::auth::secret;

/// Name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "bulwark_session";
/// Header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The SPIFFE ID of a verified mTLS client certificate, put on the request
/// by the TLS listener (never by a client: there is no header for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity(pub String);

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Token { id: String },
    Session { id: String },
    Mtls,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub via: Via,
    pub call: Call,
}

impl Caller {
    pub fn actor(&self) -> String {
        self.principal.subject.to_string()
    }

    /// The user name, for callers that are users.
    pub fn user(&self) -> Option<&str> {
        match &self.principal.subject {
            Subject::User(name) => Some(name),
            Subject::Spiffe(_) => None,
        }
    }
}

/// The remote address as a rate-limit key.
pub fn remote_key(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".into(), |c| c.0.ip().to_string())
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The session cookie's value.
pub fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

fn call_of(parts: &Parts) -> Result<Call, ApiError> {
    parts.extensions.get::<Call>().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "request reached a handler without the call layer",
        )
    })
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Caller, ApiError> {
        let call = call_of(parts)?;
        let (subject, via) = authenticate(parts, app).await?;
        call.set_actor(&subject.to_string());
        let principal = app.store.directory().principal(subject).await?;
        Ok(Caller {
            principal,
            via,
            call,
        })
    }
}

async fn authenticate(parts: &Parts, app: &App) -> Result<(Subject, Via), ApiError> {
    let presented = match (bearer(parts), session_cookie(parts)) {
        (Some(t), _) => Some((t, "api")),
        (None, Some(t)) => Some((t, "session")),
        (None, None) => None,
    };
    let Some((token, kind)) = presented else {
        return match parts.extensions.get::<PeerIdentity>() {
            Some(peer) => Ok((Subject::Spiffe(peer.0.clone()), Via::Mtls)),
            None => Err(ApiError::unauthenticated(
                "no credentials: send `Authorization: Bearer TOKEN`, log in, or present a client certificate",
            )),
        };
    };
    let key = remote_key(parts);
    let now = crate::now_ms();
    if let Err(secs) = app.limiter.check(&key, now) {
        app.metrics.add(|m| &m.auth_throttled, 1);
        return Err(ApiError::throttled(secs));
    }
    let record = if secret::looks_like_token(token) {
        app.store
            .directory()
            .token(&secret::token_hash(token), now)
            .await?
    } else {
        None
    };
    let Some(record) = record.filter(|r| r.kind == kind) else {
        app.limiter.failure(&key, now);
        app.metrics.add(|m| &m.auth_failures, 1);
        return Err(ApiError::unauthenticated(format!(
            "the {} is unknown, expired or revoked",
            if kind == "api" {
                "API token"
            } else {
                "session"
            }
        )));
    };
    if kind == "session" && !matches!(parts.method, Method::GET | Method::HEAD) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let good = match (sent, record.csrf.as_deref()) {
            (Some(a), Some(b)) => constant_time_eq(a.as_bytes(), b.as_bytes()),
            _ => false,
        };
        if !good {
            return Err(ApiError::forbidden(
                "missing or wrong X-CSRF-Token for a session request that changes state",
            ));
        }
    }
    if app.token_use_due(&record.token_id, now)
        && let Err(e) = app
            .store
            .directory()
            .touch_token(&record.token_id, now)
            .await
    {
        tracing::warn!(error = %e, "noting token use");
    }
    let via = if kind == "api" {
        Via::Token {
            id: record.token_id,
        }
    } else {
        Via::Session {
            id: record.token_id,
        }
    };
    Ok((Subject::User(record.owner), via))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
