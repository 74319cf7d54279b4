//! `bulwark db import|status`: the vulnerability database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bulwark_vulndb::import::{ImportError, Item, Limits, read_inputs};
use bulwark_vulndb::rescan::rematch;
use bulwark_vulndb::staleness::{self, OnStale, Policy, Staleness};
use bulwark_vulndb::store::{ImportSummary, Store};
use bulwark_vulndb::time_fmt;

use super::DataDir;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DbCommand {
    /// Import OSV records (JSON/YAML files, directories, .zip, .tar, .tar.gz,
    /// .tar.zst), Debian DSA/DLA lists and Alpine secdb YAML; then re-match
    /// the stored SBOMs that contain changed packages.
    Import(ImportArgs),
    /// Show what the DB holds and whether it is stale.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    #[command(flatten)]
    data: DataDir,
    /// Name of the source (default: each input's file name).
    #[arg(long)]
    source: Option<String>,
    /// Inputs to import.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// With `--server`: the images whose findings changed are pushed again.
    #[command(flatten)]
    push: super::server_push::PushArgs,
}

/// The staleness policy flags, shared with `scan`.
#[derive(clap::Args, Debug, Clone)]
pub struct StaleArgs {
    /// Age in days after which the DB counts as stale.
    #[arg(
        long = "db-max-age-days",
        env = "BULWARK_DB_MAX_AGE_DAYS",
        default_value_t = 7
    )]
    pub max_age_days: u64,
    /// What a stale DB does: warn, fail (exit 2) or ignore (air gaps).
    #[arg(
        long = "db-on-stale",
        env = "BULWARK_DB_ON_STALE",
        default_value = "warn"
    )]
    pub on_stale: OnStale,
}

impl StaleArgs {
    pub fn policy(&self) -> Policy {
        Policy {
            max_age: Duration::from_secs(self.max_age_days.saturating_mul(86_400)),
            on_stale: self.on_stale,
        }
    }

    /// Applies the policy to an open store: a warning on stderr, or an error.
    pub fn enforce(&self, store: &Store) -> anyhow::Result<()> {
        let policy = self.policy();
        let built = store.built_at()?;
        match staleness::check(built.as_deref(), SystemTime::now(), &policy) {
            Staleness::Stale {
                age_hours,
                max_age_hours,
            } => {
                let msg = format!(
                    "vulnerability DB {} is stale: last import {age_hours} h ago, limit {max_age_hours} h \
                     (import fresh advisories with `bulwark db import`, or set --db-on-stale)",
                    store.path().display()
                );
                match policy.on_stale {
                    OnStale::Fail => anyhow::bail!(msg),
                    OnStale::Warn => eprintln!("bulwark: warning: {msg}"),
                    OnStale::Ignore => {}
                }
            }
            Staleness::Empty => anyhow::bail!(
                "vulnerability DB {} holds no advisories: run `bulwark db import PATH...`",
                store.path().display()
            ),
            Staleness::Fresh { .. } => {}
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    stale: StaleArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also read every page of the DB file to detect corruption.
    #[arg(long)]
    verify: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        DbCommand::Import(a) => import(a),
        DbCommand::Status(a) => status(a),
    }
}

/// At most this many skipped records are printed one by one.
const SHOWN_PROBLEMS: usize = 20;

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let pusher = args.push.pusher()?;
    let store = Store::open_or_create(&args.data.vulndb())?;
    let mut changed = std::collections::BTreeSet::new();
    let mut shown = 0usize;
    for path in &args.paths {
        let source = args.source.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| path.display().to_string())
        });
        let summary: ImportSummary = store
            .import(&source, SystemTime::now(), |importer| {
                read_inputs(
                    std::slice::from_ref(path),
                    &Limits::default(),
                    &mut |item| {
                        match item {
                            Item::Record { record, .. } => {
                                importer
                                    .put(&record)
                                    .map_err(|e| ImportError::Sink(e.to_string()))?;
                            }
                            Item::Invalid { origin, problem } => {
                                importer.invalid();
                                if shown < SHOWN_PROBLEMS {
                                    eprintln!("bulwark: skipped {origin}: {problem}");
                                }
                                shown += 1;
                            }
                        }
                        Ok(())
                    },
                )
                .map_err(anyhow::Error::from)
            })
            .with_context(|| format!("importing {}", path.display()))?;
        println!(
            "{}: {} added, {} changed, {} unchanged, {} stale, {} invalid",
            path.display(),
            summary.added,
            summary.changed,
            summary.unchanged,
            summary.stale,
            summary.invalid
        );
        changed.extend(summary.changed_keys);
    }
    if shown > SHOWN_PROBLEMS {
        eprintln!(
            "bulwark: ... and {} more skipped records",
            shown - SHOWN_PROBLEMS
        );
    }
    let now = time_fmt::format(SystemTime::now());
    let re = rematch(&store, &changed, &now)?;
    let new = re.events.iter().filter(|e| e.event == "new").count();
    println!(
        "re-matched {} of {} stored SBOMs: {new} new, {} resolved findings ({} packages with changed advisories)",
        re.rematched,
        re.stored,
        re.events.len() - new,
        re.components
    );
    if let Some(pusher) = pusher {
        let pending = args.data.vulndb().with_file_name("server-push-pending");
        super::server_push::push_rematched(&store, &pusher, &re.events, &pending)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&args.data.vulndb())?;
    if args.verify {
        store.verify()?;
    }
    let status = store.status()?;
    let verdict = staleness::check(
        status.built_at.as_deref(),
        SystemTime::now(),
        &args.stale.policy(),
    );
    if args.json {
        let out =
            serde_json::json!({"db": status, "staleness": verdict, "policy": args.stale.policy()});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("path:            {}", status.path);
        println!("size:            {} bytes", status.size_bytes);
        println!("schema:          {}", status.schema_version);
        println!(
            "built:           {}",
            status.built_at.as_deref().unwrap_or("never")
        );
        println!(
            "records:         {} ({} withdrawn)",
            status.records, status.withdrawn
        );
        println!("package keys:    {}", status.package_keys);
        println!(
            "newest modified: {}",
            status.newest_modified.as_deref().unwrap_or("-")
        );
        println!("stored SBOMs:    {}", status.stored_sboms);
        println!("staleness:       {}", describe(&verdict));
        println!("sources:");
        for s in &status.sources {
            println!(
                "  {:<28} {:>7} records {:>5} invalid  newest {}  imported {}",
                s.name,
                s.records,
                s.invalid,
                s.newest_modified.as_deref().unwrap_or("-"),
                s.imported_at
            );
        }
    }
    let stale = matches!(verdict, Staleness::Stale { .. });
    if stale && args.stale.on_stale == OnStale::Fail {
        anyhow::bail!("vulnerability DB {} is stale", status.path);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(s: &Staleness) -> String {
    match s {
        Staleness::Fresh { age_hours } => format!("fresh ({age_hours} h old)"),
        Staleness::Stale {
            age_hours,
            max_age_hours,
        } => {
            format!("STALE ({age_hours} h old, limit {max_age_hours} h)")
        }
        Staleness::Empty => "empty (nothing imported)".into(),
    }
}
