//! The proxy: inbound listeners terminate mTLS and forward plaintext to the
//! local workload; outbound listeners take the workload's plaintext and carry
//! it over mTLS to a peer whose SPIFFE ID must be the expected one.
//!
//! Both directions check every connection (and, with `http`, every request)
//! against the same AccessPolicy set, for the [`Hop`] from the caller's
//! SPIFFE ID to the callee's: default deny. Outbound, a connection no policy
//! allows is refused before anything is dialled. In audit mode policy
//! denials are logged as `audit-deny` and let through; failed
//! authentication (handshake, certificate, unexpected server identity) is
//! refused in every mode.

pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bulwark_core::spiffe::SpiffeId;
use bulwark_identity::x509::PeerRole;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::debug;

use crate::decision_log::{DecisionLog, Direction, Mode, Record, now_rfc3339};
use crate::identity::IdentityHandle;
use crate::policy::{Hop, Layer, PolicySet, Verdict};
use crate::tls::{self, TlsConfigError, verified_peer};

/// An inbound route: mTLS on `listen`, plaintext to `upstream`.
#[derive(Debug, Clone, Copy)]
pub struct InboundRoute {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
}

/// An outbound route: plaintext on `listen`, mTLS to `remote`, whose
/// SPIFFE ID must be `expect`.
#[derive(Debug, Clone)]
pub struct OutboundRoute {
    pub listen: SocketAddr,
    pub remote: SocketAddr,
    pub expect: SpiffeId,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub inbound: Vec<InboundRoute>,
    pub outbound: Vec<OutboundRoute>,
    /// Parse HTTP/1.1 in both directions: authorise each request; inbound,
    /// strip identity headers.
    pub http: bool,
    pub mode: Mode,
    pub handshake_timeout: Duration,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

struct Shared {
    identity: Arc<IdentityHandle>,
    policies: Arc<ArcSwap<PolicySet>>,
    log: Arc<DecisionLog>,
    mode: Mode,
    http: bool,
    handshake_timeout: Duration,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

enum Listener {
    Inbound(TcpListener, InboundRoute),
    Outbound(TcpListener, OutboundRoute),
}

/// A proxy whose listeners are bound (so their ports are known).
pub struct Proxy {
    listeners: Vec<Listener>,
    shared: Arc<Shared>,
}

impl Proxy {
    pub async fn bind(
        cfg: ProxyConfig,
        identity: Arc<IdentityHandle>,
        policies: Arc<ArcSwap<PolicySet>>,
        log: Arc<DecisionLog>,
    ) -> Result<Proxy, ProxyError> {
        let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(Arc::clone(&identity))?));
        let connector = TlsConnector::from(Arc::new(tls::client_config(Arc::clone(&identity))?));
        let mut listeners = Vec::new();
        for mut r in cfg.inbound {
            let l = bind(r.listen).await?;
            r.listen = l.local_addr().map_err(|source| ProxyError::Bind {
                addr: r.listen,
                source,
            })?;
            listeners.push(Listener::Inbound(l, r));
        }
        for mut r in cfg.outbound {
            let l = bind(r.listen).await?;
            r.listen = l.local_addr().map_err(|source| ProxyError::Bind {
                addr: r.listen,
                source,
            })?;
            listeners.push(Listener::Outbound(l, r));
        }
        let shared = Arc::new(Shared {
            identity,
            policies,
            log,
            mode: cfg.mode,
            http: cfg.http,
            handshake_timeout: cfg.handshake_timeout,
            acceptor,
            connector,
        });
        Ok(Proxy { listeners, shared })
    }

    /// The bound addresses: inbound listeners first, then outbound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .map(|l| match l {
                Listener::Inbound(_, r) => r.listen,
                Listener::Outbound(_, r) => r.listen,
            })
            .collect()
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            let shared = Arc::clone(&self.shared);
            tasks.spawn(accept_loop(listener, shared));
        }
        shutdown.await;
        tasks.abort_all();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind { addr, source })
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    let (tcp, inbound, outbound) = match listener {
        Listener::Inbound(l, r) => (l, Some(r), None),
        Listener::Outbound(l, r) => (l, None, Some(r)),
    };
    loop {
        let Ok((stream, peer)) = tcp.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        if let Some(r) = inbound {
            tokio::spawn(async move { inbound_conn(&shared, r, stream, peer).await });
        } else if let Some(r) = outbound.clone() {
            tokio::spawn(async move { outbound_conn(&shared, &r, stream, peer).await });
        }
    }
}

