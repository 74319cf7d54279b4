//! Subcommands. Add a variant here and a module `cmd/NAME.rs` that wires it.

use std::process::ExitCode;

use clap::Subcommand;

mod admission;
mod agent;
mod audit;
mod db;
mod enforce;
mod explain;
mod findings;
mod hook;
mod identity;
mod image_args;
mod image_walk;
mod nanoseg;
mod profile;
mod proxy;
mod replay;
mod run;
mod sbom;
mod scan;
mod scan_queue;
mod server;
mod server_link;
mod server_push;
mod server_updates;
mod trust;
pub mod up;
mod verify;
mod version;

pub use image_args::ImageArgs;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print version and build information.
    Version(version::Args),
    /// Check the tamper-evident audit log.
    Audit(audit::Args),
    /// Serve the Kubernetes image admission webhook over HTTPS.
    Admission(admission::Args),
    /// Decide whether an image may run under an ImagePolicy, and say why.
    Verify(verify::Args),
    /// Protect mode: the enforcement service the OCI hook registers containers with.
    Enforce(enforce::Args),
    /// OCI runtime hook: register a container for Protect mode before its first instruction.
    Hook(hook::Args),
    /// Start a command (Landlock + seccomp) or harden an OCI bundle from its policy.
    Run(run::Args),
    /// Per-workload behaviour profiles: list, show, diff, export, import, promote, demote.
    Profile(profile::Args),
    /// Vulnerability database: import advisories, show status.
    Db(db::Args),
    /// List new and resolved findings (JSON lines).
    Findings(findings::Args),
    /// Show why a finding was reported: record, range and comparator.
    Explain(explain::Args),
    /// Match an image (or an SBOM) against the vulnerability DB (table, JSON, SARIF, CycloneDX).
    Scan(scan::Args),
    /// Scan the images the OCI hook queued and push them to the server (run by `bulwark up`).
    ScanQueue(scan_queue::Args),
    /// Software bill of materials of an image or root filesystem.
    Sbom(sbom::Args),
    /// Decompress and walk every layer of an image, verifying digests, and
    /// print a JSON summary (the baseline `sbom` is benchmarked against).
    #[command(hide = true)]
    ImageWalk(image_walk::Args),
    /// Run the runtime sensor: eBPF events from every container, attributed and loss-accounted.
    Agent(agent::Args),
    /// Feed a recorded JSON-lines event stream through the sensor's pipeline.
    Replay(replay::Args),
    /// Workload identity: CA, registration entries, SVIDs, the SPIFFE Workload API.
    Identity(identity::Args),
    /// Identity-authorised mTLS proxy for one workload (TLS 1.3, AccessPolicy).
    Proxy(proxy::Args),
    /// The control plane: HTTP API (RBAC, audit), agent link over mTLS, alert routing, compliance.
    Server(server::Args),
    /// The whole platform on this machine: server + dashboard, identity,
    /// enforcement and the agent, supervised (first start creates what is missing).
    Up(up::Args),
}

/// The data directory: `--data-dir`, else `$BULWARK_DATA_DIR`, else
/// `/var/lib/bulwark`. Layout: `audit/audit.log` (+ `.head`), `profiles/`,
/// `vulndb/vulndb.sqlite`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Where Bulwark keeps its state.
    #[arg(
        long = "data-dir",
        env = "BULWARK_DATA_DIR",
        default_value = "/var/lib/bulwark"
    )]
    pub path: std::path::PathBuf,
}

impl DataDir {
    pub fn audit_log(&self) -> std::path::PathBuf {
        self.path.join("audit").join("audit.log")
    }

    pub fn profiles(&self) -> std::path::PathBuf {
        self.path.join("profiles")
    }

    /// The vulnerability store: `vulndb/vulndb.sqlite`.
    pub fn vulndb(&self) -> std::path::PathBuf {
        self.path
            .join("vulndb")
            .join(bulwark_vulndb::store::FILE_NAME)
    }
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version(args) => version::run(args),
        Command::Identity(args) => identity::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Admission(args) => admission::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Enforce(args) => enforce::run(args),
        Command::Hook(args) => hook::run(args),
        Command::Run(args) => run::run(args),
        Command::Db(args) => db::run(args),
        Command::Findings(args) => findings::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Scan(args) => scan::run(args),
        Command::ScanQueue(args) => scan_queue::run(args),
        Command::Sbom(args) => sbom::run(args),
        Command::ImageWalk(args) => image_walk::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Server(args) => server::run(args),
        Command::Up(args) => up::run(args),
    }
}
