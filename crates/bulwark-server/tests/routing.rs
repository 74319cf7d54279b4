//! Alert routing end to end: rules by severity to configured sinks (a
//! JSON-lines file and a real HTTP webhook that fails once, so delivery is
//! retried), silenced alerts stored but not sent.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::http::StatusCode;
use bulwark_control::rbac::{
    Binding, Principal, Scope, Subject, SubjectMatcher, Target, authorize, resources, verbs,
};
use bulwark_control::wire::{AgentInfo, Report};
use bulwark_core::Severity;
use bulwark_server::dispatch::SinkSpec;
use serde_json::json;
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_alerts_reach_file_and_webhook_with_retry_and_silenced_ones_do_not() -> Result<()> {
    // A webhook receiver that answers 500 to its first request.
    let hits = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (h, r) = (Arc::clone(&hits), Arc::clone(&received));
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let (h, r) = (Arc::clone(&h), Arc::clone(&r));
            async move {
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                if let Ok(mut r) = r.lock() {
                    r.push(body);
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_addr = listener.local_addr()?;
    let hook_task = tokio::spawn(async move {
        let _ = axum::serve(listener, hook).await;
    });
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("alerts.json");
    let s = TestServer::start_with(|c| {
        c.sinks.insert("log".into(), SinkSpec::File(file.clone()));
        c.sinks.insert(
            "ops".into(),
            SinkSpec::Webhook(format!("http://{hook_addr}/hook")),
        );
    })
    .await?;
    s.ok(
        "PUT",
        "/api/v1/alert-routes/high",
        &s.admin,
        Some(json!({"min_severity": "high", "sinks": ["log", "ops"]})),
    )
    .await?;
    let (status, v) = s
        .call(
            "PUT",
            "/api/v1/alert-routes/bad",
            Some(&s.admin),
            Some(json!({"min_severity": "low", "sinks": ["nowhere"]})),
        )
        .await?;
    assert_eq!(status, 400, "a route to an unconfigured sink: {v}");
    s.ok("POST", "/api/v1/silences", &s.admin, Some(json!({"matcher": {"workload": "k8s:shop/quiet"}, "reason": "maintenance", "expires_at": bulwark_server::now_ms() + 600_000}))).await?;

    let agent = Principal {
        subject: Subject::Spiffe("spiffe://t/node".into()),
        bindings: vec![Binding {
            subject: SubjectMatcher::Spiffe("spiffe://t/node".into()),
            role: "agent".into(),
            scope: Scope::Cluster,
        }],
    };
    let permit = authorize::<verbs::Create, resources::AgentStream>(&agent, &Target::Cluster)?;
    let report = Report {
        seq: 1,
        boot: "b1".into(),
        agent: AgentInfo::default(),
        alerts: vec![
            support::alert("routed", Severity::High, "k8s:shop/web")?,
            support::alert("too-low", Severity::Low, "k8s:shop/web")?,
            support::alert("silenced", Severity::Critical, "k8s:shop/quiet")?,
        ],
        ..Report::default()
    };
    let screened = s.app.store.screen("spiffe://t/node", report).await?;
    let out = s
        .app
        .store
        .ingest(&permit, &screened, Box::new(|| Ok(())))
        .await?;
    s.app.dispatch(out.alerts);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered = received.lock().map(|r| r.len()).unwrap_or(0);
        let lines = std::fs::read_to_string(&file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if delivered >= 1 && lines >= 1 {
            break;
        }
        if Instant::now() > deadline {
            bail!("not delivered: webhook {delivered}, file {lines}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a wrongly routed alert the time to show up, then check.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = std::fs::read_to_string(&file)?;
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"routed\""));
    let bodies = received.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("\"routed\""));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the first attempt failed and was retried"
    );
    hook_task.abort();
    Ok(())
}
