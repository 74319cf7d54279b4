//! The HTTPS server: TLS accept, routing, body limits, the deadline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bulwark_trust::admission::{self, AdmissionOptions, ReviewResponse};
use bulwark_trust::gate::Gate;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest AdmissionReview accepted (the API server caps objects at 3 MiB).
const MAX_BODY: usize = 4 << 20;

pub struct State {
    pub gate: Arc<Gate>,
    pub options: AdmissionOptions,
    pub deadline: Duration,
}

pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("read TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("TLS certificate {}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "TLS certificate {}: no certificate in the file",
        cert.display()
    );
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("TLS key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    Ok(Arc::new(config))
}

pub async fn serve(
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    addr_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let local = listener.local_addr()?;
    if let Some(path) = addr_file {
        std::fs::write(&path, local.to_string())
            .with_context(|| format!("write {}", path.display()))?;
    }
    tracing::info!(%local, "admission webhook listening");
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| route(req, state.clone()));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

async fn route(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let mutate = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => return Ok(text(StatusCode::OK, "ok\n".into())),
        (&Method::POST, "/validate") => false,
        (&Method::POST, "/mutate") => true,
        _ => return Ok(text(StatusCode::NOT_FOUND, "not found\n".into())),
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body: {e}\n"),
            ));
        }
    };
    Ok(match review(&body, mutate, &state).await {
        Ok(resp) => {
            let mut out = text(
                StatusCode::OK,
                serde_json::to_string(&resp).unwrap_or_default(),
            );
            out.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            out
        }
        Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    })
}

async fn review(
    body: &[u8],
    mutate: bool,
    state: &Arc<State>,
) -> Result<ReviewResponse, admission::AdmissionError> {
    let parsed = admission::parse(body)?;
    let uid = parsed
        .request
        .as_ref()
        .map(|r| r.uid.clone())
        .unwrap_or_default();
    let options = AdmissionOptions {
        mutate,
        ..state.options.clone()
    };
    let gate = state.gate.clone();
    let work_options = options.clone();
    let work = tokio::task::spawn_blocking(move || {
        admission::respond(&parsed, gate.as_ref(), &work_options)
    });
    let resp = match tokio::time::timeout(state.deadline, work).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(join)) => {
            tracing::error!(error = %join, "admission worker failed");
            admission::deadline_response(&uid, &options)
        }
        Err(_) => {
            tracing::warn!(%uid, deadline_ms = state.deadline.as_millis() as u64, "admission deadline passed");
            admission::deadline_response(&uid, &options)
        }
    };
    tracing::info!(%uid, allowed = resp.response.allowed, "admission review");
    Ok(resp)
}
