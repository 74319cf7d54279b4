//! Replaying recorded event streams: lossless for good input, a clear error
//! naming file and line for bad input, gaps reported as losses. No root.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::io::Write;
use std::path::Path;

use bulwark_core::{ContainerId, ContainerRef, Event, EventKind, ExecVia, Namespaces, Process};
use bulwark_sensor::{Hop, Record, Replay, ReplayError, ReplaySummary};

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        ts_boot_ns: 1_000 + seq,
        time: time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        process: Process {
            pid: 10,
            tgid: 10,
            ppid: 1,
            uid: 0,
            gid: 0,
            comm: "sh".into(),
            exe: Some("/bin/busybox".into()),
        },
        cgroup_id: 4242,
        namespaces: Namespaces {
            mnt: 1,
            pid: 2,
            net: 3,
        },
        container: Some(ContainerRef {
            id: ContainerId::new("web-1").unwrap(),
            runtime: "runc".into(),
            image: Some("registry.test/web:1".into()),
            image_digest: None,
            workload: None,
            pod_namespace: None,
            pod_name: None,
        }),
        kind,
    }
}

fn sample() -> Vec<Event> {
    vec![
        event(
            1,
            EventKind::Exec {
                exe: "/bin/busybox".into(),
                filename: "/bin/sh".into(),
                argv: vec!["sh".into(), "-c".into(), "true".into()],
                cwd: "/".into(),
                exe_inode: 7,
                exe_dev: 2049,
                via: ExecVia::Execve,
                stdio: None,
            },
        ),
        event(
            2,
            EventKind::Fork {
                child_pid: 11,
                child_tgid: 11,
            },
        ),
        event(
            3,
            EventKind::Exit {
                code: 0,
                signal: None,
            },
        ),
    ]
}

/// The error and its causes, as `bulwark` prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn write_lines(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f
}

fn json(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

fn replay(
    path: &Path,
) -> (
    Vec<Record>,
    Result<ReplaySummary, ReplayError>,
    bulwark_sensor::LossSnapshot,
) {
    let (handle, stream) = Replay::start(path, 2).unwrap();
    let stats = std::sync::Arc::clone(stream.stats());
    let records: Vec<Record> = stream.collect();
    (records, handle.finish(), stats.snapshot())
}

#[test]
fn recorded_events_come_back_identical_and_in_order() {
    let file = write_lines(&json(&sample()));
    let (records, summary, stats) = replay(file.path());
    let events: Vec<Event> = records
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(*e),
            Record::Health(_) => None,
        })
        .collect();
    assert_eq!(events, sample());
    assert_eq!(
        summary.unwrap(),
        ReplaySummary {
            events: 3,
            missing: 0
        }
    );
    assert_eq!(stats.unaccounted(), 0);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn blank_lines_are_skipped() {
    let mut lines = json(&sample());
    lines.insert(1, String::new());
    lines.push("   ".into());
    let (_, summary, _) = replay(write_lines(&lines).path());
    assert_eq!(summary.unwrap().events, 3);
}

#[test]
fn malformed_line_stops_with_file_and_line() {
    let mut lines = json(&sample());
    lines[2] = "{\"seq\": 3, \"type\": \"exit\"".into();
    let file = write_lines(&lines);
    let (records, summary, _) = replay(file.path());
    assert_eq!(records.len(), 2, "the good lines before it were delivered");
    let msg = chain(&summary.unwrap_err());
    assert!(
        msg.starts_with(&format!(
            "{}: line 3: not a valid event",
            file.path().display()
        )),
        "{msg}"
    );
}

#[test]
fn forged_container_id_with_a_path_separator_is_rejected() {
    let mut lines = json(&sample());
    lines[0] = lines[0].replace("\"web-1\"", "\"../../etc\"");
    let (_, summary, _) = replay(write_lines(&lines).path());
    let msg = chain(&summary.unwrap_err());
    assert!(
        msg.contains("line 1") && msg.contains("forbidden character"),
        "{msg}"
    );
}

#[test]
fn sequence_gaps_are_reported_as_recorded_losses() {
    let mut events = sample();
    events[2].seq = 6; // 3, 4 and 5 are missing
    let (records, summary, stats) = replay(write_lines(&json(&events)).path());
    assert_eq!(
        summary.unwrap(),
        ReplaySummary {
            events: 3,
            missing: 3
        }
    );
    assert_eq!(stats.per_hop(Hop::Recorded).iter().sum::<u64>(), 3);
    let health: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Health(a) => Some(a),
            Record::Event(_) => None,
        })
        .collect();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].count, 3);
    assert!(
        health[0].message.contains("recorded"),
        "{}",
        health[0].message
    );
}

#[test]
fn sequence_going_backwards_is_an_error() {
    let mut events = sample();
    events[2].seq = 2;
    let (_, summary, _) = replay(write_lines(&json(&events)).path());
    assert!(matches!(
        summary,
        Err(ReplayError::Sequence {
            line: 3,
            seq: 2,
            previous: 2,
            ..
        })
    ));
}

#[test]
fn overlong_line_is_refused_without_reading_it_all() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&vec![b'x'; bulwark_sensor::MAX_LINE + 10])
        .unwrap();
    let (_, summary, _) = replay(f.path());
    assert!(matches!(summary, Err(ReplayError::TooLong { line: 1, .. })));
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let err = Replay::start(Path::new("/nonexistent/recording.jsonl"), 2)
        .err()
        .unwrap();
    assert_eq!(
        chain(&err),
        "/nonexistent/recording.jsonl: No such file or directory (os error 2)"
    );
}
