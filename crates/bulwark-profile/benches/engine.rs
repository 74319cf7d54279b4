//! Engine cost per event, as a ratio to decoding the same event from its
//! JSON line (the work every consumer of `bulwark agent --events` or
//! `bulwark replay` does anyway). `cargo bench -p bulwark-profile`.
//!
//! Cases: a learned workload in Monitor replaying its own behaviour (the
//! steady state), the same events in Discover while learning, and detection
//! alone.

#![allow(clippy::panic, reason = "a benchmark aborts on setup errors")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bulwark_core::{Event, ManualClock, Mode};
use bulwark_profile::testutil::{T0, open, web_round};
use bulwark_profile::{Class, Config, Engine, NoFacts};

/// One round of a web server, a shell it starts and a client: fresh pids.
fn round(base: u32) -> Vec<Event> {
    let mut events = web_round(base);
    events.push(open(
        base + 1,
        &format!("/proc/{}/stat", base + 1),
        true,
        false,
    ));
    events.push(open(base + 2, "/etc/resolv.conf", true, false));
    events.push(open(base, "/var/log/httpd.log", false, true));
    events
}

fn events(rounds: u32) -> Vec<Event> {
    (0..rounds).flat_map(|r| round(1000 + r * 10)).collect()
}

/// Median nanoseconds per item over `runs` runs of `f` on `n` items.
fn per_item(runs: usize, n: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn engine(clock: &Arc<ManualClock>) -> Engine {
    Engine::new(Config::default(), clock.clone())
}

fn main() {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 as u64),
    ));
    let evs = events(200);
    let lines: Vec<String> = evs
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect();
    let n = evs.len();

    let decode = per_item(15, n, || {
        for l in &lines {
            let e: Event = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}"));
            black_box(e);
        }
    });

    let mut learned = engine(&clock);
    for e in &evs {
        let _ = learned.observe(e, &NoFacts);
    }
    let mut p = learned
        .profiles()
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("no profile"));
    p.set_mode(&Class::ALL, Mode::Monitor, "bench");
    learned.load(p);
    let monitor = per_item(15, n, || {
        for e in &evs {
            let out = learned.observe(e, &NoFacts);
            assert!(out.alerts.is_empty());
            black_box(out);
        }
    });

    let discover = per_item(15, n, || {
        let mut fresh = engine(&clock);
        for e in &evs {
            black_box(fresh.observe(e, &NoFacts));
        }
    });

    let table = bulwark_profile::detect::Context::default();
    let detect = per_item(15, n, || {
        for e in &evs {
            black_box(bulwark_profile::detect::detect(e, &table));
        }
    });

    println!("events per run: {n}");
    println!("baseline  decode JSON line      {decode:>9.0} ns/event  1.00x");
    for (name, ns) in [
        ("engine    monitor (steady)  ", monitor),
        ("engine    discover (learn)  ", discover),
        ("detect    rules only        ", detect),
    ] {
        println!("{name}  {ns:>9.0} ns/event  {:.2}x", ns / decode);
    }
}
