//! The Workload API against the third-party `spiffe` crate (X509Source,
//! JwtSource, WorkloadApiClient) and against raw gRPC calls for the error
//! codes the spec requires.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bulwark_identity::bundle::BundleSet;
use bulwark_identity::workload_api::pb;
use bulwark_identity::x509::{PeerRole, X509BundleSource, verify_x509_svid};
use common::{Server, entry, me};
use rustls_pki_types::CertificateDer;
use spiffe::{BundleSource, JwtSource, TrustDomain, WorkloadApiClient, X509Source};
use tonic::codegen::http::uri::PathAndQuery;

const WEB: &str = "spiffe://example.org/web";

async fn client(server: &Server) -> WorkloadApiClient {
    WorkloadApiClient::connect_to(server.endpoint())
        .await
        .unwrap()
}

/// The SVID chain verifies with our verifier against the bundle the client got.
struct ClientBundle(Vec<CertificateDer<'static>>);

impl X509BundleSource for ClientBundle {
    fn x509_authorities(
        &self,
        _: &bulwark_core::spiffe::TrustDomain,
    ) -> Option<Vec<CertificateDer<'static>>> {
        Some(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn x509_source_receives_svid_and_bundle() {
    let server = Server::start(&[entry("web", WEB, &me(), "  hint: internal\n")]).await;
    let source = X509Source::builder()
        .endpoint(server.endpoint())
        .build()
        .await
        .unwrap();
    let svid = source.svid().unwrap();
    assert_eq!(svid.spiffe_id().to_string(), WEB);
    assert_eq!(svid.hint(), Some("internal"));
    let td = TrustDomain::new("example.org").unwrap();
    let bundle = source.bundle_for_trust_domain(&td).unwrap().unwrap();
    let anchors = bundle
        .authorities()
        .iter()
        .map(|c| CertificateDer::from(c.as_ref().to_vec()))
        .collect();
    let chain: Vec<_> = svid
        .cert_chain()
        .iter()
        .map(|c| CertificateDer::from(c.as_ref().to_vec()))
        .collect();
    let verified = verify_x509_svid(
        &chain,
        &ClientBundle(anchors),
        std::time::SystemTime::now(),
        PeerRole::Client,
    )
    .unwrap();
    assert_eq!(verified.spiffe_id().as_str(), WEB);
    source.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_source_fetches_and_the_server_validates() {
    let server = Server::start(&[entry("web", WEB, &me(), "")]).await;
    let source = JwtSource::builder()
        .endpoint(server.endpoint())
        .build()
        .await
        .unwrap();
    let svid = source.fetch_jwt_svid(["db"]).await.unwrap();
    assert_eq!(svid.spiffe_id().to_string(), WEB);
    // The client verifies the signature itself with the JWT bundle it fetched...
    let bundles = source.bundle_set().unwrap();
    let parsed =
        spiffe::JwtSvid::parse_and_validate(svid.token(), bundles.as_ref(), &["db"]).unwrap();
    assert_eq!(parsed.spiffe_id().to_string(), WEB);
    // ...and the server validates on its behalf.
    let validated = client(&server)
        .await
        .validate_jwt_token("db", svid.token())
        .await
        .unwrap();
    assert_eq!(validated.spiffe_id().to_string(), WEB);
    assert!(
        client(&server)
            .await
            .validate_jwt_token("other", svid.token())
            .await
            .is_err()
    );
    source.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_from_the_api_match_the_ca_on_disk() {
    let server = Server::start(&[entry("web", WEB, &me(), "")]).await;
    let c = client(&server).await;
    let x509 = c.fetch_x509_bundles().await.unwrap();
    let td = TrustDomain::new("example.org").unwrap();
    let got = x509.get(&td).unwrap();
    let ca = server.ca.load().unwrap();
    let mut want = BundleSet::new();
    want.insert(ca.bundle());
    let want_roots = want
        .x509_authorities(&bulwark_core::spiffe::TrustDomain::new("example.org").unwrap())
        .unwrap();
    let got_roots: Vec<Vec<u8>> = got
        .authorities()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect();
    assert_eq!(
        got_roots,
        want_roots.iter().map(|c| c.to_vec()).collect::<Vec<_>>()
    );
    let jwt = c.fetch_jwt_bundles().await.unwrap();
    assert!(jwt.get(&td).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_without_a_matching_entry_gets_no_identity() {
    let server = Server::start(&[entry("web", WEB, "{uid: 4242}", "")]).await;
    let c = client(&server).await;
    let err = c.fetch_x509_svid().await.unwrap_err();
    assert!(
        matches!(err, spiffe::WorkloadApiError::NoIdentityIssued),
        "{err:?}"
    );
    let err = c.fetch_jwt_svid(["db"], None).await.unwrap_err();
    assert!(
        matches!(err, spiffe::WorkloadApiError::NoIdentityIssued),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_for_an_identity_the_caller_does_not_hold_is_denied() {
    let server = Server::start(&[entry("web", WEB, &me(), "")]).await;
    let admin = spiffe::SpiffeId::new("spiffe://example.org/admin").unwrap();
    let err = client(&server)
        .await
        .fetch_jwt_svid(["db"], Some(&admin))
        .await
        .unwrap_err();
    assert!(
        matches!(err, spiffe::WorkloadApiError::PermissionDenied(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_identities_come_in_entry_order_with_unique_hints() {
    let server = Server::start(&[
        entry("a-web", WEB, &me(), "  hint: internal\n"),
        entry(
            "b-web-admin",
            "spiffe://example.org/web-admin",
            &me(),
            "  hint: internal\n",
        ),
    ])
    .await;
    let svids = client(&server).await.fetch_all_x509_svids().await.unwrap();
    let ids: Vec<_> = svids.iter().map(|s| s.spiffe_id().to_string()).collect();
    assert_eq!(ids, [WEB, "spiffe://example.org/web-admin"]);
    assert_eq!(svids[0].hint(), Some("internal"));
    assert_ne!(svids[1].hint(), Some("internal"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_pushes_rotations_new_entries_and_revocation() {
    let server = Server::start(&[entry("web", WEB, &me(), "  ttl: 4s\n")]).await;
    let c = client(&server).await;
    let mut stream = Box::pin(c.stream_x509_contexts().await.unwrap());
    let first = next(&mut stream).await.unwrap().unwrap();
    let serial = |ctx: &spiffe::X509Context| ctx.default_svid().unwrap().leaf().as_ref().to_vec();
    let second = next(&mut stream).await.unwrap().unwrap();
    assert_ne!(
        serial(&first),
        serial(&second),
        "rotation at half-life pushed a new SVID"
    );

    bulwark_identity::server::add_entry_file(
        &server.entries_dir,
        "x.yaml",
        &entry("z-db", "spiffe://example.org/db", &me(), ""),
    )
    .unwrap();
    let mut with_db = next(&mut stream).await.unwrap().unwrap();
    while with_db.svids().len() < 2 {
        with_db = next(&mut stream).await.unwrap().unwrap();
    }
    assert_eq!(with_db.default_svid().unwrap().spiffe_id().to_string(), WEB);

    for name in ["web", "z-db"] {
        bulwark_identity::server::remove_entry(&server.entries_dir, name).unwrap();
    }
    loop {
        match next(&mut stream).await {
            Some(Ok(_)) => continue, // an intermediate state with one SVID
            Some(Err(e)) => {
                assert!(
                    matches!(e, spiffe::WorkloadApiError::NoIdentityIssued),
                    "{e:?}"
                );
                break;
            }
            None => panic!("stream ended without PermissionDenied"),
        }
    }
}

async fn next<S: tokio_stream::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    use tokio_stream::StreamExt;
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("no update within 20s")
}

async fn raw_channel(server: &Server) -> tonic::client::Grpc<tonic::transport::Channel> {
    let path = server.socket.clone();
    let channel = tonic::transport::Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc
}

#[tokio::test(flavor = "multi_thread")]
async fn request_without_security_header_is_invalid_argument() {
    let server = Server::start(&[entry("web", WEB, &me(), "")]).await;
    let mut grpc = raw_channel(&server).await;
    let codec = tonic_prost::ProstCodec::<pb::X509svidRequest, pb::X509svidResponse>::default();
    let result = grpc
        .server_streaming(
            tonic::Request::new(pb::X509svidRequest {}),
            PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchX509SVID"),
            codec,
        )
        .await;
    assert_eq!(result.unwrap_err().code(), tonic::Code::InvalidArgument);

    let mut grpc = raw_channel(&server).await;
    let codec = tonic_prost::ProstCodec::<pb::JwtsvidRequest, pb::JwtsvidResponse>::default();
    let mut req = tonic::Request::new(pb::JwtsvidRequest {
        audience: vec![],
        spiffe_id: String::new(),
    });
    req.metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    let result = grpc
        .unary(
            req,
            PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchJWTSVID"),
            codec,
        )
        .await;
    assert_eq!(
        result.unwrap_err().code(),
        tonic::Code::InvalidArgument,
        "audience is mandatory"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wit_svid_profile_answers_unimplemented() {
    let server = Server::start(&[entry("web", WEB, &me(), "")]).await;
    let mut grpc = raw_channel(&server).await;
    let codec = tonic_prost::ProstCodec::<pb::X509svidRequest, pb::X509svidResponse>::default();
    let mut req = tonic::Request::new(pb::X509svidRequest {});
    req.metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    let result = grpc
        .server_streaming(
            req,
            PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchWITSVID"),
            codec,
        )
        .await;
    assert_eq!(result.unwrap_err().code(), tonic::Code::Unimplemented);
}

#[test]
fn workload_proto_matches_the_spec() {
    let spec_dir = common::spiffe_data().join("spiffe+spiffe/standards");
    let ours = protox::compile(
        ["workload.proto"],
        [concat!(env!("CARGO_MANIFEST_DIR"), "/proto")],
    )
    .unwrap();
    let spec = protox::compile(["workloadapi.proto"], [spec_dir]).unwrap();
    let file = |set: &prost_types::FileDescriptorSet, name: &str| {
        set.file.iter().find(|f| f.name() == name).cloned().unwrap()
    };
    let (ours, spec) = (
        file(&ours, "workload.proto"),
        file(&spec, "workloadapi.proto"),
    );
    assert_eq!(
        ours.package, spec.package,
        "no package: method paths are /SpiffeWorkloadAPI/..."
    );
    let (our_svc, spec_svc) = (&ours.service[0], &spec.service[0]);
    assert_eq!(our_svc.name(), spec_svc.name());
    for m in &our_svc.method {
        let s = spec_svc
            .method
            .iter()
            .find(|s| s.name() == m.name())
            .unwrap();
        assert_eq!(
            (
                m.input_type(),
                m.output_type(),
                m.server_streaming(),
                m.client_streaming()
            ),
            (
                s.input_type(),
                s.output_type(),
                s.server_streaming(),
                s.client_streaming()
            ),
            "{}",
            m.name()
        );
    }
    let missing: Vec<_> = spec_svc
        .method
        .iter()
        .map(|m| m.name())
        .filter(|n| !our_svc.method.iter().any(|m| m.name() == *n))
        .collect();
    assert_eq!(
        missing,
        ["FetchWITSVID", "FetchWITBundles"],
        "only the optional WIT profile is left out"
    );
    for msg in &ours.message_type {
        let s = spec
            .message_type
            .iter()
            .find(|s| s.name() == msg.name())
            .unwrap();
        let fields = |d: &prost_types::DescriptorProto| {
            d.field
                .iter()
                .map(|f| {
                    (
                        f.name().to_owned(),
                        f.number(),
                        f.r#type(),
                        f.label(),
                        f.type_name().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(msg), fields(s), "message {}", msg.name());
    }
}