/// What goes into every record of one connection.
#[derive(Clone)]
struct ConnCtx {
    direction: Direction,
    listener: SocketAddr,
    peer_addr: SocketAddr,
    local_id: String,
    peer_id: Option<String>,
    expected_peer_id: Option<String>,
}

impl ConnCtx {
    fn record(&self, decision: &'static str, policy: Option<String>, reason: String) -> Record {
        Record {
            time: now_rfc3339(),
            direction: self.direction,
            listener: self.listener,
            peer_addr: self.peer_addr,
            local_id: self.local_id.clone(),
            peer_id: self.peer_id.clone(),
            expected_peer_id: self.expected_peer_id.clone(),
            decision,
            policy,
            reason,
            method: None,
            path: None,
        }
    }
}

impl Shared {
    fn layer(&self) -> Layer {
        if self.http { Layer::Http } else { Layer::Tcp }
    }
}

/// Logs `verdict` and says whether to let the traffic through.
fn apply(shared: &Shared, verdict: Verdict, mut rec: Record) -> bool {
    rec.policy = verdict.policy;
    rec.reason = verdict.reason;
    let pass = verdict.allowed || shared.mode == Mode::Audit;
    rec.decision = match (verdict.allowed, shared.mode) {
        (true, _) => "allow",
        (false, Mode::Audit) => "audit-deny",
        (false, Mode::Enforce) => "deny",
    };
    shared.log.record(&rec);
    pass
}

async fn inbound_conn(
    shared: &Shared,
    route: InboundRoute,
    stream: TcpStream,
    peer_addr: SocketAddr,
) {
    let local = shared.identity.current().id.clone();
    let mut ctx = ConnCtx {
        direction: Direction::Inbound,
        listener: route.listen,
        peer_addr,
        local_id: local.to_string(),
        peer_id: None,
        expected_peer_id: None,
    };
    let accepted =
        tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(stream)).await;
    let mut tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            return shared
                .log
                .record(&ctx.record("deny", None, describe_tls_error(&e)));
        }
        Err(_) => {
            return shared
                .log
                .record(&ctx.record("deny", None, "TLS handshake timed out".into()));
        }
    };
    let peer = match verified_peer(
        &shared.identity,
        tls.get_ref().1.peer_certificates(),
        PeerRole::Client,
    ) {
        Ok(p) => p,
        Err(reason) => return shared.log.record(&ctx.record("deny", None, reason)),
    };
    ctx.peer_id = Some(peer.spiffe_id().to_string());
    let hop = Hop {
        from: peer.spiffe_id(),
        to: &local,
        port: route.listen.port(),
    };
    let verdict = shared.policies.load().connection(hop, shared.layer());
    if !apply(shared, verdict, ctx.record("", None, String::new())) {
        let _ = tls.shutdown().await;
        return;
    }
    if shared.http {
        let upstream = http::Upstream::workload(route.upstream);
        http::serve(shared, &ctx, tls, hop, upstream).await;
        return;
    }
    match TcpStream::connect(route.upstream).await {
        Ok(mut upstream) => {
            let _ = upstream.set_nodelay(true);
            let r = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            debug!(?r, "inbound connection closed");
        }
        Err(e) => shared.log.record(&ctx.record(
            "deny",
            None,
            format!("upstream {} unreachable: {e}", route.upstream),
        )),
    }
}

