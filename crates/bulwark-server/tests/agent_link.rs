//! Agents over mTLS against a real server: node SVIDs from a real CA,
//! alerts up through the uplink sink, policy updates down to files, a node
//! that stops reporting flagged stale within the declared time, forged
//! or unbound identities refused, an oversized report refused, and a
//! service identity bound to a role using the API over mTLS within it.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use bulwark_alert::Sink;
use bulwark_control::rbac::{authorize_list, resources};
use bulwark_control::wire::{AgentInfo, Report};
use bulwark_core::{Severity, SpiffeId, TrustDomain};
use bulwark_identity::bundle::BundleSet;
use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
use bulwark_identity::x509::LeafRequest;
use bulwark_mesh::{IdentityHandle, Material};
use bulwark_server::app::App;
use bulwark_server::store::AlertQuery;
use bulwark_server::uplink::{self, LinkConfig, LinkError};

const SERVER: &str = "spiffe://test.example/bulwark/server";
const NODES: &str = "spiffe://test.example/bulwark/node/*";

struct Pki(TrustDomainCa);

impl Pki {
    fn new(td: &str) -> Result<Pki> {
        Ok(Pki(TrustDomainCa::init(
            TrustDomain::new(td)?,
            CaPolicy::default(),
            SystemTime::now(),
        )?))
    }

    fn identity(&self, id: &str) -> Result<Arc<IdentityHandle>> {
        let id = SpiffeId::new(id)?;
        let svid = self.0.issue_x509(&LeafRequest {
            id: &id,
            ttl: Duration::from_secs(3600),
            now: SystemTime::now(),
            dns_names: &[],
        })?;
        let mut bundles = BundleSet::new();
        bundles.insert(self.0.bundle());
        Ok(IdentityHandle::new(Material::new(
            svid.chain,
            svid.key_pkcs8,
            bundles,
        )?))
    }
}

