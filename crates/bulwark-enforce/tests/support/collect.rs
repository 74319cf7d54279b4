//! A denial sink that keeps everything, for assertions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_core::Alert;
use bulwark_enforce::denial::{Denial, DenialSink};

#[derive(Default)]
pub struct Collect {
    denials: Mutex<Vec<Denial>>,
    health: Mutex<Vec<Alert>>,
}

impl DenialSink for Collect {
    fn record(&self, denial: &Denial) {
        self.denials.lock().unwrap().push(denial.clone());
    }
    fn health(&self, alert: &Alert) {
        self.health.lock().unwrap().push(alert.clone());
    }
    fn start_refused(&self, refusal: &bulwark_enforce::denial::StartRefusal) {
        self.health.lock().unwrap().push(refusal.to_alert());
    }
}

impl Collect {
    pub fn denials(&self) -> Vec<Denial> {
        self.denials.lock().unwrap().clone()
    }

    #[allow(dead_code)]
    pub fn health_alerts(&self) -> Vec<Alert> {
        self.health.lock().unwrap().clone()
    }

    /// Denials whose action contains `needle`.
    pub fn matching(&self, needle: &str) -> Vec<Denial> {
        self.denials()
            .into_iter()
            .filter(|d| d.action.contains(needle))
            .collect()
    }

    /// Wait (up to 5 s) until `n` denials match `needle` (network refusals
    /// are reported after the kernel answered), then a little longer to
    /// catch duplicates.
    pub fn wait_matching(&self, needle: &str, n: usize) -> Vec<Denial> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.matching(needle).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        self.matching(needle)
    }
}
