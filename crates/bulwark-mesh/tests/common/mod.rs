//! Test fixtures for the mesh: a real CA, proxies on loopback, an echo and an
//! HTTP upstream, an in-memory decision log and hostile TLS clients.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use bulwark_identity::bundle::BundleSet;
use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
use bulwark_identity::x509::{LeafRequest, X509Svid};
use bulwark_mesh::testutil::AcceptAnyServer;
use bulwark_mesh::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const WEB: &str = "spiffe://example.org/web";
pub const API: &str = "spiffe://example.org/api";

pub const EVIL: &str = "spiffe://example.org/evil";

/// An AccessPolicy letting `from` call `to`, with `extra` spec lines.
pub fn allow(from: &str, to: &str, extra: &str) -> String {
    let name = format!(
        "{}-to-{}",
        from.rsplit('/').next().unwrap(),
        to.rsplit('/').next().unwrap()
    );
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  to: {to}\n  from: [{from}]\n{extra}"
    )
}

pub fn allow_web_to_api() -> String {
    allow(WEB, API, "")
}

/// A client-side proxy config: one outbound route to `remote`, expecting `expect`.
pub fn outbound_to(remote: SocketAddr, expect: &str, http: bool) -> ProxyConfig {
    ProxyConfig {
        inbound: vec![],
        outbound: vec![OutboundRoute {
            listen: "127.0.0.1:0".parse().unwrap(),
            remote,
            expect: SpiffeId::new(expect).unwrap(),
        }],
        http,
        mode: Mode::Enforce,
        handshake_timeout: Duration::from_secs(5),
    }
}

pub fn allow_web_get_v1() -> String {
    format!(
        "{}  http:\n    - methods: [GET]\n      paths: [/v1/*]\n",
        allow_web_to_api()
    )
}

/// A trust domain CA for tests.
pub struct Pki {
    pub ca: TrustDomainCa,
}

impl Pki {
    pub fn new(td: &str) -> Pki {
        let td = TrustDomain::new(td).unwrap();
        Pki {
            ca: TrustDomainCa::init(td, CaPolicy::default(), SystemTime::now()).unwrap(),
        }
    }

    pub fn issue(&self, id: &str) -> X509Svid {
        let id = SpiffeId::new(id).unwrap();
        self.ca
            .issue_x509(&LeafRequest {
                id: &id,
                ttl: Duration::from_secs(3600),
                now: SystemTime::now(),
                dns_names: &[],
            })
            .unwrap()
    }

    pub fn bundles(&self) -> BundleSet {
        let mut set = BundleSet::new();
        set.insert(self.ca.bundle());
        set
    }

    pub fn material(&self, id: &str) -> Material {
        let svid = self.issue(id);
        Material::new(svid.chain, svid.key_pkcs8, self.bundles()).unwrap()
    }

    /// A leaf with the given URI SANs, signed by the real intermediate.
    pub fn forge(&self, uris: &[&str], how: Forge) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        use rcgen::{
            BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let inter = &self.ca.active().unwrap().intermediate;
        let issuer = Issuer::from_ca_cert_der(&inter.der, &inter.key).unwrap();
        let mut p = CertificateParams::default();
        p.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).to_string().try_into().unwrap()))
            .collect();
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.is_ca = IsCa::ExplicitNoCa;
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::hours(1);
        match how {
            Forge::Leaf => {}
            Forge::Expired => {
                p.not_before = now - time::Duration::hours(2);
                p.not_after = now - time::Duration::hours(1);
            }
            Forge::CaAsLeaf => {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                ];
            }
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (
            vec![cert.der().clone(), inter.der.clone()],
            key.serialize_der(),
        )
    }
}

pub enum Forge {
    Leaf,
    Expired,
    CaAsLeaf,
}

/// Decision log records kept in memory.
#[derive(Clone, Default)]
pub struct MemLog(Arc<Mutex<Vec<u8>>>);

impl Write for MemLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MemLog {
    pub fn records(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The first record matching `pred`, waiting up to 10 s for it.
    pub async fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no matching decision record; log: {:?}", self.records());
    }
}

/// client app -> client proxy (outbound) -> server proxy (inbound) -> upstream.
pub struct Mesh {
    pub outbound: SocketAddr,
    pub inbound: SocketAddr,
    pub client_log: MemLog,
    pub server_log: MemLog,
    pub client_identity: Arc<IdentityHandle>,
    pub server_identity: Arc<IdentityHandle>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What to start: by default both proxies enforce the same policies and
/// the client expects the server's real identity.
pub struct MeshSpec<'a> {
    pub client: &'a str,
    pub server: &'a str,
    pub expect: &'a str,
    pub client_policy: String,
    pub server_policy: String,
    pub mode: Mode,
    pub http: bool,
}

impl<'a> MeshSpec<'a> {
    pub fn new(client: &'a str, server: &'a str, policy: &str) -> Self {
        MeshSpec {
            client,
            server,
            expect: server,
            client_policy: policy.to_owned(),
            server_policy: policy.to_owned(),
            mode: Mode::Enforce,
            http: false,
        }
    }

