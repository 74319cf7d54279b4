//! The agent's side of the link to `bulwark server`: alerts queued by the
//! agent's alert router (as a `bulwark_alert::Sink`) are sent in reports
//! over mTLS with the node's SVID; a report is kept and resent with the same
//! `seq` until the server acknowledges it (so nothing acknowledged is lost
//! and nothing is stored twice); an empty report is the heartbeat. Updates
//! streamed down go, in order, to an [`UpdateApplier`] (by default one that
//! writes them under a directory: one file per document, percent-encoded
//! names, atomic replace); the newest version that took effect and the
//! newest refusal (with its reason) are reported back ([`UpdateState`]).
//!
//! Every report also carries the node's state: its containers with their
//! CIS facts and learned profiles ([`inventory`]), the connections its
//! workloads made since the last report ([`flows`], fed by the agent's
//! event loop through [`NodeState::observe`]) and the agent's counters.
//!
//! The server is verified as an X.509-SVID of the trust domain and must be
//! the SPIFFE ID the agent was told (`--server-id`).

pub mod flows;
pub mod inventory;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bulwark_alert::{Sink, SinkError};
use bulwark_containers::FsHost;
use bulwark_control::wire::{
    AgentInfo, Counters, Downlink, PROTOCOL_VERSION, Report, ReportAck, Update,
};
use bulwark_core::{Alert, Event, EventKind};
use bulwark_identity::x509::PeerRole;
use bulwark_mesh::IdentityHandle;
use bulwark_nanoseg::ProfileStore;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod apply;

pub use apply::{ApplyError, FileApplier, UpdateApplier, UpdateState};

use self::flows::FlowTable;
use self::inventory::{Inventory, Receipt};

/// Where and how to report.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// `host:port` of the server's mTLS listener.
    pub addr: String,
    /// The server's SPIFFE ID.
    pub server_id: String,
    /// Heartbeat and batching interval.
    pub every: Duration,
    /// Most alerts in one report.
    pub max_batch: usize,
    /// Alerts queued at most (more are dropped and counted).
    pub queue: usize,
    /// Where streamed updates are written.
    pub updates_dir: PathBuf,
    pub agent: AgentInfo,
    /// Whose runtime state lists the node's containers (`FsHost::real()`);
    /// `None`: report no containers.
    pub containers: Option<FsHost>,
    /// The agent's profile store (learned profiles are reported from it).
    pub profiles: Option<PathBuf>,
}

/// Why talking to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connecting to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("server {addr} is {got}, expected {expected}")]
    WrongServer {
        addr: String,
        got: String,
        expected: String,
    },
    #[error("server {addr}: {message}")]
    Http { addr: String, message: String },
    #[error("writing update {name}: {source}")]
    Write {
        name: String,
        source: std::io::Error,
    },
}

