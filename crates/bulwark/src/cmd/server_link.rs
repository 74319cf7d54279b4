//! `bulwark agent --server ADDR`: the link to the control plane (alerts
//! up in acknowledged reports, heartbeats, profile/policy updates down),
//! over mTLS with the node's X.509-SVID.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bulwark_control::wire::AgentInfo;
use bulwark_mesh::{FileSource, IdentityHandle};
use bulwark_server::uplink::{self, Finished, LinkConfig, UpdateApplier, UplinkSink};

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
    /// `DATA_DIR/server-updates/`.
    pub fn start(
        &self,
        data: &super::DataDir,
        applier: std::sync::Arc<dyn UpdateApplier>,
    ) -> anyhow::Result<Option<(UplinkSink, Finished)>> {
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
        };
        let link = uplink::start_with(cfg, identity, applier)?;
        Ok(link.sink.map(|s| (s, link.done)))
    }
}
