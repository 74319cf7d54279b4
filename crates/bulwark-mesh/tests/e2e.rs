//! End to end on loopback: a client-side proxy (outbound) and a server-side
//! proxy (inbound) between a client and an echo/HTTP upstream, with SVIDs
//! from a real trust-domain CA, and hostile clients presenting forged or
//! broken certificates directly to the inbound listener. Every refusal must
//! leave a decision-log line that says why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bulwark_mesh::Mode;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn allowed_identity_passes_and_both_identities_are_logged() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    assert_eq!(mesh.echo_through_client(b"hello").await.unwrap(), b"hello");
    let rec = mesh.server_log.wait_for(|r| r["decision"] == "allow").await;
    assert_eq!(rec["peer_id"], WEB);
    assert_eq!(rec["local_id"], API);
    assert_eq!(rec["direction"], "inbound");
    assert_eq!(rec["policy"], "web-to-api");
    let rec = mesh.client_log.wait_for(|r| r["decision"] == "allow").await;
    assert_eq!(
        (rec["local_id"].as_str(), rec["peer_id"].as_str()),
        (Some(WEB), Some(API))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_identity_is_denied_by_default() {
    let pki = Pki::new("example.org");
    // The caller's own proxy lets it out; the callee's must still refuse it.
    let mut spec = MeshSpec::new(EVIL, API, &allow_web_to_api());
    spec.client_policy = allow(EVIL, API, "");
    let mesh = spec.start(&pki).await;
    assert!(mesh.echo_through_client(b"hello").await.is_err());
    let rec = mesh.server_log.wait_for(|r| r["decision"] == "deny").await;
    assert_eq!(rec["peer_id"], "spiffe://example.org/evil");
    assert!(
        rec["reason"].as_str().unwrap().contains("default deny"),
        "{rec}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_mode_lets_denied_traffic_through_but_logs_it() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(
        &pki,
        "spiffe://example.org/evil",
        API,
        &allow_web_to_api(),
        Mode::Audit,
        false,
    )
    .await;
    assert_eq!(
        mesh.echo_through_client(b"dry run").await.unwrap(),
        b"dry run"
    );
    let rec = mesh
        .server_log
        .wait_for(|r| r["decision"] == "audit-deny")
        .await;
    assert_eq!(rec["peer_id"], "spiffe://example.org/evil");
    let rec = mesh
        .client_log
        .wait_for(|r| r["decision"] == "audit-deny")
        .await;
    assert_eq!(
        (rec["local_id"].as_str(), rec["peer_id"].as_str()),
        (Some(EVIL), Some(API)),
        "the caller's side logs the verified callee: {rec}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let mut raw = TcpStream::connect(mesh.inbound).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    let rec = mesh.server_log.wait_for(|r| r["decision"] == "deny").await;
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("not a TLS handshake"),
        "{rec}"
    );
    assert!(rec["peer_id"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls12_downgrade_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let svid = pki.issue(WEB);
    let result = mesh
        .refused(
            &svid.chain,
            &svid.key_pkcs8,
            Tls::V12Only,
            "TLS 1.3 is required",
        )
        .await;
    assert!(result.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_trust_domain_is_refused() {
    let pki = Pki::new("example.org");
    let foreign = Pki::new("other.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let svid = foreign.issue("spiffe://other.org/web");
    let _ = mesh
        .refused(
            &svid.chain,
            &svid.key_pkcs8,
            Tls::V13,
            "no trust bundle for trust domain other.org",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn impostor_ca_for_our_trust_domain_is_refused() {
    let pki = Pki::new("example.org");
    let impostor = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let svid = impostor.issue(WEB);
    let _ = mesh
        .refused(
            &svid.chain,
            &svid.key_pkcs8,
            Tls::V13,
            "not issued by a CA of trust domain example.org",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_certificate_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let (chain, key) = pki.forge(&[WEB], Forge::Expired);
    let _ = mesh.refused(&chain, &key, Tls::V13, "expired at").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_with_two_uri_sans_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let (chain, key) = pki.forge(&["spiffe://example.org/evil", WEB], Forge::Leaf);
    let _ = mesh.refused(&chain, &key, Tls::V13, "2 URI SANs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ca_certificate_used_as_leaf_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let (chain, key) = pki.forge(&[WEB], Forge::CaAsLeaf);
    let _ = mesh.refused(&chain, &key, Tls::V13, "CA certificate").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_without_certificate_is_refused() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let _ = mesh
        .refused(&[], &[], Tls::V13, "no client certificate")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_refuses_a_server_with_an_unexpected_identity() {
    let pki = Pki::new("example.org");
    // The server side runs as db, but the client expects api.
    let mut spec = MeshSpec::new(WEB, "spiffe://example.org/db", &allow_web_to_api());
    spec.expect = API;
    let mesh = spec.start(&pki).await;
    assert!(mesh.echo_through_client(b"x").await.is_err());
    let rec = mesh.client_log.wait_for(|r| r["decision"] == "deny").await;
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("expected spiffe://example.org/api"),
        "{rec}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_requests_are_authorised_and_identity_headers_stripped() {
    let pki = Pki::new("example.org");
    // The caller's proxy lets every request out; the callee's checks them.
    let mut spec = MeshSpec::new(WEB, API, &allow_web_get_v1());
    spec.client_policy = allow_web_to_api();
    spec.http = true;
    let mesh = spec.start(&pki).await;
    let ok = mesh
        .http_through_client("GET /v1/items HTTP/1.1\r\nHost: api\r\nX-Bulwark-Peer-Id: spiffe://example.org/admin\r\nX-Forwarded-Client-Cert: By=evil\r\nConnection: close\r\n\r\n")
        .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.contains(&format!("peer={WEB}")),
        "the upstream sees the verified identity: {ok}"
    );
    assert!(
        !ok.contains("admin") && !ok.contains("By=evil"),
        "forged identity headers were stripped: {ok}"
    );

    let denied = mesh.http_through_client("POST /v1/items HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    let rec = mesh
        .server_log
        .wait_for(|r| r["decision"] == "deny" && r["method"] == "POST")
        .await;
    assert_eq!(rec["path"], "/v1/items");
    assert_eq!(rec["peer_id"], WEB);

    let traversal = mesh
        .http_through_client("GET /v1/../admin HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
        .await;
    assert!(traversal.starts_with("HTTP/1.1 403"), "{traversal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_default_deny_refuses_before_dialling() {
    let pki = Pki::new("example.org");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let remote = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // web may call db, nothing else: the route to api is not allowed.
    let client = Side::start(
        &pki,
        WEB,
        &allow(WEB, "spiffe://example.org/db", ""),
        outbound_to(remote.local_addr().unwrap(), API, false),
        rx,
    )
    .await;
    // Nothing is written: unread bytes would turn the close into a reset.
    let mut app = TcpStream::connect(client.addr).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), app.read_to_end(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0))), "app connection closed: {r:?}");
    let rec = client.log.wait_for(|r| r["decision"] == "deny").await;
    let reason = rec["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("no AccessPolicy lets {WEB} connect to {API}"))
            && reason.contains("default deny")
            && reason.contains("not dialled"),
        "{rec}"
    );
    assert_eq!(rec["direction"], "outbound");
    assert_eq!(
        (rec["local_id"].as_str(), rec["expected_peer_id"].as_str()),
        (Some(WEB), Some(API)),
        "the refusal names both identities: {rec}"
    );
    assert!(rec["peer_id"].is_null(), "nothing was verified: {rec}");
    let dialled = tokio::time::timeout(Duration::from_millis(500), remote.accept()).await;
    assert!(dialled.is_err(), "the remote was dialled anyway");
    drop(stop);
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_audit_mode_logs_the_verified_callee_and_lets_it_through() {
    let pki = Pki::new("example.org");
    let mut spec = MeshSpec::new(WEB, API, &allow_web_to_api());
    spec.client_policy = String::new();
    spec.mode = Mode::Audit;
    let mesh = spec.start(&pki).await;
    assert_eq!(mesh.echo_through_client(b"dry").await.unwrap(), b"dry");
    let rec = mesh
        .client_log
        .wait_for(|r| r["decision"] == "audit-deny")
        .await;
    assert_eq!(rec["peer_id"], API);
    assert!(
        rec["reason"].as_str().unwrap().contains("default deny"),
        "{rec}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_requests_are_authorised_at_the_caller() {
    let pki = Pki::new("example.org");
    // The callee allows every request; the caller's policy allows GET /v1/*.
    let mut spec = MeshSpec::new(WEB, API, &allow_web_to_api());
    spec.client_policy = allow_web_get_v1();
    spec.http = true;
    let mesh = spec.start(&pki).await;
    let denied = mesh
        .http_through_client(
            "POST /v1/items HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    let rec = mesh
        .client_log
        .wait_for(|r| r["decision"] == "deny" && r["method"] == "POST")
        .await;
    assert_eq!(
        (rec["direction"].as_str(), rec["peer_id"].as_str()),
        (Some("outbound"), Some(API))
    );
    assert!(
        !mesh
            .server_log
            .records()
            .iter()
            .any(|r| r["method"] == "POST"),
        "the denied request left the caller: {:?}",
        mesh.server_log.records()
    );
    let ok = mesh
        .http_through_client("GET /v1/items HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
        .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains(&format!("peer={WEB}")), "{ok}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_with_http_rules_does_not_open_a_tcp_connection_on_either_side() {
    let pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_get_v1(), Mode::Enforce, false).await;
    assert!(mesh.echo_through_client(b"x").await.is_err());
    let rec = mesh.client_log.wait_for(|r| r["decision"] == "deny").await;
    assert!(rec["reason"].as_str().unwrap().contains("--http"), "{rec}");

    let mut spec = MeshSpec::new(WEB, API, &allow_web_get_v1());
    spec.client_policy = allow_web_to_api();
    let mesh = spec.start(&pki).await;
    assert!(mesh.echo_through_client(b"x").await.is_err());
    let rec = mesh.server_log.wait_for(|r| r["decision"] == "deny").await;
    assert!(rec["reason"].as_str().unwrap().contains("--http"), "{rec}");
    assert_eq!(rec["peer_id"], WEB);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_during_a_long_lived_connection_keeps_it_alive() {
    let mut pki = Pki::new("example.org");
    let mesh = Mesh::start(&pki, WEB, API, &allow_web_to_api(), Mode::Enforce, false).await;
    let mut app = TcpStream::connect(mesh.outbound).await.unwrap();
    roundtrip(&mut app, b"before").await;

    // Full CA rotation: prepare (new root published), activate (new SVIDs),
    // hot-swap both proxies' identities, then retire the old root.
    pki.ca.prepare(std::time::SystemTime::now()).unwrap();
    pki.ca.activate().unwrap();
    mesh.client_identity.replace(pki.material(WEB));
    mesh.server_identity.replace(pki.material(API));
    roundtrip(&mut app, b"after activate").await;
    let r = mesh.echo_through_client(b"new conn").await;
    assert_eq!(
        r.as_deref(),
        Ok(&b"new conn"[..]),
        "{:?} {:?}",
        mesh.server_log.records(),
        mesh.client_log.records()
    );

    pki.ca.retire().unwrap();
    mesh.client_identity.replace(pki.material(WEB));
    mesh.server_identity.replace(pki.material(API));
    roundtrip(&mut app, b"after retire").await;
    assert_eq!(
        mesh.echo_through_client(b"newest").await.unwrap(),
        b"newest"
    );
    let allows = mesh
        .server_log
        .records()
        .iter()
        .filter(|r| r["decision"] == "allow")
        .count();
    assert_eq!(allows, 3, "one long-lived and two new connections");
}

async fn roundtrip(app: &mut TcpStream, msg: &[u8]) {
    app.write_all(msg).await.unwrap();
    let mut buf = vec![0; msg.len()];
    let r = tokio::time::timeout(Duration::from_secs(10), app.read_exact(&mut buf))
        .await
        .unwrap();
    assert!(r.is_ok(), "{:?}: {r:?}", String::from_utf8_lossy(msg));
    assert_eq!(buf, msg);
}
