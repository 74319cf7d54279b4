//! Replaying a recorded JSON-lines event stream (`bulwark agent --events`
//! output) through the same [`EventStream`] consumers use live: for offline
//! analysis and for tests without root.
//!
//! The recording is untrusted input: every line must be one valid event,
//! lines are at most [`MAX_LINE`] bytes, sequence numbers must increase
//! (gaps are losses the recording agent had, reported as health alerts with
//! hop `recorded`); the first bad line stops the replay with an error naming
//! the file and line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use bulwark_core::{Event, Severity};

use crate::stats::{Hop, Stats};
use crate::stream::{self, Backpressure, EventStream, Feed};

/// Longest line accepted.
pub const MAX_LINE: usize = 1 << 20;

/// Why a replay stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: line {line}")]
    Read {
        path: PathBuf,
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path}: line {line}: not a valid event")]
    Parse {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: line {line}: longer than {MAX_LINE} bytes")]
    TooLong { path: PathBuf, line: u64 },
    #[error("{path}: line {line}: sequence number {seq} does not follow {previous}")]
    Sequence {
        path: PathBuf,
        line: u64,
        seq: u64,
        previous: u64,
    },
    #[error("starting the replay thread")]
    Thread(#[source] io::Error),
    #[error("the replay thread panicked")]
    Panicked,
}

/// What a finished replay read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub events: u64,
    /// Events missing from the recording, from sequence number gaps.
    pub missing: u64,
}

/// A replay in progress; [`Replay::finish`] says how it ended.
pub struct Replay {
    reader: Option<JoinHandle<Result<ReplaySummary, ReplayError>>>,
}

impl Replay {
    /// Replays `path` (`-` for standard input) into a stream holding at most
    /// `capacity` records; the reader waits for the consumer.
    pub fn start(path: &Path, capacity: usize) -> Result<(Replay, EventStream), ReplayError> {
        let input: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|source| ReplayError::Open {
                path: path.to_owned(),
                source,
            })?)
        };
        let stats = Arc::new(Stats::default());
        let (feed, stream) = Feed::new(capacity, stats, Backpressure::Block);
        let path = path.to_owned();
        let reader = std::thread::Builder::new()
            .name("bulwark-replay".into())
            .spawn(move || run(BufReader::new(input), &path, feed))
            .map_err(ReplayError::Thread)?;
        Ok((
            Replay {
                reader: Some(reader),
            },
            stream,
        ))
    }

    /// Waits for the reader (call after the stream ended).
    pub fn finish(mut self) -> Result<ReplaySummary, ReplayError> {
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ReplayError::Panicked),
            None => Ok(ReplaySummary::default()),
        }
    }
}

fn run(mut input: impl BufRead, path: &Path, mut feed: Feed) -> Result<ReplaySummary, ReplayError> {
    let mut summary = ReplaySummary::default();
    let mut previous: Option<u64> = None;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let before = feed.stats().snapshot();
    loop {
        line_no += 1;
        buf.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| ReplayError::Read {
                path: path.to_owned(),
                line: line_no,
                source,
            })?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            return Err(ReplayError::TooLong {
                path: path.to_owned(),
                line: line_no,
            });
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event: Event = serde_json::from_slice(&buf).map_err(|source| ReplayError::Parse {
            path: path.to_owned(),
            line: line_no,
            source,
        })?;
        if let Some(prev) = previous {
            if event.seq <= prev {
                return Err(ReplayError::Sequence {
                    path: path.to_owned(),
                    line: line_no,
                    seq: event.seq,
                    previous: prev,
                });
            }
            let gap = event.seq - prev - 1;
            feed.stats().dropped_n(Hop::Recorded, 0, gap);
            summary.missing += gap;
        }
        previous = Some(event.seq);
        let kind = stream::kind_of(&event);
        feed.stats().emitted(kind);
        summary.events += 1;
        if feed.event(Box::new(event), kind).is_err() {
            return Ok(summary); // the consumer stopped reading
        }
    }
    let now = feed.stats().snapshot();
    let alert = stream::loss_alert(&now, &before, time::OffsetDateTime::now_utc()).map(|mut a| {
        a.severity = Severity::Medium;
        a.id = "replay-recording-gaps".into();
        a
    });
    let _ = feed.health(alert);
    Ok(summary)
}