struct MtlsServer {
    app: Arc<App>,
    addr: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for MtlsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn start(pki: &Pki) -> Result<MtlsServer> {
    start_with(pki, |_| {}).await
}

async fn start_with(
    pki: &Pki,
    tweak: impl FnOnce(&mut bulwark_server::app::Settings),
) -> Result<MtlsServer> {
    let dir = tempfile::tempdir()?;
    let mut s = support::settings(dir.path());
    s.agent_ids = vec![NODES.into()];
    s.stale_after = Duration::from_secs(1);
    tweak(&mut s);
    let app = App::open(s).await?;
    let listener = bulwark_server::serve::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let router = bulwark_server::api::router(Arc::clone(&app));
    let identity = pki.identity(SERVER)?;
    let mtls_app = Arc::clone(&app);
    let serve = tokio::spawn(async move {
        let _ = bulwark_server::serve::serve_mtls(listener, router, identity, mtls_app).await;
    });
    let sweep = tokio::spawn(bulwark_server::serve::sweep_stale_nodes(Arc::clone(&app)));
    Ok(MtlsServer {
        app,
        addr,
        tasks: vec![serve, sweep],
        _dir: dir,
    })
}

fn config(addr: &str, dir: &std::path::Path, host: &str) -> LinkConfig {
    LinkConfig {
        addr: addr.to_owned(),
        server_id: SERVER.into(),
        every: Duration::from_millis(200),
        max_batch: 100,
        queue: 1000,
        updates_dir: dir.to_path_buf(),
        agent: AgentInfo {
            hostname: host.into(),
            version: "test".into(),
        },
        containers: None,
        profiles: None,
    }
}

async fn wait_for<F, Fut>(what: &str, within: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn admin() -> bulwark_control::rbac::Principal {
    use bulwark_control::rbac::{Binding, Principal, Scope, Subject, SubjectMatcher};
    Principal {
        subject: Subject::User("t".into()),
        bindings: vec![Binding {
            subject: SubjectMatcher::User("t".into()),
            role: "admin".into(),
            scope: Scope::Cluster,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_streams_alerts_up_and_receives_policy_updates_over_mtls() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let node = "spiffe://test.example/bulwark/node/n1";
    let updates = tempfile::tempdir()?;
    let link = uplink::start(
        config(&server.addr, updates.path(), "n1"),
        pki.identity(node)?,
    )?;
    let mut sink = link.sink.context("sink")?;
    for i in 0..5 {
        sink.send(&support::alert(
            &format!("deviation:{i}"),
            Severity::High,
            "k8s:shop/web",
        )?)?;
    }
    let store = server.app.store.clone();
    let list = authorize_list::<resources::Alerts>(&admin())?;
    wait_for("5 alerts stored", Duration::from_secs(30), || {
        let (store, list) = (store.clone(), &list);
        async move { Ok(store.list_alerts(list, &AlertQuery::default()).await?.len() == 5) }
    })
    .await?;
    let alerts = store.list_alerts(&list, &AlertQuery::default()).await?;
    assert!(
        alerts.iter().all(|a| a.node == node),
        "the node is its certificate's SPIFFE ID"
    );

    // A policy made on the server reaches the node's disk.
    put_access_policy(&server).await?;
    let file = updates.path().join("AccessPolicy").join("web.yaml");
    wait_for(
        "the policy written on the node",
        Duration::from_secs(30),
        || {
            let file = file.clone();
            async move { Ok(file.exists()) }
        },
    )
    .await?;
    assert_eq!(std::fs::read_to_string(&file)?, ACCESS_POLICY);
    // ...and the node reports it applied that version.
    let nodes_permit = authorize_list::<resources::Nodes>(&admin())?;
    wait_for("applied update reported", Duration::from_secs(30), || {
        let (store, p) = (store.clone(), &nodes_permit);
        async move {
            Ok(store
                .list_nodes(p)
                .await?
                .iter()
                .any(|n| n.id == node && n.applied_update >= 1))
        }
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_that_stops_reporting_is_flagged_stale_within_the_declared_time() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let node = "spiffe://test.example/bulwark/node/gone";
    let dir = tempfile::tempdir()?;
    let cfg = config(&server.addr, dir.path(), "gone");
    let report = Report {
        seq: 1,
        boot: "b1".into(),
        agent: cfg.agent.clone(),
        containers: vec![container("gone-1", "k8s:shop/gone", true)],
        ..Report::default()
    };
    let ack = uplink::send_report(&cfg, &pki.identity(node)?, &report).await?;
    assert!(ack.stored);
    assert_eq!(ack.stale_after_secs, 1);
    let sent = Instant::now();
    let store = server.app.store.clone();
    let p = authorize_list::<resources::Nodes>(&admin())?;
    wait_for("the silent node flagged", Duration::from_secs(10), || {
        let (store, p) = (store.clone(), &p);
        async move {
            Ok(store
                .list_nodes(p)
                .await?
                .iter()
                .any(|n| n.id == node && n.stale))
        }
    })
    .await?;
    // A silent node's containers are not counted as running any more.
    assert!(
        running(&server).await?.is_empty(),
        "ghost containers of a stale node"
    );
    // Declared: stale after 1 s, checked every 0.25 s (a little slack for
    // a loaded machine is in the 10 s bound above; the record says when).
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "flagged before the declared time"
    );
    // The record says when: at most the declared 1 s plus one check
    // interval (0.25 s) after the node was last seen, with 1.75 s of slack
    // for a loaded machine (timer and fsync delays), never before 1 s.
    let log = std::fs::read_to_string(server.app.settings.audit_path())?;
    let record: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["action"] == "node.stale" && r["target"] == node)
        .context("no node.stale record")?;
    let flagged = time::OffsetDateTime::parse(
        record["time"].as_str().context("record time")?,
        &time::format_description::well_known::Rfc3339,
    )?;
    let flagged_ms = i64::try_from(flagged.unix_timestamp_nanos() / 1_000_000)?;
    let last_seen = record["detail"]["last_seen"]
        .as_i64()
        .context("last_seen in the record")?;
    let after = flagged_ms - last_seen;
    assert!(
        (1000..=3000).contains(&after),
        "flagged {after} ms after the last report: {record}"
    );
    // Reporting again clears the flag.
    let again = Report { seq: 2, ..report };
    uplink::send_report(&cfg, &pki.identity(node)?, &again).await?;
    assert!(
        store
            .list_nodes(&p)
            .await?
            .iter()
            .any(|n| n.id == node && !n.stale)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_unbound_identities_cannot_report() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let dir = tempfile::tempdir()?;
    let cfg = config(&server.addr, dir.path(), "x");
    let report = Report {
        seq: 1,
        boot: "b1".into(),
        ..Report::default()
    };
    // Same SPIFFE ID, but from a CA the server does not trust.
    let rogue = Pki::new("test.example")?;
    let forged = uplink::send_report(
        &cfg,
        &rogue.identity("spiffe://test.example/bulwark/node/n1")?,
        &report,
    )
    .await;
    assert!(
        forged.is_err(),
        "a certificate from another CA must not connect"
    );
    // The refused connection is counted (it never became an API call).
    let app = Arc::clone(&server.app);
    wait_for(
        "the refused connection counted",
        Duration::from_secs(10),
        || {
            let text = app.metrics.render(&[]);
            async move { Ok(text.contains("\nbulwark_mtls_refused_total 1\n")) }
        },
    )
    .await?;
    // A valid SVID of the trust domain that is not bound to the agent role.
    let workload = uplink::send_report(
        &cfg,
        &pki.identity("spiffe://test.example/ns/shop/sa/web")?,
        &report,
    )
    .await;
    match workload {
        Err(LinkError::Http { message, .. }) => assert!(message.contains("403"), "{message}"),
        other => bail!("an unbound identity reported: {other:?}"),
    }
    // The agent refuses a server that is not the one it was told.
    let mut wrong = cfg.clone();
    wrong.server_id = "spiffe://test.example/bulwark/other-server".into();
    let r = uplink::send_report(
        &wrong,
        &pki.identity("spiffe://test.example/bulwark/node/n1")?,
        &report,
    )
    .await;
    assert!(matches!(r, Err(LinkError::WrongServer { .. })), "{r:?}");
    // Nothing was stored.
    let nodes = server
        .app
        .store
        .list_nodes(&authorize_list::<resources::Nodes>(&admin())?)
        .await?;
    assert!(nodes.is_empty(), "{nodes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_report_is_refused_with_413_recorded_and_not_stored() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start_with(&pki, |s| s.report_limit = 4096).await?;
    let node = "spiffe://test.example/bulwark/node/big";
    let dir = tempfile::tempdir()?;
    let cfg = config(&server.addr, dir.path(), "big");
    let mut alert = support::alert("huge", Severity::High, "k8s:shop/web")?;
    alert.message = "x".repeat(32 * 1024);
    let report = Report {
        seq: 1,
        boot: "b1".into(),
        agent: cfg.agent.clone(),
        alerts: vec![alert],
        ..Report::default()
    };
    match uplink::send_report(&cfg, &pki.identity(node)?, &report).await {
        Err(LinkError::Http { message, .. }) => assert!(message.contains("413"), "{message}"),
        other => bail!("an oversized report was not refused with 413: {other:?}"),
    }
    let nodes = server
        .app
        .store
        .list_nodes(&authorize_list::<resources::Nodes>(&admin())?)
        .await?;
    assert!(nodes.is_empty(), "nothing stored: {nodes:?}");
    let log = std::fs::read_to_string(server.app.settings.audit_path())?;
    let last: serde_json::Value =
        serde_json::from_str(log.lines().last().context("an audit record")?)?;
    assert_eq!(last["actor"], node, "{last}");
    assert_eq!(last["detail"]["status"], 413, "{last}");
    assert_eq!(last["outcome"], "failure", "{last}");
    // A report within the limit from the same node is taken.
    let small = Report {
        alerts: Vec::new(),
        ..report
    };
    assert!(
        uplink::send_report(&cfg, &pki.identity(node)?, &small)
            .await?
            .stored
    );
    Ok(())
}

/// One API call over mTLS as `identity`: (status, JSON body or Null).
async fn mtls_call(
    addr: &str,
    identity: &Arc<IdentityHandle>,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value)> {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    let tls = bulwark_mesh::tls::client_config(Arc::clone(identity))?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("bulwark-server")?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let task = tokio::spawn(conn);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    task.abort();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_identity_bound_to_a_role_uses_the_api_over_mtls_within_it() -> Result<()> {
    use bulwark_control::rbac::{Binding, Scope, SubjectMatcher, check_grant};
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let reader = "spiffe://test.example/ns/ci/sa/reader";
    let binding = Binding {
        subject: SubjectMatcher::Spiffe(reader.into()),
        role: "viewer".into(),
        scope: Scope::Cluster,
    };
    let permit = check_grant(&admin(), "viewer", &Scope::Cluster)?;
    server
        .app
        .store
        .directory()
        .create_binding(&permit, &binding, "user:t", Box::new(|| Ok(())))
        .await?;
    let id = pki.identity(reader)?;
    let (status, who) = mtls_call(&server.addr, &id, "GET", "/api/v1/whoami", None).await?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["name"], reader, "{who}");
    let (status, v) = mtls_call(&server.addr, &id, "GET", "/api/v1/workloads", None).await?;
    assert_eq!(status, 200, "a viewer identity reads workloads: {v}");
    // Beyond its role: no writes, no audit log, no agent channel.
    let silence = serde_json::json!({"matcher": {"namespace": "default"}, "reason": "r",
        "expires_at": bulwark_server::now_ms() + 60_000});
    for (method, path, body) in [
        ("POST", "/api/v1/silences", Some(silence)),
        ("GET", "/api/v1/audit", None),
        ("POST", bulwark_server::agent_link::REPORT_PATH, None),
    ] {
        let (status, v) = mtls_call(&server.addr, &id, method, path, body).await?;
        assert_eq!(status, 403, "{method} {path}: {v}");
    }
    // Another identity of the trust domain, bound to nothing, and a node
    // (bound to the agent role only) read nothing.
    for other in [
        "spiffe://test.example/ns/ci/sa/other",
        "spiffe://test.example/bulwark/node/n1",
    ] {
        let (status, v) = mtls_call(
            &server.addr,
            &pki.identity(other)?,
            "GET",
            "/api/v1/workloads",
            None,
        )
        .await?;
        assert_eq!(status, 403, "{other}: {v}");
    }
    // Each call is recorded under the verified SPIFFE ID.
    let log = std::fs::read_to_string(server.app.settings.audit_path())?;
    let by_reader = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["actor"] == reader)
        .count();
    assert_eq!(by_reader, 5, "{log}");
    Ok(())
}

const ACCESS_POLICY: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: web}\nspec:\n  to: spiffe://test.example/ns/shop/sa/web\n  from: [spiffe://test.example/ns/shop/sa/api]\n";

/// Stores the AccessPolicy `web` as an admin and wakes the update streams.
async fn put_access_policy(server: &MtlsServer) -> Result<()> {
    let permit = bulwark_control::rbac::authorize::<
        bulwark_control::rbac::verbs::Update,
        resources::Policies,
    >(&admin(), &bulwark_control::rbac::Target::Cluster)?;
    let store = &server.app.store;
    store
        .put_document(
            &permit,
            bulwark_control::wire::UpdateKind::AccessPolicy,
            "web",
            ACCESS_POLICY,
            "t",
            Box::new(|| Ok(())),
        )
        .await
        .context("storing the AccessPolicy")?;
    server.app.feed.notify(store.latest_update().await?);
    Ok(())
}

/// Refuses every update, as an agent does a document it cannot apply.
struct RefuseAll;

impl uplink::UpdateApplier for RefuseAll {
    fn apply(&self, u: &bulwark_control::wire::Update) -> Result<(), uplink::ApplyError> {
        Err(uplink::ApplyError::Refused(format!(
            "{} cannot be applied here",
            u.name
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_update_is_reported_with_its_reason_not_as_applied() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let node = "spiffe://test.example/bulwark/node/refuses";
    let dir = tempfile::tempdir()?;
    let link = uplink::start_with(
        config(&server.addr, dir.path(), "refuses"),
        pki.identity(node)?,
        Arc::new(RefuseAll),
    )?;
    let store = server.app.store.clone();
    put_access_policy(&server).await?;
    let p = authorize_list::<resources::Nodes>(&admin())?;
    wait_for("the refusal reported", Duration::from_secs(30), || {
        let (store, p) = (store.clone(), &p);
        async move {
            Ok(store
                .list_nodes(p)
                .await?
                .iter()
                .any(|n| n.id == node && n.update_failure.is_some()))
        }
    })
    .await?;
    let nodes = store.list_nodes(&p).await?;
    let n = nodes
        .iter()
        .find(|n| n.id == node)
        .context("the node is listed")?;
    assert_eq!(n.applied_update, 0, "a refused update is not applied");
    let f = n.update_failure.as_ref().context("failure")?;
    assert_eq!((f.kind.as_str(), f.name.as_str()), ("AccessPolicy", "web"));
    assert_eq!(f.reason, "web cannot be applied here");
    assert_eq!(link.updates.failure().map(|f| f.version), Some(1));
    assert!(!dir.path().join("AccessPolicy").exists(), "nothing written");
    Ok(())
}

fn container(id: &str, workload: &str, running: bool) -> bulwark_control::wire::ContainerReport {
    bulwark_control::wire::ContainerReport {
        id: id.into(),
        workload: workload.into(),
        image: Some(format!("{workload}:1")),
        image_digest: None,
        running,
        facts: None,
    }
}

fn flow(src: &str, dst: &str, to: Option<&str>) -> Result<bulwark_control::wire::Flow> {
    Ok(bulwark_control::wire::Flow {
        src: src.into(),
        dst: dst.parse()?,
        dst_workload: to.map(str::to_owned),
        protocol: "tcp".into(),
        count: 3,
        last_seen: bulwark_server::now_ms(),
    })
}

fn report(seq: u64, boot: &str) -> Report {
    Report {
        seq,
        boot: boot.into(),
        agent: AgentInfo::default(),
        ..Report::default()
    }
}

async fn running(server: &MtlsServer) -> Result<Vec<(String, String)>> {
    let p = authorize_list::<resources::Compliance>(&admin())?;
    Ok(server
        .app
        .store
        .running_containers(&p)
        .await?
        .into_iter()
        .map(|c| (c.id, c.node))
        .collect())
}

async fn edges(server: &MtlsServer) -> Result<Vec<(String, String)>> {
    let p = authorize_list::<resources::Workloads>(&admin())?;
    Ok(server
        .app
        .store
        .graph(&p)
        .await?
        .edges
        .into_iter()
        .map(|e| (e.src, e.dst))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_containers_and_flows_of_another_node_are_refused() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let dir = tempfile::tempdir()?;
    let cfg = config(&server.addr, dir.path(), "n");
    let (n1, n2) = (
        "spiffe://test.example/bulwark/node/n1",
        "spiffe://test.example/bulwark/node/n2",
    );
    let mut first = report(1, "b1");
    first.containers = vec![
        container("web-1", "k8s:shop/web", true),
        container("db-1", "k8s:shop/db", true),
    ];
    first.flows = vec![flow("k8s:shop/web", "10.0.0.9:5432", Some("k8s:shop/db"))?];
    let ack = uplink::send_report(&cfg, &pki.identity(n1)?, &first).await?;
    assert!(ack.stored && ack.rejected.is_empty(), "{ack:?}");

    // Node 2 claims node 1's container has stopped, and reports flows and
    // a listener of node 1's workloads.
    let mut forged = report(1, "b2");
    forged.containers = vec![
        container("web-1", "k8s:shop/web", false),
        container("x-1", "k8s:other/x", true),
    ];
    forged.flows = vec![
        flow("k8s:shop/web", "10.0.0.66:443", None)?,
        flow("k8s:other/x", "10.0.0.9:5432", Some("k8s:shop/db"))?,
        flow("k8s:other/x", "192.0.2.1:53", None)?,
    ];
    forged.listeners = vec![bulwark_control::wire::Listener {
        workload: "k8s:shop/web".into(),
        addr: "10.0.0.66:443".parse()?,
        protocol: "tcp".into(),
    }];
    let ack = uplink::send_report(&cfg, &pki.identity(n2)?, &forged).await?;
    assert!(ack.stored, "the node's own part is stored");
    let rejected = ack.rejected.join("\n");
    assert_eq!(ack.rejected.len(), 4, "{rejected}");
    assert!(
        rejected.contains(&format!("container web-1: runs on node {n1}")),
        "{rejected}"
    );
    assert!(
        rejected.contains("flow k8s:shop/web -> 10.0.0.66:443"),
        "{rejected}"
    );
    assert!(
        rejected.contains("k8s:shop/db has no container on this node"),
        "{rejected}"
    );
    assert!(rejected.contains("listener 10.0.0.66:443"), "{rejected}");

    let mut live = running(&server).await?;
    live.sort();
    assert_eq!(
        live,
        [
            ("db-1".to_owned(), n1.to_owned()),
            ("web-1".to_owned(), n1.to_owned()),
            ("x-1".to_owned(), n2.to_owned()),
        ]
    );
    let e = edges(&server).await?;
    assert!(
        e.contains(&("k8s:shop/web".into(), "k8s:shop/db".into())),
        "{e:?}"
    );
    assert!(
        e.contains(&("k8s:other/x".into(), "192.0.2.1:53".into())),
        "{e:?}"
    );
    assert_eq!(e.len(), 2, "nothing forged reached the graph: {e:?}");
    // The refusal is in the audit record of the report.
    let log = std::fs::read_to_string(server.app.settings.audit_path())?;
    assert!(
        log.lines()
            .any(|l| l.contains("agent.report") && l.contains("runs on node"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_missing_from_a_complete_list_are_no_longer_running() -> Result<()> {
    let pki = Pki::new("test.example")?;
    let server = start(&pki).await?;
    let dir = tempfile::tempdir()?;
    let cfg = config(&server.addr, dir.path(), "n");
    let node = "spiffe://test.example/bulwark/node/ghosts";
    let id = pki.identity(node)?;
    let mut r = report(1, "b1");
    r.containers = vec![
        container("a", "k8s:shop/a", true),
        container("b", "k8s:shop/b", true),
    ];
    r.containers_complete = true;
    uplink::send_report(&cfg, &id, &r).await?;
    assert_eq!(running(&server).await?.len(), 2);
    // b was removed: a complete list without it.
    let mut r = report(2, "b1");
    r.containers = vec![container("a", "k8s:shop/a", true)];
    r.containers_complete = true;
    uplink::send_report(&cfg, &id, &r).await?;
    let live: Vec<String> = running(&server).await?.into_iter().map(|c| c.0).collect();
    assert_eq!(live, ["a"]);
    // An incomplete list (cut at the limit) stops nothing.
    let mut r = report(3, "b1");
    r.containers = vec![];
    uplink::send_report(&cfg, &id, &r).await?;
    assert_eq!(running(&server).await?.len(), 1);
    // a stopped (its runtime state says so).
    let mut r = report(4, "b1");
    r.containers = vec![container("a", "k8s:shop/a", false)];
    r.containers_complete = true;
    uplink::send_report(&cfg, &id, &r).await?;
    assert!(running(&server).await?.is_empty());
    Ok(())
}
