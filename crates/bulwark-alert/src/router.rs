//! Alerts through the throttle to every sink.

use bulwark_core::Alert;

use crate::sink::Sink;
use crate::throttle::{Throttle, ThrottleStats};

/// Counters of a router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    pub throttle: ThrottleStats,
    /// Alerts handed to sinks.
    pub sent: u64,
    /// Deliveries a sink refused (one alert can fail in several sinks).
    pub sink_errors: u64,
}

pub struct Router {
    throttle: Throttle,
    sinks: Vec<Box<dyn Sink>>,
    sent: u64,
    sink_errors: u64,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sinks.iter().map(|s| s.name()).collect();
        f.debug_struct("Router").field("sinks", &names).finish()
    }
}

impl Router {
    pub fn new(throttle: Throttle, sinks: Vec<Box<dyn Sink>>) -> Router {
        Router {
            throttle,
            sinks,
            sent: 0,
            sink_errors: 0,
        }
    }

    /// Offers one alert; it goes out now, later (folded), or is counted.
    pub fn send(&mut self, alert: Alert) {
        if let Some(alert) = self.throttle.offer(alert) {
            self.emit(&alert);
        }
    }

    /// Sends what the throttle has due; call about once a second.
    pub fn tick(&mut self) {
        for alert in self.throttle.tick() {
            self.emit(&alert);
        }
    }

    pub fn stats(&self) -> RouterStats {
        RouterStats {
            throttle: self.throttle.stats(),
            sent: self.sent,
            sink_errors: self.sink_errors,
        }
    }

    fn emit(&mut self, alert: &Alert) {
        self.sent += 1;
        for sink in &mut self.sinks {
            if let Err(e) = sink.send(alert) {
                self.sink_errors += 1;
                tracing::warn!(sink = sink.name(), error = %e, "alert not delivered");
            }
        }
    }
}
