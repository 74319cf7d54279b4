//! `bulwark identity`: the trust-domain CA, registration entries, direct
//! issuance, and the SPIFFE Workload API server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
use bulwark_identity::entry::parse_ttl;
use bulwark_identity::server::{
    Maintainer, ServerConfig, add_entry_file, load_entries_dir, remove_entry,
};
use bulwark_identity::store::{CaStore, pem, write_atomic};
use bulwark_identity::x509::LeafRequest;

use super::DataDir;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// The trust-domain CA: init, show, rotate.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Print the trust bundle (SPIFFE bundle JSON, or PEM with --pem).
    Bundle {
        #[arg(long)]
        pem: bool,
    },
    /// Registration entries (kind: WorkloadIdentity).
    #[command(subcommand)]
    Entry(EntryCmd),
    /// Issue an SVID directly (for workloads that cannot use the Workload API).
    Issue(IssueArgs),
    /// Serve the SPIFFE Workload API on a Unix socket.
    Serve(ServeArgs),
}

#[derive(clap::Subcommand, Debug)]
enum CaCmd {
    /// Create the CA of a trust domain (root, intermediate, JWT key).
    Init {
        #[arg(long)]
        trust_domain: String,
        /// Root CA lifetime (e.g. 365d).
        #[arg(long, default_value = "365d")]
        root_ttl: String,
        /// Intermediate CA lifetime; renewed at half-life by `serve`.
        #[arg(long, default_value = "7d")]
        intermediate_ttl: String,
    },
    /// Show the authorities and the bundle sequence.
    Show,
    /// Rotate: `prepare` (publish a new root), `activate` (sign with it), `retire` (drop the old).
    Rotate {
        #[arg(value_parser = ["prepare", "activate", "retire"])]
        step: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum EntryCmd {
    /// Validate a WorkloadIdentity YAML file and install it.
    Add { file: PathBuf },
    /// List installed entries.
    List,
    /// Remove an entry by name.
    Remove { name: String },
}

#[derive(clap::Args, Debug)]
struct IssueArgs {
    #[arg(long)]
    spiffe_id: String,
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// Write svid.pem, svid.key (0600) and bundle.pem into this directory.
    #[arg(long, conflicts_with = "jwt_audience")]
    out: Option<PathBuf>,
    /// Print a JWT-SVID for this audience instead.
    #[arg(long)]
    jwt_audience: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// The Workload API socket.
    #[arg(
        long,
        default_value = "/run/bulwark/workload.sock",
        env = "BULWARK_WORKLOAD_SOCKET"
    )]
    socket: PathBuf,
    /// How often the CA and entries are checked for changes.
    #[arg(long, default_value = "100")]
    poll_ms: u64,
}

impl DataDir {
    pub fn identity_ca(&self) -> PathBuf {
        self.path.join("identity").join("ca")
    }

