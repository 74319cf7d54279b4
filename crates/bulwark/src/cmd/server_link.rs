//! `bulwark agent --server ADDR`: the link to the control plane (alerts
//! up in acknowledged reports with the node's containers, flows, profiles
//! and counters; heartbeats; profile/policy updates down), over mTLS with
//! the node's X.509-SVID.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bulwark_containers::FsHost;
use bulwark_control::wire::AgentInfo;
use bulwark_mesh::{FileSource, IdentityHandle};
use bulwark_sensor::{Hop, Record, Stats};
use bulwark_server::uplink::{
    self, Finished, LinkConfig, NodeState, SensorCounters, UpdateApplier, UplinkSink,
};

#[derive(clap::Args, Debug)]
pub struct LinkArgs {
    /// Report to this `bulwark server` mTLS listener (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT", requires_all = ["server_id", "node_svid", "node_svid_key", "bundle"])]
    server: Option<String>,
    /// The server's SPIFFE ID (its certificate must carry exactly this).
    #[arg(long, value_name = "SPIFFE_ID")]
    server_id: Option<String>,
    /// This node's X.509-SVID chain (PEM, leaf first)...
    #[arg(long, value_name = "FILE")]
    node_svid: Option<PathBuf>,
    /// ...its PKCS#8 key (0600)...
    #[arg(long, value_name = "FILE")]
    node_svid_key: Option<PathBuf>,
    /// ...and the trust bundle (PEM CA certificates).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Report (and heartbeat) at least this often.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    report_secs: u64,
}

impl LinkArgs {
    /// How long to wait for the last report at shutdown.
    pub fn flush_timeout(&self) -> Duration {
        Duration::from_secs(self.report_secs.max(1) + 10)
    }

    /// Starts the link if `--server` was given; the sink takes the agent's
    /// alerts, `Finished` tells when the last report went out after the
    /// sink is dropped. Updates go to `applier`; their progress is kept in
    /// `DATA_DIR/server-updates/`. Learned profiles are reported from
    /// `DATA_DIR/profiles` when `profiles`.
    pub fn start(
        &self,
        data: &super::DataDir,
        applier: std::sync::Arc<dyn UpdateApplier>,
        profiles: bool,
    ) -> anyhow::Result<Option<Link>> {
        let (Some(addr), Some(server_id), Some(cert), Some(key), Some(bundle)) = (
            &self.server,
            &self.server_id,
            &self.node_svid,
            &self.node_svid_key,
            &self.bundle,
        ) else {
            return Ok(None);
        };
        anyhow::ensure!(
            server_id.starts_with("spiffe://"),
            "--server-id {server_id:?}: expected a spiffe:// ID"
        );
        let source = FileSource {
            cert: cert.clone(),
            key: key.clone(),
            bundle: bundle.clone(),
        };
        let identity = IdentityHandle::new(source.load().context("the node's SVID")?);
        // A renewed node SVID (rewritten files) is used from the next
        // connection on.
        source
            .watch_in_thread(std::sync::Arc::clone(&identity), Duration::from_secs(1))
            .context("watching the node's SVID files")?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let cfg = LinkConfig {
            addr: addr.clone(),
            server_id: server_id.clone(),
            every: Duration::from_secs(self.report_secs.max(1)),
            max_batch: 1000,
            queue: 16_384,
            updates_dir: data.path.join("server-updates"),
            agent: AgentInfo {
                hostname,
                version: env!("CARGO_PKG_VERSION").into(),
            },
            containers: Some(FsHost::real()),
            profiles: profiles.then(|| data.profiles()),
        };
        let link = uplink::start_with(cfg, identity, applier)?;
        Ok(link.sink.map(|sink| Link {
            sink,
            done: link.done,
            reporter: Reporter(link.state),
        }))
    }
}

/// The running link: the alert sink, the end of its last report, and
/// what the event loop feeds.
pub struct Link {
    pub sink: UplinkSink,
    pub done: Finished,
    pub reporter: Reporter,
}

/// The node's state as the link reports it, fed by the agent's loop.
pub struct Reporter(NodeState);

impl Reporter {
    /// One record of the sensor's stream (flows, containers seen).
    pub fn record(&self, record: &Record) {
        if let Record::Event(event) = record {
            self.0.observe(event);
        }
    }

    /// Reports carry the sensor's counters from now on.
    pub fn count(&self, stats: &Arc<Stats>) {
        let stats = Arc::clone(stats);
        self.0.sensor_counters(move || {
            let s = stats.snapshot();
            SensorCounters {
                events: s.delivered_total(),
                events_lost: s.dropped_total(),
                queue_drops: s.per_hop(Hop::Queue).iter().sum(),
            }
        });
    }
}
