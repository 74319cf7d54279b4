//! Alert ingest rate from agents over mTLS, and API p99 latency while
//! agents ingest, against a real server (SQLite in a temp dir, audit log
//! fsync'd per call). Baselines from the same run: ingest with one alert per
//! report (per-report cost: TLS handshake, transaction, audit fsync), and
//! API latency with no ingest running. A third run adds the node's state
//! to every 500-alert report (50 containers, a complete list with CIS
//! facts in the first report; 200 flows, half attributed to a workload;
//! 20 listeners), as `bulwark agent --server` sends it, against the
//! alerts-only run.
//!
//! `cargo bench -p bulwark-server --bench ingest` (BENCH_SECS, default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use bulwark_control::compliance::ContainerFacts;
use bulwark_control::wire::{AgentInfo, ContainerReport, Flow, Listener, Report};
use bulwark_core::{
    Alert, AlertReason, Decision, Mode, Severity, SpiffeId, TrustDomain, WorkloadId,
};
use bulwark_identity::bundle::BundleSet;
use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
use bulwark_identity::x509::LeafRequest;
use bulwark_mesh::{IdentityHandle, Material};
use bulwark_server::app::{App, Settings};
use bulwark_server::uplink::{LinkConfig, send_report};

const SERVER: &str = "spiffe://bench.test/bulwark/server";

fn identity(ca: &TrustDomainCa, id: &str) -> Result<Arc<IdentityHandle>> {
    let id = SpiffeId::new(id)?;
    let svid = ca.issue_x509(&LeafRequest {
        id: &id,
        ttl: Duration::from_secs(3600),
        now: SystemTime::now(),
        dns_names: &[],
    })?;
    let mut bundles = BundleSet::new();
    bundles.insert(ca.bundle());
    Ok(IdentityHandle::new(Material::new(
        svid.chain,
        svid.key_pkcs8,
        bundles,
    )?))
}

fn alert(n: u64) -> Result<Alert> {
    Ok(Alert {
        id: format!("deviation:k8s:shop/web:{n}"),
        time: time::OffsetDateTime::now_utc(),
        severity: Severity::High,
        workload: Some(WorkloadId::new(format!("k8s:shop/web-{}", n % 50))?),
        container_id: None,
        image_digest: None,
        profile_version: None,
        mode: Mode::Monitor,
        reason: AlertReason::Deviation {
            class: "process".into(),
            detail: format!("/usr/bin/tool-{n}"),
        },
        decision: Decision::Alert,
        message: format!("unexpected process /usr/bin/tool-{n}"),
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    })
}

const CONFIG: &str = r#"{"ociVersion": "1.0.2",
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
              "capabilities": {"bounding": ["CAP_NET_BIND_SERVICE"], "effective": [], "permitted": []}},
  "root": {"path": "rootfs", "readonly": true},
  "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}],
            "resources": {"memory": {"limit": 268435456}, "pids": {"limit": 100}}}}"#;