    pub async fn start(self, pki: &Pki) -> Mesh {
        let upstream = if self.http {
            http_upstream().await
        } else {
            echo_upstream().await
        };
        let (stop, rx) = tokio::sync::watch::channel(false);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = Side::start(
            pki,
            self.server,
            &self.server_policy,
            ProxyConfig {
                inbound: vec![InboundRoute {
                    listen: any,
                    upstream,
                }],
                outbound: vec![],
                http: self.http,
                mode: self.mode,
                handshake_timeout: Duration::from_secs(5),
            },
            rx.clone(),
        )
        .await;
        let mut cfg = outbound_to(server.addr, self.expect, self.http);
        cfg.mode = self.mode;
        let client = Side::start(pki, self.client, &self.client_policy, cfg, rx).await;
        Mesh {
            outbound: client.addr,
            inbound: server.addr,
            client_log: client.log,
            server_log: server.log,
            client_identity: client.identity,
            server_identity: server.identity,
            stop,
        }
    }
}

/// One running proxy.
pub struct Side {
    pub addr: SocketAddr,
    pub log: MemLog,
    pub identity: Arc<IdentityHandle>,
}

impl Side {
    pub async fn start(
        pki: &Pki,
        id: &str,
        policy: &str,
        cfg: ProxyConfig,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Side {
        let policies = Arc::new(ArcSwap::from_pointee(PolicySet::new(
            PolicySet::parse("test.yaml", policy).unwrap(),
        )));
        let log = MemLog::default();
        let identity = IdentityHandle::new(pki.material(id));
        let decisions = Arc::new(DecisionLog::new(Box::new(log.clone())));
        let proxy = Proxy::bind(cfg, Arc::clone(&identity), policies, decisions)
            .await
            .unwrap();
        let addr = proxy.local_addrs()[0];
        spawn(proxy, stop);
        Side {
            addr,
            log,
            identity,
        }
    }
}

impl Mesh {
    pub async fn start(
        pki: &Pki,
        client: &str,
        server: &str,
        policy: &str,
        mode: Mode,
        http: bool,
    ) -> Mesh {
        let mut spec = MeshSpec::new(client, server, policy);
        spec.mode = mode;
        spec.http = http;
        spec.start(pki).await
    }

    /// Sends `msg` through a new connection and reads the echo.
    pub async fn echo_through_client(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let mut app = TcpStream::connect(self.outbound)
            .await
            .map_err(|e| e.to_string())?;
        app.write_all(msg).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0; msg.len()];
        match tokio::time::timeout(Duration::from_secs(10), app.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Ok(buf),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timeout".into()),
        }
    }

    /// Sends a raw HTTP/1.1 request through the client proxy; returns the response.
    /// Plays [`hostile_client`] against the inbound listener and asserts
    /// the server logs a denial whose reason contains `reason`; returns
    /// what the client saw.
    pub async fn refused(
        &self,
        chain: &[CertificateDer<'static>],
        key: &[u8],
        version: Tls,
        reason: &str,
    ) -> Result<(), String> {
        let result = hostile_client(self.inbound, chain, key, version).await;
        let rec = self.server_log.wait_for(|r| r["decision"] == "deny").await;
        assert!(
            rec["reason"].as_str().unwrap_or_default().contains(reason),
            "{rec}"
        );
        result
    }

    pub async fn http_through_client(&self, request: &str) -> String {
        let mut app = TcpStream::connect(self.outbound).await.unwrap();
        app.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), app.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf).into_owned()
    }
}

fn spawn(proxy: Proxy, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(proxy.run(async move {
        let _ = stop.changed().await;
    }));
}

pub async fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Answers every request with 200 and the identity headers it received.
pub async fn http_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let h = |n: &str| {
                            req.headers()
                                .get_all(n)
                                .iter()
                                .map(|v| v.to_str().unwrap_or("").to_owned())
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        let body = format!(
                            "peer={} xfcc={}\n",
                            h("x-bulwark-peer-id"),
                            h("x-forwarded-client-cert")
                        );
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(hyper::body::Bytes::from(body)),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

pub enum Tls {
    V13,
    V12Only,
}

/// A TLS client that presents `chain`/`key` (nothing if empty) and accepts
/// any server: it plays the attacker against the inbound listener.
pub async fn hostile_client(
    addr: SocketAddr,
    chain: &[CertificateDer<'static>],
    key: &[u8],
    version: Tls,
) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        Tls::V13 => &[&rustls::version::TLS13],
        Tls::V12Only => &[&rustls::version::TLS12],
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(AcceptAnyServer::new(provider));
    let cfg = if chain.is_empty() {
        builder.with_no_client_auth()
    } else {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
        builder.with_client_auth_cert(chain.to_vec(), key).unwrap()
    };
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let mut tls = connector
        .connect(ServerName::try_from("api.example.org").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 5];
    match tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}
