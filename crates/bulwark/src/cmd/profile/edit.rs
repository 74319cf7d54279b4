//! Profile commands that change profiles: import, promote, demote. Each
//! change is recorded in the audit log first; if that fails, nothing is
//! written.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_audit::{AuditLog, Entry};
use bulwark_core::Mode;
use bulwark_nanoseg::ProfileStore;
use bulwark_profile::{Class, Limits, ModeChange, WorkloadProfile};

use super::super::DataDir;
use super::{stored, workload_id};

#[derive(clap::Args, Debug)]
pub struct ModeArgs {
    workload: String,
    /// Only these classes (repeatable): process, file, network, capability.
    #[arg(long = "class", value_name = "CLASS")]
    classes: Vec<Class>,
    /// Go straight to this mode instead of one step.
    #[arg(long, value_enum)]
    to: Option<ModeArg>,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    Discover,
    Monitor,
    Protect,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Discover => Mode::Discover,
            ModeArg::Monitor => Mode::Monitor,
            ModeArg::Protect => Mode::Protect,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// Who is acting, as the audit log names them.
fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn open_audit(data: &DataDir) -> anyhow::Result<AuditLog> {
    Ok(AuditLog::open(
        &data.audit_log(),
        Arc::new(bulwark_core::SystemClock),
    )?)
}

pub fn change_mode(args: ModeArgs, direction: Direction) -> anyhow::Result<ExitCode> {
    let id = workload_id(&args.workload)?;
    let store = ProfileStore::open(&args.data.profiles())?;
    let audit = open_audit(&args.data)?;
    let _lock = store.lock()?;
    let mut profile = stored(&store, &id)?;
    let classes = if args.classes.is_empty() {
        Class::ALL.to_vec()
    } else {
        args.classes.clone()
    };
    let verb = if direction == Direction::Up {
        "promote"
    } else {
        "demote"
    };
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("{verb} by {}", actor()));
    let mut changes: Vec<ModeChange> = Vec::new();
    for class in &classes {
        let current = profile.spec.modes.get(*class);
        let target = match (args.to, direction) {
            (Some(to), _) => Some(Mode::from(to)),
            (None, Direction::Up) => bulwark_profile::promoted(current),
            (None, Direction::Down) => bulwark_profile::demoted(current),
        };
        let wrong_way = target.is_some_and(|t| {
            if direction == Direction::Up {
                t < current
            } else {
                t > current
            }
        });
        if wrong_way {
            anyhow::bail!(
                "cannot {verb} the {class} class of {id} from {current} to {}",
                target.map(|t| t.to_string()).unwrap_or_default()
            );
        }
        if let Some(to) = target {
            changes.extend(profile.set_mode(&[*class], to, &reason));
        }
    }
    if changes.is_empty() {
        eprintln!(
            "bulwark: {id}: nothing to {verb} (modes: {})",
            describe_modes(&profile)
        );
        return Ok(ExitCode::SUCCESS);
    }
    for change in &changes {
        let (_, entry) =
            bulwark_nanoseg::entry_for(&bulwark_profile::Change::Mode(change.clone()), &actor());
        audit
            .append(&entry)
            .context("recording the mode change (nothing was changed)")?;
    }
    store.write(&profile)?;
    for c in &changes {
        println!(
            "{id}: {} {} -> {} (profile version {})",
            c.class, c.from, c.to, c.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_modes(p: &WorkloadProfile) -> String {
    Class::ALL
        .iter()
        .map(|c| format!("{c} {}", p.spec.modes.get(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every profile in a YAML stream at `path` (`-` is standard input).
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<WorkloadProfile>> {
    let limit = bulwark_profile::MAX_DOCUMENT_BYTES as u64 + 1;
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_string(&mut text))
            .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(bulwark_profile::parse(&text, &path.display().to_string())?)
}

pub fn import(
    data: &DataDir,
    file: &PathBuf,
    merge: bool,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let incoming = read_documents(file)?;
    let store = ProfileStore::open(&data.profiles())?;
    let audit = open_audit(data)?;
    let _lock = store.lock()?;
    let mut planned = Vec::new();
    for doc in incoming {
        let old = store.read(doc.workload())?.map(|(p, _)| p);
        let new = imported(old.as_ref(), doc, merge);
        planned.push((old, new));
    }
    let actor = actor();
    for (old, new) in &planned {
        let d = old.as_ref().map(|o| bulwark_profile::diff(o, new));
        let detail = serde_json::json!({
            "source": file, "merge": merge, "version": new.metadata.version,
            "reason": reason,
            "added": d.as_ref().map_or(new.rule_count(), |d| d.added.len()),
            "removed": d.as_ref().map_or(0, |d| d.removed.len()),
            "changed": d.as_ref().map_or(0, |d| d.changed.len()),
            "modes": d.as_ref().map(|d| d.modes.clone()).unwrap_or_default(),
        });
        let entry = Entry::new(&actor, "profile.import")
            .target(new.workload().as_str())
            .detail(detail);
        audit
            .append(&entry)
            .context("recording the import (nothing was written)")?;
        store.write(new)?;
        println!(
            "{}: imported, profile version {}",
            new.workload(),
            new.metadata.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The profile to store for `doc`: merged into or replacing `old`, with a
/// version above both.
fn imported(old: Option<&WorkloadProfile>, doc: WorkloadProfile, merge: bool) -> WorkloadProfile {
    let Some(old) = old else {
        return doc;
    };
    let version = old.metadata.version.max(doc.metadata.version) + 1;
    let mut new = if merge {
        let mut base = old.clone();
        bulwark_profile::merge(&mut base, &doc, &Limits::default());
        base
    } else {
        doc
    };
    new.metadata.version = version;
    new
}
