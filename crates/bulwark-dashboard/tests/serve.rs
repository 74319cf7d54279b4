//! The router as the server mounts it: status codes, types, security headers,
//! conditional requests, and paths that try to leave the embedded table.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(
    path: &str,
    etag: Option<&str>,
) -> anyhow::Result<(StatusCode, axum::http::HeaderMap, Vec<u8>)> {
    let app: Router = bulwark_dashboard::router();
    let mut req = Request::get(path);
    if let Some(tag) = etag {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let res = app.oneshot(req.body(Body::empty())?).await?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, headers, body))
}

fn assert_security_headers(headers: &axum::http::HeaderMap) {
    for (name, value) in bulwark_dashboard::SECURITY_HEADERS {
        assert_eq!(
            headers.get(*name).and_then(|v| v.to_str().ok()),
            Some(*value),
            "{name}"
        );
    }
}

#[tokio::test]
async fn index_is_served_with_strict_csp() -> anyhow::Result<()> {
    let (status, headers, body) = get("/ui/", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_security_headers(&headers);
    assert!(String::from_utf8(body)?.contains("<script type=\"module\" src=\"js/app.js\">"));
    Ok(())
}

#[tokio::test]
async fn bare_mount_redirects_to_the_index() -> anyhow::Result<()> {
    let (status, headers, _) = get("/ui", None).await?;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/ui/");
    Ok(())
}

#[tokio::test]
async fn every_asset_is_served_with_its_type() -> anyhow::Result<()> {
    for asset in bulwark_dashboard::ASSETS {
        let (status, headers, body) = get(&format!("/ui/{}", asset.path), None).await?;
        assert_eq!(status, StatusCode::OK, "{}", asset.path);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            asset.content_type,
            "{}",
            asset.path
        );
        assert_security_headers(&headers);
        assert_eq!(body, asset.body, "{}", asset.path);
    }
    Ok(())
}

#[tokio::test]
async fn matching_etag_gets_not_modified_without_body() -> anyhow::Result<()> {
    let (_, headers, _) = get("/ui/js/app.js", None).await?;
    let tag = headers[header::ETAG].to_str()?.to_string();
    let (status, headers, body) = get("/ui/js/app.js", Some(&format!("\"x\", {tag}"))).await?;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_security_headers(&headers);
    let (status, _, _) = get("/ui/js/app.js", Some("\"other\"")).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn path_traversal_attempts_are_not_found() -> anyhow::Result<()> {
    for path in [
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/js/%2e%2e/%2e%2e/src/lib.rs",
        "/ui/..%2fCargo.toml",
        "/ui//etc/passwd",
        "/ui/%2fetc%2fpasswd",
        "/ui/js/",
        "/ui/web/index.html",
        "/ui/index.html%00.js",
    ] {
        let (status, headers, body) = get(path, None).await?;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {status}"
        );
        assert_security_headers(&headers);
        assert!(
            !String::from_utf8_lossy(&body).contains("[package]"),
            "{path}"
        );
    }
    Ok(())
}
