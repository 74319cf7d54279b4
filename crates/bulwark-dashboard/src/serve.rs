//! The HTTP side: an axum router the server merges into its own.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::assets::{Asset, find};
use crate::headers::SECURITY_HEADERS;

/// Where the dashboard lives on the server. The pages call the API at
/// `/api/v1/...` on the same origin.
pub const MOUNT: &str = "/ui";

/// `GET /ui` (redirect), `GET /ui/` (the page) and `GET /ui/PATH` (its
/// scripts and styles). Merge it into the server's router; it needs no state
/// and authenticates nothing itself: the login page is public, the data
/// comes from the API.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(MOUNT, get(|| async { with_headers(Redirect::permanent("/ui/").into_response()) }))
        .route("/ui/", get(|headers: HeaderMap| async move { serve("", &headers) }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
        )
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = find(path) else {
        return with_headers((StatusCode::NOT_FOUND, "not found\n").into_response());
    };
    let etag = etag(asset);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    with_headers(response)
}

/// A strong validator from the content (the body is compiled in, so it only
/// changes with the binary).
fn etag(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.body);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
