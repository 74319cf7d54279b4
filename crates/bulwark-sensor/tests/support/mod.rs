//! Shared by the sensor's integration tests: starting a sensor that sees
//! only this test's containers, collecting what it reported, and the static
//! `actions` helper (tests/support/actions.c) for syscalls busybox lacks.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "shared test helpers fail the test by panicking; not every test uses every helper"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bulwark_core::{Alert, Event};
use bulwark_sensor::{EventStream, Filter, LossSnapshot, Record, Sensor, SensorConfig};

/// Only watched cgroups: other helpers' containers, running at the same
/// time, never show up, and counts are exact.
pub fn watched_only() -> SensorConfig {
    SensorConfig {
        filter: Filter::Watched,
        ..SensorConfig::default()
    }
}

pub fn start(cfg: SensorConfig) -> (Sensor, EventStream) {
    Sensor::start(cfg).unwrap_or_else(|e| panic!("starting the sensor: {e}"))
}

/// Everything the sensor reported, read while it stops (so that its final
/// loss report always finds room), and its final accounting.
pub struct Collected {
    pub events: Vec<Event>,
    pub health: Vec<Alert>,
    pub stats: LossSnapshot,
}

impl Collected {
    pub fn of_container(&self, id: &str) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.container.as_ref().is_some_and(|c| c.id.as_str() == id))
            .collect()
    }
}

pub fn stop_and_collect(sensor: Sensor, stream: EventStream) -> Collected {
    let stats = std::sync::Arc::clone(stream.stats());
    let stopper = std::thread::spawn(move || sensor.stop());
    let (mut events, mut health) = (Vec::new(), Vec::new());
    for record in stream {
        match record {
            Record::Event(e) => events.push(*e),
            Record::Health(a) => health.push(*a),
        }
    }
    stopper.join().unwrap().unwrap();
    Collected {
        events,
        health,
        stats: stats.snapshot(),
    }
}

/// Gives the kernel a moment to hand over the last records before stopping
/// (stopping drains anyway; this keeps timing out of the assertions).
pub fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

/// The static `actions` binary, built once per source version under the
/// cargo target directory.
pub fn actions() -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/actions.c");
    let text = std::fs::read(src).unwrap();
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join(format!("sensor-actions-{hash:016x}"));
    if out.exists() {
        return out;
    }
    let tmp = dir.join(format!("sensor-actions-{hash:016x}.{}", std::process::id()));
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&tmp)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("gcc is needed (Debian package build-essential): {e}"));
    assert!(
        status.success(),
        "gcc -static failed for {src} (is libc6-dev installed?)"
    );
    std::fs::rename(&tmp, &out).unwrap();
    out
}
