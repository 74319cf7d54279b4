//! `bulwark findings --since T`: new and resolved findings as JSON lines.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use bulwark_vulndb::store::Store;
use bulwark_vulndb::time_fmt;

use super::DataDir;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Only events at or after this time: RFC 3339 (`2024-05-01T00:00:00Z`)
    /// or an age (`30m`, `24h`, `7d`). Default: all.
    #[arg(long)]
    since: Option<String>,
}

/// `30m`, `24h`, `7d` -> duration.
fn parse_age(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

fn since(arg: Option<&str>) -> anyhow::Result<String> {
    let Some(s) = arg else {
        return Ok(String::new());
    };
    if let Some(t) = time_fmt::parse(s) {
        return Ok(time_fmt::format(t.into()));
    }
    if let Some(age) = parse_age(s) {
        let t = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(time_fmt::format(t));
    }
    anyhow::bail!(
        "--since {s:?}: expected an RFC 3339 time (2024-05-01T00:00:00Z) or an age (30m, 24h, 7d)"
    )
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let since = since(args.since.as_deref())?;
    let store = Store::open_existing(&args.data.vulndb())?;
    for event in store.events_since(&since)? {
        println!("{}", serde_json::to_string(&event)?);
    }
    Ok(ExitCode::SUCCESS)
}
