//! API errors: a status, a machine-readable code and a one-line message.
//! The response carries them as an extension; the call layer
//! ([`super::call`]) renders the JSON body with the request id and records
//! the error in the audit log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bulwark_control::rbac::{Denied, GrantError};

use crate::store::StoreError;

/// The code of a write whose commit failed after its audit record was
/// written (the call layer then records the abort).
pub const COMMIT_FAILED: &str = "commit_failed";

/// What went wrong, attached to the response for the call layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub info: ErrorInfo,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            info: ErrorInfo {
                code,
                message: message.into(),
            },
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn throttled(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed authentications; retry in {retry_after} s"),
            )
        }
    }

    pub fn audit_unavailable(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!("the audit log cannot be written, so the request is refused: {detail}"),
        )
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        ApiError::forbidden(d.to_string())
    }
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> ApiError {
        match e {
            GrantError::UnknownRole(_) => ApiError::bad_request(e.to_string()),
            GrantError::Denied(_) | GrantError::Escalation { .. } => {
                ApiError::forbidden(e.to_string())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Db(crate::db::DbError::Gate(m)) => ApiError::audit_unavailable(m),
            StoreError::Db(crate::db::DbError::Commit(m)) => {
                tracing::error!(error = %m, "commit failed after the audit record");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    COMMIT_FAILED,
                    "storage error: the change was not committed (details in the server log)",
                )
            }
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "storage error (details in the server log)",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Extension(self.info)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// The code for an error response that no handler described (a rejection
/// by axum, the body limit, an unknown route).
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_client_error() => "invalid",
        _ => "internal",
    }
}
