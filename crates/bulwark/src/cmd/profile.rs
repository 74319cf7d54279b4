//! `bulwark profile list|show|diff|export|import|promote|demote`: the
//! per-workload behaviour profiles in `DATA/profiles/`. Every change is
//! recorded in the audit log before it is written.

mod edit;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bulwark_core::{Mode, WorkloadId};
use bulwark_nanoseg::ProfileStore;
use bulwark_profile::{Class, WorkloadProfile};

use super::DataDir;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// One line per workload: version, mode of each class, rule count.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// A workload's profile as YAML (or JSON).
    Show {
        workload: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Differences, as `+`/`-`/`~` lines: between two image versions of a
    /// workload (`--images FROM TO`), or from the stored profile to a file
    /// (`--file FILE`, to review an edit before importing it).
    Diff {
        workload: String,
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"], conflicts_with = "file", required_unless_present = "file")]
        images: Option<Vec<String>>,
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Profiles as a YAML stream (all of them, or those named).
    Export {
        workloads: Vec<String>,
        /// Write to FILE instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Import profiles from a YAML stream (`-` reads standard input):
    /// replace the stored ones, or merge into them with `--merge` (learning
    /// across environments). All documents are checked before any is written.
    Import {
        file: PathBuf,
        #[arg(long)]
        merge: bool,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Move classes one mode up (Discover -> Monitor -> Protect) or to `--to`.
    Promote(edit::ModeArgs),
    /// Move classes one mode down (Protect -> Monitor -> Discover) or to `--to`.
    Demote(edit::ModeArgs),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::List { json, data } => view::list(&store(&data)?, json),
        Sub::Show {
            workload,
            json,
            data,
        } => view::show(&store(&data)?, &workload_id(&workload)?, json),
        Sub::Diff {
            workload,
            images,
            file,
            json,
            data,
        } => view::diff(&store(&data)?, &workload_id(&workload)?, images, file, json),
        Sub::Export {
            workloads,
            output,
            data,
        } => view::export(&store(&data)?, &workloads, output),
        Sub::Import {
            file,
            merge,
            reason,
            data,
        } => edit::import(&data, &file, merge, reason),
        Sub::Promote(a) => edit::change_mode(a, edit::Direction::Up),
        Sub::Demote(a) => edit::change_mode(a, edit::Direction::Down),
    }
}

fn store(data: &DataDir) -> anyhow::Result<ProfileStore> {
    Ok(ProfileStore::open(&data.profiles())?)
}

fn workload_id(text: &str) -> anyhow::Result<WorkloadId> {
    WorkloadId::new(text).with_context(|| format!("workload {text:?}"))
}

/// The stored profile of `id`, or an error naming the store.
fn stored(store: &ProfileStore, id: &WorkloadId) -> anyhow::Result<WorkloadProfile> {
    match store.read(id)? {
        Some((profile, _)) => Ok(profile),
        None => anyhow::bail!(
            "no profile for workload {id} in {} (see `bulwark profile list`)",
            store.dir().display()
        ),
    }
}

/// `d/m/p` letters for a profile's four modes, in class order.
fn mode_letters(profile: &WorkloadProfile) -> Vec<(Class, Mode)> {
    Class::ALL
        .into_iter()
        .map(|c| (c, profile.spec.modes.get(c)))
        .collect()
}