/// A TLS connection to the server, verified as `server_id`.
async fn connect(
    cfg: &LinkConfig,
    identity: &Arc<IdentityHandle>,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, LinkError> {
    let bad = |message: String| LinkError::Connect {
        addr: cfg.addr.clone(),
        message,
    };
    let tls =
        bulwark_mesh::tls::client_config(Arc::clone(identity)).map_err(|e| bad(e.to_string()))?;
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&cfg.addr))
        .await
        .map_err(|_| bad("timed out".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from("bulwark-server")
        .map_err(|e| bad(e.to_string()))?;
    let stream = TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| bad(format!("TLS: {e}")))?;
    let chain = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
    let peer = bulwark_mesh::tls::verified_peer(identity, chain.as_deref(), PeerRole::Server)
        .map_err(bad)?;
    let got = peer.spiffe_id().to_string();
    if got != cfg.server_id {
        return Err(LinkError::WrongServer {
            addr: cfg.addr.clone(),
            got,
            expected: cfg.server_id.clone(),
        });
    }
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bad(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn request(
    cfg: &LinkConfig,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, LinkError> {
    hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", cfg.addr.as_str())
        .header("content-type", "application/json")
        .header("x-bulwark-protocol", PROTOCOL_VERSION)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| LinkError::Http {
            addr: cfg.addr.clone(),
            message: e.to_string(),
        })
}

/// Sends one report and waits for its acknowledgement.
pub async fn send_report(
    cfg: &LinkConfig,
    identity: &Arc<IdentityHandle>,
    report: &Report,
) -> Result<ReportAck, LinkError> {
    let http = |message: String| LinkError::Http {
        addr: cfg.addr.clone(),
        message,
    };
    let mut send = connect(cfg, identity).await?;
    let body = serde_json::to_vec(report).map_err(|e| http(e.to_string()))?;
    let resp = send
        .send_request(request(cfg, "POST", crate::agent_link::REPORT_PATH, body)?)
        .await
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(http(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes).trim()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| http(format!("unreadable acknowledgement: {e}")))
}

/// Streams updates after the state's cursor to `applier`, in order, until
/// the connection ends.
pub async fn follow_updates(
    cfg: &LinkConfig,
    identity: &Arc<IdentityHandle>,
    state: &Arc<UpdateState>,
    applier: &Arc<dyn UpdateApplier>,
) -> Result<(), LinkError> {
    let since = state.cursor();
    let http = |message: String| LinkError::Http {
        addr: cfg.addr.clone(),
        message,
    };
    let mut send = connect(cfg, identity).await?;
    let path = format!("{}?since={since}", crate::agent_link::UPDATES_PATH);
    let resp = send
        .send_request(request(cfg, "GET", &path, Vec::new())?)
        .await
        .map_err(|e| http(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(http(format!("update stream: {}", resp.status())));
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    // A keepalive comes every few seconds; silence for much longer means
    // the connection is dead.
    let idle = crate::agent_link::KEEPALIVE * 4;
    loop {
        let frame = tokio::time::timeout(idle, body.frame())
            .await
            .map_err(|_| http("update stream went silent".into()))?;
        let Some(frame) = frame else {
            return Ok(());
        };
        let frame = frame.map_err(|e| http(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        if buf.len() > (4 << 20) && !buf.contains(&b'\n') {
            return Err(http("an update line longer than 4 MiB".into()));
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            match serde_json::from_slice::<Downlink>(&line) {
                Ok(Downlink::Update(u)) => process_update(state, applier, u).await?,
                Ok(Downlink::Keepalive { .. }) => {}
                Err(e) => return Err(http(format!("unreadable update line: {e}"))),
            }
        }
    }
}

/// Applies one update off the runtime (appliers block: file writes, the
/// agent's profile stage) and logs a refusal as one line.
async fn process_update(
    state: &Arc<UpdateState>,
    applier: &Arc<dyn UpdateApplier>,
    u: Update,
) -> Result<(), LinkError> {
    let (state, applier) = (Arc::clone(state), Arc::clone(applier));
    let refused = tokio::task::spawn_blocking(move || state.process(applier.as_ref(), &u))
        .await
        .map_err(|e| LinkError::Http {
            addr: String::new(),
            message: format!("applying an update: {e}"),
        })??;
    if let Some(f) = refused {
        tracing::error!(
            version = f.version,
            kind = f.kind.as_str(),
            name = %f.name.escape_debug(),
            reason = %f.reason,
            "server update refused"
        );
    }
    Ok(())
}

/// A file name for any document name: bytes outside `[A-Za-z0-9_-]`
/// percent-encoded, so no name can climb out of its directory (`..`,
/// `/`) or hide (`.x`).
pub fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces `path` with `bytes` (temporary file in the same directory,
/// fsync, rename); creates the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes (or removes) one update's document: `DIR/KIND/NAME.yaml`.
pub fn apply(dir: &Path, u: &Update) -> Result<(), LinkError> {
    let path = dir
        .join(u.kind.as_str())
        .join(format!("{}.yaml", file_name(&u.name)));
    let err = |source| LinkError::Write {
        name: u.name.clone(),
        source,
    };
    match &u.document {
        Some(doc) => write_atomic(&path, doc.as_bytes()).map_err(err),
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(e)),
            _ => Ok(()),
        },
    }
}

/// The version recorded by an earlier run (0 if none).
pub fn read_applied(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("applied-version"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The alert sink the agent's router sends to.
#[derive(Debug)]
pub struct UplinkSink {
    tx: SyncSender<Alert>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicU64>,
}

impl Sink for UplinkSink {
    fn name(&self) -> &'static str {
        "server"
    }

    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        match self.tx.try_send(alert.clone()) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                // Counted and reported to the server with the next report.
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

/// The running link.
#[derive(Debug)]
pub struct Uplink {
    pub sink: Option<UplinkSink>,
    /// What was applied or refused (what the reports say).
    pub updates: Arc<UpdateState>,
    pub done: Finished,
    /// The agent's event loop feeds it; every report drains it.
    pub state: NodeState,
}

/// The sensor's counters since the agent started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SensorCounters {
    pub events: u64,
    pub events_lost: u64,
    pub queue_drops: u64,
}

type CounterFn = Box<dyn Fn() -> SensorCounters + Send + Sync>;

/// The node's connections since the last report and where the sensor's
/// counters come from; shared by the agent's event loop and the link.
#[derive(Clone, Default)]
pub struct NodeState {
    flows: Arc<Mutex<FlowTable>>,
    sensor: Arc<OnceLock<CounterFn>>,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState").finish_non_exhaustive()
    }
}

impl NodeState {
    /// One event of the sensor's stream (only execs and socket events are
    /// kept).
    pub fn observe(&self, event: &Event) {
        if !matches!(
            event.kind,
            EventKind::Exec { .. }
                | EventKind::Connect { .. }
                | EventKind::Accept { .. }
                | EventKind::Listen { .. }
                | EventKind::Bind { .. }
        ) {
            return;
        }
        if let Ok(mut t) = self.flows.lock() {
            t.observe(event);
        }
    }

    /// Where reports read the sensor's counters from (set once, when the
    /// sensor runs; later calls are ignored).
    pub fn sensor_counters(&self, read: impl Fn() -> SensorCounters + Send + Sync + 'static) {
        let _ = self.sensor.set(Box::new(read));
    }

    fn sensor(&self) -> SensorCounters {
        self.sensor.get().map(|f| f()).unwrap_or_default()
    }

    fn drain(&self) -> flows::Drained {
        self.flows.lock().map(|mut t| t.drain()).unwrap_or_default()
    }
}

/// Signals when the link thread has sent its last report (after every
/// sink was dropped).
#[derive(Debug)]
pub struct Finished(Receiver<()>);

impl Finished {
    /// Waits up to `timeout` for the last report; false if it did not
    /// finish in time (its alerts are then lost with the process).
    pub fn wait(self, timeout: Duration) -> bool {
        !matches!(self.0.recv_timeout(timeout), Err(RecvTimeoutError::Timeout))
    }
}

/// Starts the link on its own thread (with its own runtime): reports
/// every `cfg.every` (or when a batch fills), and follows updates, writing
/// them under `cfg.updates_dir` ([`FileApplier`]).
pub fn start(cfg: LinkConfig, identity: Arc<IdentityHandle>) -> Result<Uplink, LinkError> {
    let files = FileApplier {
        dir: cfg.updates_dir.clone(),
    };
    start_with(cfg, identity, Arc::new(files))
}

/// [`start`] with updates going to `applier` (their progress is still
/// kept under `cfg.updates_dir`).
pub fn start_with(
    cfg: LinkConfig,
    identity: Arc<IdentityHandle>,
    applier: Arc<dyn UpdateApplier>,
) -> Result<Uplink, LinkError> {
    let (tx, rx) = sync_channel(cfg.queue.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicU64::new(0));
    let state = NodeState::default();
    let inventory = inventory_of(&cfg)?;
    let applied = Arc::new(UpdateState::load(&cfg.updates_dir));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LinkError::Connect {
            addr: cfg.addr.clone(),
            message: format!("starting the link's runtime: {e}"),
        })?;
    let counters = LinkCounters {
        dropped: Arc::clone(&dropped),
        queued: Arc::clone(&queued),
        applied: Arc::clone(&applied),
    };
    let node = Node {
        state: state.clone(),
        inventory,
    };
    let (done_tx, done_rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("server-link".into())
        .spawn(move || {
            rt.block_on(run(cfg, identity, rx, counters, node, applier));
            let _ = done_tx.send(());
        })
        .map_err(|e| LinkError::Connect {
            addr: String::new(),
            message: format!("starting the link thread: {e}"),
        })?;
    Ok(Uplink {
        sink: Some(UplinkSink {
            tx,
            dropped,
            queued,
        }),
        updates: applied,
        done: Finished(done_rx),
        state,
    })
}

fn inventory_of(cfg: &LinkConfig) -> Result<Option<Inventory>, LinkError> {
    let profiles = cfg
        .profiles
        .as_deref()
        .map(ProfileStore::open)
        .transpose()
        .map_err(|e| LinkError::Connect {
            addr: cfg.addr.clone(),
            message: format!("the profile store to report from: {e}"),
        })?;
    Ok(match (&cfg.containers, profiles) {
        (None, None) => None,
        (host, profiles) => Some(Inventory::new(host.clone(), profiles)),
    })
}

/// The link's own counters, shared with the sink.
#[derive(Debug)]
struct LinkCounters {
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicU64>,
    applied: Arc<UpdateState>,
}

/// The node's state the reports carry besides alerts.
#[derive(Debug)]
struct Node {
    state: NodeState,
    inventory: Option<Inventory>,
}

impl Node {
    /// Fills `report` with the node's state; what to remember once the
    /// server acknowledges it.
    fn fill(&mut self, report: &mut Report, flows_dropped: &mut u64) -> Option<Receipt> {
        let drained = self.state.drain();
        *flows_dropped += drained.dropped;
        report.flows = drained.flows;
        report.listeners = drained.listeners;
        let sensor = self.state.sensor();
        report.counters.events = sensor.events;
        report.counters.events_lost = sensor.events_lost;
        report.counters.queue_drops = sensor.queue_drops;
        report.counters.flows_dropped = *flows_dropped;
        let snap = self.inventory.as_ref()?.snapshot(drained.containers);
        let receipt = snap.receipt();
        report.containers = snap.containers;
        report.containers_complete = snap.complete;
        report.profiles = snap.profiles;
        Some(receipt)
    }
}

fn boot_id() -> String {
    crate::auth::secret::new_id().unwrap_or_else(|_| format!("{}", crate::now_ms()))
}

async fn run(
    cfg: LinkConfig,
    identity: Arc<IdentityHandle>,
    rx: Receiver<Alert>,
    counters: LinkCounters,
    mut node: Node,
    applier: Arc<dyn UpdateApplier>,
) {
    let follower = {
        let (cfg, identity, applied) = (
            cfg.clone(),
            Arc::clone(&identity),
            Arc::clone(&counters.applied),
        );
        tokio::spawn(async move {
            loop {
                if let Err(e) = follow_updates(&cfg, &identity, &applied, &applier).await {
                    tracing::warn!(error = %e, "server update stream");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let boot = boot_id();
    let mut seq = 0u64;
    let mut pending: VecDeque<Alert> = VecDeque::new();
    let mut flows_dropped = 0u64;
    loop {
        let batch_ready = fill(&rx, &mut pending, cfg.max_batch, cfg.every).await;
        // The last report (after the sink closed) still carries the
        // node's state since the one before.
        let last = !batch_ready && rx_closed(&rx) && pending.is_empty();
        seq += 1;
        let take = pending.len().min(cfg.max_batch);
        let mut report = Report {
            seq,
            boot: boot.clone(),
            agent: cfg.agent.clone(),
            alerts: pending.iter().take(take).cloned().collect(),
            counters: Counters {
                alerts_dropped: counters.dropped.load(Ordering::Relaxed),
                alerts: counters.queued.load(Ordering::Relaxed),
                ..Counters::default()
            },
            applied_update: counters.applied.applied(),
            update_failure: counters.applied.failure(),
            ..Report::default()
        };
        let receipt = node.fill(&mut report, &mut flows_dropped);
        let ack = send_until_acknowledged(&cfg, &identity, &report).await;
        pending.drain(..take);
        if !ack.rejected.is_empty() {
            tracing::warn!(seq, rejected = ?ack.rejected, "the server refused parts of a report");
        }
        if let (Some(inv), Some(r)) = (node.inventory.as_mut(), receipt) {
            inv.acknowledged(r);
        }
        if last {
            break;
        }
    }
    follower.abort();
}

/// Sends the same report (same seq) until the server acknowledges it.
async fn send_until_acknowledged(
    cfg: &LinkConfig,
    identity: &Arc<IdentityHandle>,
    report: &Report,
) -> ReportAck {
    let mut backoff = Duration::from_millis(200);
    loop {
        match send_report(cfg, identity, report).await {
            Ok(ack) => return ack,
            Err(e) => {
                tracing::warn!(error = %e, seq = report.seq, "report not acknowledged; will resend");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.every.max(Duration::from_secs(1)));
            }
        }
    }
}

fn rx_closed(rx: &std::sync::Mutex<Receiver<Alert>>) -> bool {
    rx.lock().map_or(true, |r| {
        matches!(
            r.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        )
    })
}

/// Waits until `max` alerts are pending or `every` has passed; true if
/// the batch is full.
async fn fill(
    rx: &Arc<std::sync::Mutex<Receiver<Alert>>>,
    pending: &mut VecDeque<Alert>,
    max: usize,
    every: Duration,
) -> bool {
    let deadline = Instant::now() + every;
    while pending.len() < max {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let rx = Arc::clone(rx);
        let got = tokio::task::spawn_blocking(move || {
            rx.lock()
                .map_err(|_| RecvTimeoutError::Disconnected)
                .and_then(|r| r.recv_timeout(left.min(Duration::from_millis(200))))
        })
        .await;
        match got {
            Ok(Ok(alert)) => pending.push_back(alert),
            Ok(Err(RecvTimeoutError::Timeout)) => {}
            Ok(Err(RecvTimeoutError::Disconnected)) | Err(_) => {
                tokio::time::sleep(left.min(Duration::from_millis(200))).await;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_names_cannot_escape_the_updates_directory() {
        assert_eq!(file_name("k8s:team/web"), "k8s%3Ateam%2Fweb");
        assert_eq!(file_name(".."), "%2E%2E");
        assert_eq!(
            file_name("../../etc/passwd"),
            "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"
        );
        assert_eq!(file_name(".hidden"), "%2Ehidden");
    }

    #[test]
    fn updates_are_written_and_removed_under_their_kind() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut u = Update {
            version: 3,
            kind: bulwark_control::wire::UpdateKind::EnforcementPolicy,
            name: "../web".into(),
            document: Some("kind: EnforcementPolicy\n".into()),
        };
        apply(dir.path(), &u)?;
        let path = dir
            .path()
            .join("EnforcementPolicy")
            .join("%2E%2E%2Fweb.yaml");
        assert_eq!(std::fs::read_to_string(&path)?, "kind: EnforcementPolicy\n");
        u.document = None;
        apply(dir.path(), &u)?;
        assert!(!path.exists());
        std::fs::write(dir.path().join("applied-version"), "7\n")?;
        assert_eq!(read_applied(dir.path()), 7);
        Ok(())
    }
}