    pub fn identity_entries(&self) -> PathBuf {
        self.path.join("identity").join("entries")
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = CaStore::new(args.data.identity_ca());
    let entries = args.data.identity_entries();
    match args.command {
        Sub::Ca(cmd) => ca(&store, cmd)?,
        Sub::Bundle { pem: as_pem } => bundle(&store, as_pem)?,
        Sub::Entry(cmd) => entry(&entries, cmd)?,
        Sub::Issue(a) => issue(&store, a)?,
        Sub::Serve(a) => serve(store, entries, a)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn ca(store: &CaStore, cmd: CaCmd) -> anyhow::Result<()> {
    match cmd {
        CaCmd::Init {
            trust_domain,
            root_ttl,
            intermediate_ttl,
        } => {
            let td = TrustDomain::new(trust_domain.as_str()).context("--trust-domain")?;
            let policy = CaPolicy {
                root_ttl: parse_ttl(Some(&root_ttl), Duration::ZERO)
                    .map_err(anyhow::Error::msg)
                    .context("--root-ttl")?,
                intermediate_ttl: parse_ttl(Some(&intermediate_ttl), Duration::ZERO)
                    .map_err(anyhow::Error::msg)
                    .context("--intermediate-ttl")?,
            };
            let lock = store.lock()?;
            let ca = TrustDomainCa::init(td, policy, SystemTime::now())?;
            store.create(&ca, &lock)?;
            println!(
                "created the CA of trust domain {} in {}",
                ca.trust_domain,
                store.dir().display()
            );
        }
        CaCmd::Show => show(&store.load()?),
        CaCmd::Rotate { step } => {
            let lock = store.lock()?;
            let mut ca = store.load()?;
            match step.as_str() {
                "prepare" => {
                    let id = ca.prepare(SystemTime::now())?.id.clone();
                    println!(
                        "prepared authority {id}: its root is now in the bundle; activate once workloads have it"
                    );
                }
                "activate" => {
                    ca.activate()?;
                    println!(
                        "activated: new SVIDs are signed by the new authority; retire the old one after they rotate"
                    );
                }
                _ => {
                    let gone = ca.retire()?;
                    println!("retired {}", gone.join(", "));
                }
            }
            store.save(&ca, &lock)?;
        }
    }
    Ok(())
}

fn show(ca: &TrustDomainCa) {
    println!(
        "trust domain: {}\nbundle sequence: {}",
        ca.trust_domain, ca.sequence
    );
    for a in &ca.authorities {
        let left = |t: SystemTime| {
            t.duration_since(SystemTime::now())
                .map_or(0, |d| d.as_secs() / 3600)
        };
        println!(
            "authority {} {:?}: root expires in {} h, intermediate in {} h, JWT kid {}",
            a.id,
            a.state,
            left(a.root.not_after),
            left(a.intermediate.not_after),
            a.jwt.kid()
        );
    }
}

fn bundle(store: &CaStore, as_pem: bool) -> anyhow::Result<()> {
    let b = store.load()?.bundle();
    if as_pem {
        for c in b.x509_authorities() {
            print!("{}", pem("CERTIFICATE", c));
        }
    } else {
        println!("{}", b.to_spiffe_json());
    }
    Ok(())
}

fn entry(dir: &Path, cmd: EntryCmd) -> anyhow::Result<()> {
    match cmd {
        EntryCmd::Add { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (added, path) = add_entry_file(dir, &name, &text)?;
            for e in added {
                println!("{} -> {} (in {})", e.name, e.spiffe_id, path.display());
            }
        }
        EntryCmd::List => {
            for e in load_entries_dir(dir)? {
                println!("{}\t{}\t{}", e.name, e.spiffe_id, e.source);
            }
        }
        EntryCmd::Remove { name } => match remove_entry(dir, &name)? {
            Some(path) => println!("removed {name} ({})", path.display()),
            None => bail!("no entry named {name:?}"),
        },
    }
    Ok(())
}

fn issue(store: &CaStore, a: IssueArgs) -> anyhow::Result<()> {
    let ca = store.load()?;
    let id = SpiffeId::new(a.spiffe_id.as_str()).context("--spiffe-id")?;
    let ttl = parse_ttl(Some(&a.ttl), Duration::ZERO)
        .map_err(anyhow::Error::msg)
        .context("--ttl")?;
    if !a.jwt_audience.is_empty() {
        println!(
            "{}",
            ca.issue_jwt(&id, &a.jwt_audience, ttl, SystemTime::now())?
                .token
        );
        return Ok(());
    }
    let Some(out) = a.out else {
        bail!(
            "say where to write the X.509-SVID with --out DIR, or ask for a JWT with --jwt-audience"
        );
    };
    let svid = ca.issue_x509(&LeafRequest {
        id: &id,
        ttl,
        now: SystemTime::now(),
        dns_names: &[],
    })?;
    bulwark_identity::store::ensure_private_dir(&out)?;
    let chain: String = svid.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
    let roots: String = ca
        .bundle()
        .x509_authorities()
        .iter()
        .map(|c| pem("CERTIFICATE", c))
        .collect();
    write_atomic(&out.join("svid.pem"), chain.as_bytes(), 0o644)?;
    write_atomic(
        &out.join("svid.key"),
        pem("PRIVATE KEY", &svid.key_pkcs8).as_bytes(),
        0o600,
    )?;
    write_atomic(&out.join("bundle.pem"), roots.as_bytes(), 0o644)?;
    println!("wrote {id} to {}", out.display());
    Ok(())
}

fn serve(store: CaStore, entries: PathBuf, a: ServeArgs) -> anyhow::Result<()> {
    let cfg = ServerConfig {
        ca: store,
        entries_dir: entries,
        poll_interval: Duration::from_millis(a.poll_ms.max(10)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (maintainer, state) = Maintainer::start(cfg, bulwark_core::SystemClock)?;
        let listener = bulwark_identity::workload_api::bind(&a.socket)?;
        eprintln!("bulwark: Workload API on unix://{}", a.socket.display());
        tokio::spawn(maintainer.run(std::future::pending::<()>()));
        let shutdown = super::proxy::shutdown_signal();
        bulwark_identity::workload_api::serve(listener, &a.socket, state, shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(())
}
