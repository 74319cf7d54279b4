//! The loss invariant under a saturating load: a one-page ring buffer and a
//! four-record queue nobody reads while a container opens a file 20,000
//! times from more shell loops than there are cores (one loop on an idle
//! core is slower than the reader, so the ring would never fill). Losses must happen at both hops, every one counted, reported in
//! health alerts whose counts add up, and `emitted == delivered + dropped`
//! exactly once drained (the model is aya's ring_buf drop test). And the
//! priority lane: the same flood, with execs in between, loses opens but
//! not one exec, fork or exit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod support;

use bulwark_core::EventKind;
use bulwark_sensor::wire::ev;
use bulwark_sensor::{Hop, SensorConfig};
use bulwark_testkit::Container;
use support::{Collected, start, stop_and_collect, watched_only};

const OPENS: u64 = 20_000;

/// Enough concurrent loops to keep every core busy, so the reader thread is
/// regularly descheduled long enough for the one-page ring to fill.
fn loops() -> u64 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    2 * cores + 2
}

/// A shell script running `loops()` copies of `body` in parallel, each
/// `OPENS / loops()` times with `$i` as its counter, and waiting for all.
fn parallel(body: &str) -> String {
    let n = loops();
    let each = OPENS / n;
    let one = format!("i=0; while [ $i -lt {each} ]; do {body} i=$((i+1)); done");
    let all: Vec<String> = (0..n).map(|_| format!("( {one} ) &")).collect();
    format!("{} wait", all.join(" "))
}

/// Runs `script` in a watched container while the consumer reads nothing,
/// then stops the sensor and collects everything.
fn flood(cfg: SensorConfig, name: &str, script: &str) -> Collected {
    let (sensor, stream) = start(cfg);
    let mut c = Container::builder(name)
        .args(["sh", "-c", script])
        .create()
        .unwrap();
    sensor.watch_cgroup(c.cgroup_v2_id().unwrap()).unwrap();
    c.start().unwrap();
    assert!(
        c.wait(std::time::Duration::from_secs(120))
            .unwrap()
            .success()
    );
    stop_and_collect(sensor, stream)
}

#[test]
fn every_event_is_delivered_or_counted_under_saturation() {
    let cfg = SensorConfig {
        ring_bytes: 4096,
        queue_capacity: 4,
        ..watched_only()
    };
    let got = flood(cfg, "saturate", &parallel(": < /etc/passwd;"));
    let s = &got.stats;
    let open = usize::from(ev::OPEN);

    assert!(
        s.emitted[open] >= OPENS / loops() * loops(),
        "the kernel saw {} opens",
        s.emitted[open]
    );
    assert!(
        s.kernel_ringbuf[open] > 0,
        "the ring buffer never overflowed: {s:?}"
    );
    assert!(s.queue[open] > 0, "the queue never overflowed: {s:?}");
    assert_eq!(s.unaccounted(), 0, "{s:?}");

    let received = got
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Open { .. }))
        .count() as u64;
    assert_eq!(
        received, s.delivered[open],
        "what the consumer got is what was counted delivered"
    );

    let reported: u64 = got
        .health
        .iter()
        .filter(|a| a.id == "sensor-events-lost")
        .map(|a| a.count)
        .sum();
    let lost = s.dropped_total();
    assert_eq!(reported, lost, "health alerts must add up to every loss");
    let last = got
        .health
        .iter()
        .rev()
        .find(|a| a.id == "sensor-events-lost")
        .unwrap();
    assert!(
        last.message.contains(Hop::KernelRingbuf.as_str())
            || last.message.contains(Hop::Queue.as_str())
    );
}

#[test]
fn execs_amid_an_open_flood_that_overflows_the_bulk_lane_are_all_delivered() {
    // Bulk lane: a one-page ring. Queue: 1024 records, nobody reading until
    // the load is over, so opens overflow both hops; the priority lane has
    // its own 1 MiB ring and the queue's last 256 places.
    let cfg = SensorConfig {
        ring_bytes: 4096,
        queue_capacity: 1024,
        ..watched_only()
    };
    let script = parallel(
        ": < /etc/passwd; if [ $((i % 500)) -eq 0 ]; then /bin/busybox true lane-marker; fi;",
    );
    let got = flood(cfg, "lanes", &script);
    let s = &got.stats;
    let open = usize::from(ev::OPEN);
    assert!(s.kernel_ringbuf[open] > 0, "no ring overflow: {s:?}");
    assert!(s.queue[open] > 0, "no queue overflow: {s:?}");
    for kind in [ev::EXEC, ev::FORK, ev::EXIT] {
        let k = usize::from(kind);
        assert!(s.emitted[k] > 0, "{}: {s:?}", ev::name(kind));
        assert_eq!(
            (s.kernel_ringbuf[k], s.queue[k], s.decode[k]),
            (0, 0, 0),
            "{} lost: {s:?}",
            ev::name(kind)
        );
        assert_eq!(s.delivered[k], s.emitted[k], "{}: {s:?}", ev::name(kind));
    }
    assert_eq!(s.unaccounted(), 0, "{s:?}");
    let markers = got
        .events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Exec { argv, .. } if argv.iter().any(|a| a == "lane-marker"))
        })
        .count() as u64;
    let per_loop = (OPENS / loops()).div_ceil(500);
    assert_eq!(markers, per_loop * loops(), "every marker exec arrived");
}
