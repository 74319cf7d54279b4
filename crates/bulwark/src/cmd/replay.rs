//! `bulwark replay FILE`: feed a recorded JSON-lines event stream (the
//! output of `bulwark agent --events`) through the sensor's stream, printing
//! the events as JSON lines and health alerts on stderr.

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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (replay, stream) = Replay::start(&args.file, args.queue)?;
    let stats = Arc::clone(stream.stats());
    let stdout = std::io::stdout();
    let mut sink = JsonLines::new(Some(BufWriter::new(stdout.lock())), std::io::stderr());
    for record in stream {
        if sink.write(&record, &stats).is_err() {
            break;
        }
    }
    sink.flush().context("writing the events")?;
    let summary = replay.finish()?;
    eprintln!(
        "bulwark: replayed {} events ({} missing from the recording)",
        summary.events, summary.missing
    );
    Ok(ExitCode::SUCCESS)
}
