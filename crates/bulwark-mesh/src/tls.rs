//! rustls configuration: TLS 1.3 only, aws-lc-rs, our certificate resolved
//! per handshake from the current identity (so a rotated SVID is used by the
//! next handshake while open connections keep theirs), and peers verified as
//! X.509-SVIDs by `bulwark_identity::x509::verify_x509_svid` against the
//! bundle of the peer's own trust domain. rustls' stock verifiers cannot be
//! used: they reject certificates whose only name is a URI SAN.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_identity::x509::{PeerRole, VerifiedX509Svid, verify_x509_svid};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::identity::IdentityHandle;

/// The one crypto provider: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the TLS configuration: {0}")]
pub struct TlsConfigError(#[from] rustls::Error);

/// Server side (inbound): client certificates required and verified.
pub fn server_config(
    identity: Arc<IdentityHandle>,
) -> Result<rustls::ServerConfig, TlsConfigError> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(Arc::clone(&identity), &provider));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Resolver(identity)));
    // No resumption: a resumed session would skip the verifier and carry
    // the peer's old chain past a CA retirement; every connection gets a
    // full handshake against the current bundle.
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(cfg)
}

/// Client side (outbound): presents our SVID, verifies the server's.
pub fn client_config(
    identity: Arc<IdentityHandle>,
) -> Result<rustls::ClientConfig, TlsConfigError> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(Arc::clone(&identity), &provider));
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(Resolver(identity)));
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(cfg)
}

/// Re-verifies a finished handshake's peer chain, returning the proof.
pub fn verified_peer(
    identity: &IdentityHandle,
    chain: Option<&[CertificateDer<'static>]>,
    role: PeerRole,
) -> Result<VerifiedX509Svid, String> {
    let chain = chain.ok_or("peer presented no certificate")?;
    verify_x509_svid(chain, &identity.current().bundles, SystemTime::now(), role)
        .map_err(|e| e.to_string())
}

/// Our current certificate, for both ends.
#[derive(Debug)]
struct Resolver(Arc<IdentityHandle>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current().key))
    }
}

impl ResolvesClientCert for Resolver {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current().key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies peer chains as X.509-SVIDs against the current bundles.
#[derive(Debug)]
struct SpiffeVerifier {
    identity: Arc<IdentityHandle>,
    algs: WebPkiSupportedAlgorithms,
}

impl SpiffeVerifier {
    fn new(identity: Arc<IdentityHandle>, provider: &CryptoProvider) -> Self {
        SpiffeVerifier {
            identity,
            algs: provider.signature_verification_algorithms,
        }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: PeerRole,
    ) -> Result<(), rustls::Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs());
        verify_x509_svid(&chain, &self.identity.current().bundles, now, role)
            .map(|_| ())
            .map_err(|e| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
            })
    }
}

/// The handshake-signature half of both verifier traits: TLS 1.3 only,
/// with the provider's algorithms.
macro_rules! tls13_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algs.supported_schemes()
        }
    };
}

impl ClientCertVerifier for SpiffeVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now, PeerRole::Client)
            .map(|()| ClientCertVerified::assertion())
    }

    tls13_signatures!();
}

impl ServerCertVerifier for SpiffeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now, PeerRole::Server)
            .map(|()| ServerCertVerified::assertion())
    }

    tls13_signatures!();
}
