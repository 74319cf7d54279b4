//! HTTP/1.1 mode, both directions: each request is authorised by method and
//! path for the connection's [`Hop`] before it is forwarded. Outbound, a
//! denied request is answered 403 by our own proxy and never leaves the
//! workload; inbound, identity headers the peer sent are removed and the
//! verified identity is passed to the workload in `x-bulwark-peer-id`.

use std::net::SocketAddr;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{ConnCtx, Shared, apply};
use crate::decision_log::Direction;
use crate::policy::Hop;

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

/// Where allowed requests go.
pub(super) struct Upstream {
    /// The local workload, dialled on the first request and again whenever
    /// it closed the connection; `None` for the peer proxy, whose verified
    /// mTLS connection is the only one this downstream connection may use.
    dial: Option<SocketAddr>,
    sender: Mutex<Option<SendRequest<Incoming>>>,
}

impl Upstream {
    /// The local workload at `addr` (inbound).
    pub(super) fn workload(addr: SocketAddr) -> Self {
        Upstream {
            dial: Some(addr),
            sender: Mutex::new(None),
        }
    }

    /// The peer proxy over an established, verified connection (outbound).
    pub(super) async fn peer<S>(stream: S) -> Result<Self, hyper::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Upstream {
            dial: None,
            sender: Mutex::new(Some(sender)),
        })
    }

    async fn send(&self, req: Request<Incoming>) -> Result<Response<Incoming>, String> {
        let mut slot = self.sender.lock().await;
        let reusable = slot.as_ref().is_some_and(|s| !s.is_closed());
        if !reusable {
            let addr = self.dial.ok_or("the peer closed the mTLS connection")?;
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            tokio::spawn(conn);
            *slot = Some(sender);
        }
        let sender = slot.as_mut().ok_or("no upstream connection")?;
        sender.ready().await.map_err(|e| e.to_string())?;
        sender.send_request(req).await.map_err(|e| e.to_string())
    }
}

/// Serves HTTP/1.1 on `downstream` until it closes.
pub(super) async fn serve<S>(
    shared: &Shared,
    ctx: &ConnCtx,
    downstream: S,
    hop: Hop<'_>,
    upstream: Upstream,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(|req: Request<Incoming>| {
        let upstream = &upstream;
        async move { Ok::<_, hyper::Error>(handle(shared, ctx, hop, upstream, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(downstream), service)
        .await;
}

async fn handle(
    shared: &Shared,
    ctx: &ConnCtx,
    hop: Hop<'_>,
    upstream: &Upstream,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let verdict = shared.policies.load().request(hop, &method, &path);
    let mut rec = ctx.record("", None, String::new());
    rec.method = Some(method);
    rec.path = Some(path);
    if !apply(shared, verdict, rec) {
        return text(StatusCode::FORBIDDEN, "forbidden by AccessPolicy\n");
    }
    if ctx.direction == Direction::Inbound {
        let headers = req.headers_mut();
        for h in IDENTITY_HEADERS {
            headers.remove(h);
        }
        if let Ok(v) = HeaderValue::from_str(hop.from.as_str()) {
            headers.insert(PEER_ID_HEADER, v);
        }
    }
    match upstream.send(req).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(e) => text(StatusCode::BAD_GATEWAY, &format!("upstream: {e}\n")),
    }
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
