//! Inbound HTTP/1.1: each request is authorised by method and path for the
//! verified peer, identity headers the peer sent are removed, and the
//! verified identity is passed to the workload in `x-bulwark-peer-id`.

use std::sync::Arc;

use bulwark_core::spiffe::SpiffeId;
use bulwark_identity::x509::VerifiedX509Svid;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{ConnCtx, InboundRoute, Shared, apply};

/// The header that carries the verified peer identity to the workload.
pub const PEER_ID_HEADER: &str = "x-bulwark-peer-id";

/// Headers that claim an identity: whatever a peer sends in them is dropped,
/// so only what the proxy verified reaches the workload.
pub const IDENTITY_HEADERS: [&str; 5] = [
    PEER_ID_HEADER,
    "x-forwarded-client-cert",
    "x-client-cert",
    "x-spiffe-id",
    "l5d-client-id",
];

type Body = BoxBody<Bytes, hyper::Error>;
type Upstream = Arc<Mutex<Option<hyper::client::conn::http1::SendRequest<Incoming>>>>;

pub(super) async fn serve<S>(
    shared: &Shared,
    ctx: &ConnCtx,
    tls: S,
    local: &SpiffeId,
    peer: &VerifiedX509Svid,
    route: InboundRoute,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let upstream: Upstream = Arc::new(Mutex::new(None));
    let service = service_fn(|req: Request<Incoming>| {
        let upstream = Arc::clone(&upstream);
        async move {
            Ok::<_, hyper::Error>(handle(shared, ctx, local, peer, route, &upstream, req).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

async fn handle(
    shared: &Shared,
    ctx: &ConnCtx,
    local: &SpiffeId,
    peer: &VerifiedX509Svid,
    route: InboundRoute,
    upstream: &Upstream,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let verdict = shared.policies.load().request(
        local,
        peer.spiffe_id(),
        route.listen.port(),
        &method,
        &path,
    );
    let mut rec = ctx.record("", None, String::new());
    rec.method = Some(method);
    rec.path = Some(path);
    if !apply(shared, verdict, rec) {
        return text(StatusCode::FORBIDDEN, "forbidden by AccessPolicy\n");
    }
    let headers = req.headers_mut();
    for h in IDENTITY_HEADERS {
        headers.remove(h);
    }
    if let Ok(v) = HeaderValue::from_str(peer.spiffe_id().as_str()) {
        headers.insert(PEER_ID_HEADER, v);
    }
    match forward(upstream, route, req).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(e) => text(
            StatusCode::BAD_GATEWAY,
            &format!("upstream {}: {e}\n", route.upstream),
        ),
    }
}

async fn forward(
    upstream: &Upstream,
    route: InboundRoute,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, String> {
    let mut slot = upstream.lock().await;
    let reusable = slot.as_ref().is_some_and(|s| !s.is_closed());
    if !reusable {
        let tcp = TcpStream::connect(route.upstream)
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        *slot = Some(sender);
    }
    let sender = slot.as_mut().ok_or("no upstream connection")?;
    sender.ready().await.map_err(|e| e.to_string())?;
    sender.send_request(req).await.map_err(|e| e.to_string())
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
}