async fn outbound_conn(
    shared: &Shared,
    route: &OutboundRoute,
    mut app: TcpStream,
    peer_addr: SocketAddr,
) {
    let local = shared.identity.current().id.clone();
    let mut ctx = ConnCtx {
        direction: Direction::Outbound,
        listener: route.listen,
        peer_addr,
        local_id: local.to_string(),
        peer_id: None,
        expected_peer_id: Some(route.expect.to_string()),
    };
    let port = route.remote.port();
    let expected = Hop {
        from: &local,
        to: &route.expect,
        port,
    };
    let before = shared.policies.load().connection(expected, shared.layer());
    if !before.allowed && shared.mode == Mode::Enforce {
        let reason = format!("{}; {} was not dialled", before.reason, route.remote);
        return shared.log.record(&ctx.record("deny", None, reason));
    }
    let Some(mut tls) = dial(shared, route, &ctx).await else {
        return;
    };
    let peer = match verified_peer(
        &shared.identity,
        tls.get_ref().1.peer_certificates(),
        PeerRole::Server,
    ) {
        Ok(p) => p,
        Err(reason) => return shared.log.record(&ctx.record("deny", None, reason)),
    };
    ctx.peer_id = Some(peer.spiffe_id().to_string());
    if *peer.spiffe_id() != route.expect {
        let reason = format!(
            "server {} is {}, expected {}: refused",
            route.remote,
            peer.spiffe_id(),
            route.expect
        );
        let _ = tls.shutdown().await;
        return shared.log.record(&ctx.record("deny", None, reason));
    }
    let hop = Hop {
        from: &local,
        to: peer.spiffe_id(),
        port,
    };
    let verdict = shared.policies.load().connection(hop, shared.layer());
    if !apply(shared, verdict, ctx.record("", None, String::new())) {
        let _ = tls.shutdown().await;
        return;
    }
    if shared.http {
        match http::Upstream::peer(tls).await {
            Ok(upstream) => http::serve(shared, &ctx, app, hop, upstream).await,
            Err(e) => shared.log.record(&ctx.record(
                "deny",
                None,
                format!("HTTP/1.1 to {} failed: {e}", route.remote),
            )),
        }
        return;
    }
    let r = tokio::io::copy_bidirectional(&mut app, &mut tls).await;
    debug!(?r, "outbound connection closed");
}

/// TCP connect and TLS handshake to the route's remote; failures are logged.
async fn dial(
    shared: &Shared,
    route: &OutboundRoute,
    ctx: &ConnCtx,
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    let connect = async {
        let tcp = TcpStream::connect(route.remote).await?;
        let _ = tcp.set_nodelay(true);
        shared
            .connector
            .connect(ServerName::IpAddress(route.remote.ip().into()), tcp)
            .await
    };
    let reason = match tokio::time::timeout(shared.handshake_timeout, connect).await {
        Ok(Ok(tls)) => return Some(tls),
        Ok(Err(e)) => describe_tls_error(&e),
        Err(_) => "TLS handshake timed out".into(),
    };
    let reason = format!("to {}: {reason}", route.remote);
    shared.log.record(&ctx.record("deny", None, reason));
    None
}

/// A one-line reason for a failed handshake.
fn describe_tls_error(e: &std::io::Error) -> String {
    let Some(err) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return format!("connection failed before TLS completed: {e}");
    };
    use rustls::{CertificateError, Error, PeerIncompatible};
    match err {
        Error::InvalidMessage(_) => {
            "not a TLS handshake (plaintext or garbage): refused; only mTLS is accepted".into()
        }
        Error::PeerIncompatible(PeerIncompatible::SupportedVersionsExtensionRequired)
        | Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered)
        | Error::PeerIncompatible(PeerIncompatible::Tls12NotOfferedOrEnabled)
        | Error::PeerIncompatible(PeerIncompatible::Tls13RequiredForQuic) => {
            "peer offered only TLS 1.2 or older: refused; TLS 1.3 is required".into()
        }
        Error::NoCertificatesPresented => {
            "peer presented no client certificate: refused; mTLS is required".into()
        }
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            format!("peer certificate refused: {other}")
        }
        Error::InvalidCertificate(c) => format!("peer certificate refused: {c:?}"),
        Error::AlertReceived(alert) => format!(
            "peer aborted the handshake with alert {alert:?} (it did not accept our certificate?)"
        ),
        other => format!("TLS handshake failed: {other}"),
    }
}
