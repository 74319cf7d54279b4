//! Writing the stream out as JSON lines, with failures counted as losses.

use std::io::{self, Write};

use crate::stats::{Hop, Stats};
use crate::stream::{Record, kind_of};

/// Writes events (one JSON object per line) to one writer and health
/// alerts to another. A failed write is a counted `sink` loss; a closed
/// pipe is reported so the caller can stop.
pub struct JsonLines<E, H> {
    events: Option<E>,
    health: H,
}

/// Why a sink cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the event output was closed")]
    Closed(#[source] io::Error),
}

impl<E: Write, H: Write> JsonLines<E, H> {
    /// `events: None` discards events (only health alerts are written).
    pub fn new(events: Option<E>, health: H) -> Self {
        JsonLines { events, health }
    }

    pub fn write(&mut self, record: &Record, stats: &Stats) -> Result<(), SinkError> {
        match record {
            Record::Event(event) => {
                let Some(out) = self.events.as_mut() else {
                    return Ok(());
                };
                let written = serde_json::to_writer(&mut *out, event)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                match written {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(SinkError::Closed(e)),
                    Err(_) => {
                        stats.dropped(Hop::Sink, kind_of(event));
                        Ok(())
                    }
                }
            }
            Record::Health(alert) => {
                // Health goes to the operator's log; failing to write it is
                // not something the log could report.
                let _ = serde_json::to_writer(&mut self.health, alert);
                let _ = self.health.write_all(b"\n");
                let _ = self.health.flush();
                Ok(())
            }
        }
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        match self.events.as_mut().map(Write::flush) {
            Some(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Err(SinkError::Closed(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{Event, EventKind, Namespaces, Process};

    fn record() -> Record {
        Record::Event(Box::new(Event {
            seq: 1,
            ts_boot_ns: 0,
            time: time::OffsetDateTime::UNIX_EPOCH,
            process: Process::default(),
            cgroup_id: 1,
            namespaces: Namespaces::default(),
            container: None,
            kind: EventKind::Exit {
                code: 0,
                signal: None,
            },
        }))
    }

    struct Failing(io::ErrorKind);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_are_one_json_object_per_line() {
        let stats = Stats::default();
        let mut sink = JsonLines::new(Some(Vec::new()), Vec::new());
        sink.write(&record(), &stats).unwrap();
        sink.write(&record(), &stats).unwrap();
        let out = String::from_utf8(sink.events.take().unwrap()).unwrap();
        assert_eq!(out.lines().count(), 2);
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["type"], "exit");
        }
    }

    #[test]
    fn write_failures_are_counted_and_broken_pipes_stop() {
        let stats = Stats::default();
        let mut sink = JsonLines::new(Some(Failing(io::ErrorKind::Other)), Vec::new());
        sink.write(&record(), &stats).unwrap();
        assert_eq!(stats.snapshot().sink.iter().sum::<u64>(), 1);
        let mut closed = JsonLines::new(Some(Failing(io::ErrorKind::BrokenPipe)), Vec::new());
        assert!(closed.write(&record(), &stats).is_err());
    }
}
