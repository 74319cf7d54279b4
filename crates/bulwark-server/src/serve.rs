//! Listeners: plain HTTP (for localhost, or behind a TLS terminator) and
//! mTLS (TLS 1.3, client certificate required and verified as an
//! X.509-SVID of the trust domain by `bulwark-mesh`'s verifier; the
//! verified SPIFFE ID becomes the request's [`PeerIdentity`]; a connection
//! refused before any request, such as a forged or foreign certificate, is
//! counted in `bulwark_mtls_refused_total`). Also the stale-node sweeper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bulwark_identity::x509::PeerRole;
use bulwark_mesh::identity::IdentityHandle;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::api::caller::PeerIdentity;
use crate::app::{App, StartError};

/// Binds `addr` (port 0: any free port).
pub async fn bind(addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves `router` over plain HTTP until the task is dropped.
pub async fn serve_http(listener: TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Serves `router` over mTLS until the task is dropped; `app` counts the
/// connections refused before any request.
pub async fn serve_mtls(
    listener: TcpListener,
    router: Router,
    identity: Arc<IdentityHandle>,
    app: Arc<App>,
) -> Result<(), StartError> {
    let config = bulwark_mesh::tls::server_config(Arc::clone(&identity))
        .map_err(|e| StartError::Tls(e.to_string()))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let identity = Arc::clone(&identity);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let (tls, peer) = match handshake(tcp, acceptor, &identity).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    app.metrics.add(|m| &m.mtls_refused, 1);
                    tracing::debug!(%remote, error = %e, "mTLS connection refused");
                    return;
                }
            };
            if let Err(e) = connection(tls, remote, peer, router).await {
                tracing::debug!(%remote, error = %e, "mTLS connection ended");
            }
        });
    }
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// The TLS handshake and the client's X.509-SVID, verified.
async fn handshake(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    identity: &IdentityHandle,
) -> Result<(TlsStream, PeerIdentity), String> {
    let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let chain = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec);
    let peer = bulwark_mesh::tls::verified_peer(identity, chain.as_deref(), PeerRole::Client)?;
    Ok((tls, PeerIdentity(peer.spiffe_id().to_string())))
}

async fn connection(
    tls: TlsStream,
    remote: SocketAddr,
    peer: PeerIdentity,
    router: Router,
) -> Result<(), String> {
    let service = router.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        req.extensions_mut().insert(ConnectInfo(remote));
        req
    });
    auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
        .await
        .map_err(|e| e.to_string())
}

/// Flags nodes that have not reported within `stale_after`, checking four
/// times per interval (so a node is flagged at most 1.25 intervals after
/// its last report). Each flag is audited.
pub async fn sweep_stale_nodes(app: Arc<App>) {
    let every = (app.settings.stale_after / 4).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = sweep_once(&app).await {
            tracing::error!(error = %e, "checking for stale nodes");
        }
    }
}

async fn sweep_once(app: &App) -> Result<(), crate::store::StoreError> {
    let stale_ms = i64::try_from(app.settings.stale_after.as_millis()).unwrap_or(i64::MAX);
    let cutoff = crate::now_ms() - stale_ms;
    for node in app.store.silent_nodes(cutoff).await? {
        let entry = bulwark_audit::Entry::new("server", "node.stale")
            .target(node.id.clone())
            .outcome(bulwark_audit::Outcome::Failure)
            .detail(json!({"last_seen": node.last_seen, "stale_after_secs": app.settings.stale_after.as_secs()}));
        if app
            .store
            .flag_stale(&node.id, cutoff, app.audit.gate(entry))
            .await?
            .is_some()
        {
            tracing::warn!(node = %node.id, last_seen = node.last_seen, "node stopped reporting");
        }
    }
    Ok(())
}
