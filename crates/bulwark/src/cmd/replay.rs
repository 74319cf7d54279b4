//! `bulwark replay FILE`: feed a recorded JSON-lines event stream (the
//! output of `bulwark agent --events`) through the sensor's stream, printing
//! the events as JSON lines and health alerts on stderr. With `--profiles`,
//! the events go through the learning and detection stage instead and the
//! alerts are printed.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bulwark_sensor::{JsonLines, Replay};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The recording (`-` reads standard input).
    file: PathBuf,
    /// Records in flight between the reader and the output.
    #[arg(long, value_name = "RECORDS", default_value_t = 4096)]
    queue: usize,
    #[command(flatten)]
    nanoseg: super::nanoseg::ProfilesArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut profiles = args.nanoseg.start(None, None)?;
    let (replay, stream) = Replay::start(&args.file, args.queue)?;
    let stats = Arc::clone(stream.stats());
    let stdout = std::io::stdout();
    let events = profiles.is_none().then(|| BufWriter::new(stdout.lock()));
    let mut sink = JsonLines::new(events, std::io::stderr());
    for record in stream {
        if let Some(p) = profiles.as_mut() {
            p.record(&record);
        }
        if sink.write(&record, &stats).is_err() {
            break;
        }
    }
    sink.flush().context("writing the events")?;
    if let Some(p) = profiles {
        let s = p.finish()?;
        eprintln!(
            "bulwark: profiles: {} events, {} alerts, {} changes audited",
            s.events, s.alerts, s.changes
        );
    }
    let summary = replay.finish()?;
    eprintln!(
        "bulwark: replayed {} events ({} missing from the recording)",
        summary.events, summary.missing
    );
    Ok(ExitCode::SUCCESS)
}