/// What an agent reports about its node besides alerts: 50 containers
/// (facts only in the first report, as the agent sends them until
/// acknowledged), 200 flows and 20 listeners per report.
fn node_state(report: &mut Report, node: usize, facts: Option<&ContainerFacts>) -> Result<()> {
    let workload = |i: usize| format!("k8s:shop/n{node}-w{}", i % 25);
    report.containers = (0..50)
        .map(|i| ContainerReport {
            id: format!("n{node}-c{i}"),
            workload: workload(i),
            image: Some(format!("registry.test/shop/w{}:1", i % 25)),
            image_digest: None,
            running: true,
            facts: facts.cloned(),
        })
        .collect();
    report.containers_complete = true;
    report.flows = (0..200)
        .map(|i| {
            Ok(Flow {
                src: workload(i),
                dst: format!("10.{node}.{}.{}:8080", i / 250, i % 250).parse()?,
                dst_workload: (i % 2 == 0).then(|| workload(i + 1)),
                protocol: "tcp".into(),
                count: 10,
                last_seen: bulwark_server::now_ms(),
            })
        })
        .collect::<Result<_>>()?;
    report.listeners = (0..20)
        .map(|i| {
            Ok(Listener {
                workload: workload(i),
                addr: format!("10.{node}.9.{i}:8080").parse()?,
                protocol: "tcp".into(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(())
}

struct Rig {
    app: Arc<App>,
    mtls: String,
    http: String,
    token: String,
    ca: TrustDomainCa,
    _dir: tempfile::TempDir,
}

async fn rig() -> Result<Rig> {
    let dir = tempfile::tempdir()?;
    let mut s = Settings::new(&dir.path().join("server"));
    s.agent_ids = vec!["spiffe://bench.test/bulwark/node/*".into()];
    let app = App::open(s).await?;
    let token_file = dir.path().join("t");
    bulwark_server::bootstrap::first_start(&app, "admin", Some(&token_file)).await?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_owned();
    let ca = TrustDomainCa::init(
        TrustDomain::new("bench.test")?,
        CaPolicy::default(),
        SystemTime::now(),
    )?;
    let router = bulwark_server::api::router(Arc::clone(&app));
    let tls = bulwark_server::serve::bind("127.0.0.1:0").await?;
    let plain = bulwark_server::serve::bind("127.0.0.1:0").await?;
    let mtls = tls.local_addr()?.to_string();
    let http = format!("http://{}", plain.local_addr()?);
    let server_id = identity(&ca, SERVER)?;
    let r = router.clone();
    let a = Arc::clone(&app);
    tokio::spawn(async move { bulwark_server::serve::serve_mtls(tls, r, server_id, a).await });
    tokio::spawn(async move { bulwark_server::serve::serve_http(plain, router).await });
    Ok(Rig {
        app,
        mtls,
        http,
        token,
        ca,
        _dir: dir,
    })
}

/// Agents sending reports of `batch` alerts for `secs`; alerts stored.
async fn ingest(
    rig: &Rig,
    agents: usize,
    batch: usize,
    secs: f64,
    stop: Arc<AtomicBool>,
    with_state: bool,
) -> Result<u64> {
    let facts = ContainerFacts::from_config_json(CONFIG)?;
    let stored = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    for a in 0..agents {
        let id = identity(
            &rig.ca,
            &format!("spiffe://bench.test/bulwark/node/n{a}-{batch}-{with_state}"),
        )?;
        let cfg = LinkConfig {
            addr: rig.mtls.clone(),
            server_id: SERVER.into(),
            every: Duration::from_secs(1),
            max_batch: batch,
            queue: batch,
            updates_dir: rig._dir.path().join("u"),
            agent: AgentInfo {
                hostname: format!("n{a}"),
                version: "bench".into(),
            },
            containers: None,
            profiles: None,
        };
        let (stored, stop, facts) = (Arc::clone(&stored), Arc::clone(&stop), facts.clone());
        tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                seq += 1;
                let alerts = (0..batch)
                    .map(|_| {
                        n += 1;
                        alert(n)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut report = Report {
                    seq,
                    boot: format!("b{a}"),
                    agent: cfg.agent.clone(),
                    alerts,
                    ..Report::default()
                };
                if with_state {
                    node_state(&mut report, a, (seq == 1).then_some(&facts))?;
                }
                let ack = send_report(&cfg, &id, &report).await?;
                if ack.stored {
                    stored.fetch_add(batch as u64, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(stored.load(Ordering::Relaxed))
}

/// GET /api/v1/alerts?limit=50 in a loop until `stop`; latencies.
async fn api_load(rig: &Rig, stop: Arc<AtomicBool>, min: usize) -> Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/alerts?limit=50", rig.http);
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) || out.len() < min {
        let t = Instant::now();
        let resp = client.get(&url).bearer_auth(&rig.token).send().await?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        out.push(t.elapsed());
        anyhow::ensure!(status.is_success(), "API answered {status}");
    }
    Ok(out)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn main() -> Result<()> {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let rig = rig().await?;
        // Baseline 1: API latency with nothing else running.
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let idle = {
            let timer = tokio::spawn(async move { tokio::time::sleep(Duration::from_secs_f64(secs / 2.0)).await; s2.store(true, Ordering::Relaxed) });
            let v = api_load(&rig, Arc::clone(&stop), 50).await?;
            timer.await?;
            v
        };
        // Baseline 2: one alert per report.
        let t = Instant::now();
        let single = ingest(&rig, 4, 1, secs / 2.0, Arc::new(AtomicBool::new(false)), false).await?;
        let single_rate = single as f64 / t.elapsed().as_secs_f64();
        // Measured: 4 agents, 500 alerts per report, with the API loaded.
        let stop = Arc::new(AtomicBool::new(false));
        let api = {
            let rig_ref = &rig;
            let stop2 = Arc::clone(&stop);
            let t = Instant::now();
            let (stored, lat) = tokio::join!(
                async { let r = ingest(rig_ref, 4, 500, secs, Arc::new(AtomicBool::new(false)), false).await; stop2.store(true, Ordering::Relaxed); r },
                api_load(rig_ref, Arc::clone(&stop), 20)
            );
            let elapsed = t.elapsed().as_secs_f64();
            (stored? as f64 / elapsed, lat?)
        };
        let (rate, mut loaded) = api;
        // 500 alerts per report without API load (the baseline of the
        // next), then 500 alerts plus the node's state per report, each
        // on a fresh server: on the shared one, the later run inherited the
        // earlier's database and WAL (the plain run measured 3x slower than
        // the loaded one before it, and slower than the state run after).
        let fresh = crate::rig().await?;
        let t = Instant::now();
        let plain = ingest(&fresh, 4, 500, secs, Arc::new(AtomicBool::new(false)), false).await?;
        let plain_rate = plain as f64 / t.elapsed().as_secs_f64();
        let fresh = crate::rig().await?;
        let t = Instant::now();
        let with_state = ingest(&fresh, 4, 500, secs, Arc::new(AtomicBool::new(false)), true).await?;
        let state_rate = with_state as f64 / t.elapsed().as_secs_f64();
        let mut idle = idle;
        let (ip50, ip99) = (pct(&mut idle, 0.5), pct(&mut idle, 0.99));
        let (lp50, lp99) = (pct(&mut loaded, 0.5), pct(&mut loaded, 0.99));
        let total = rig.app.store.count_alerts_since(0).await?;
        println!("ingest, 4 agents x 1 alert/report (baseline): {single_rate:.0} alerts/s");
        println!("ingest, 4 agents x 500 alerts/report:         {rate:.0} alerts/s ({:.1}x baseline)", rate / single_rate.max(1e-9));
        println!("ingest, 4 agents x 500 alerts, no API load:   {plain_rate:.0} alerts/s");
        println!("ingest, 4 agents x 500 alerts + node state:   {state_rate:.0} alerts/s ({:.2}x the run above)", state_rate / plain_rate.max(1e-9));
        println!("API GET /api/v1/alerts?limit=50 idle:   p50 {:.2} ms, p99 {:.2} ms ({} requests)", ip50.as_secs_f64() * 1e3, ip99.as_secs_f64() * 1e3, idle.len());
        println!("API GET /api/v1/alerts?limit=50 loaded: p50 {:.2} ms, p99 {:.2} ms ({} requests), p99 {:.1}x idle", lp50.as_secs_f64() * 1e3, lp99.as_secs_f64() * 1e3, loaded.len(), lp99.as_secs_f64() / ip99.as_secs_f64().max(1e-9));
        println!("alerts stored: {total}");
        anyhow::Ok(())
    })
    .context("benchmark")
}
