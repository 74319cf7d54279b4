//! Prometheus metrics, kept in memory and rendered in the text exposition
//! format by `GET /metrics`: API requests by route and status, their
//! latency histogram, agent reports and alerts ingested, audit and
//! authentication failures. Gauges that come from storage (nodes, stale
//! nodes) are read at scrape time by the handler.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub reports: AtomicU64,
    pub reports_duplicate: AtomicU64,
    pub alerts_ingested: AtomicU64,
    pub audit_failures: AtomicU64,
    pub auth_failures: AtomicU64,
    pub auth_throttled: AtomicU64,
    pub agent_streams: AtomicU64,
    pub sink_failures: Arc<AtomicU64>,
    pub mtls_refused: AtomicU64,
}

fn inc(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Counts one finished request on `route` (the route template, never
    /// the raw path: ids would make the series unbounded).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        let secs = took.as_secs_f64();
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_owned()).or_default();
            h.total += 1;
            h.sum += secs;
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
        }
    }

    pub fn add(&self, which: fn(&Metrics) -> &AtomicU64, n: u64) {
        inc(which(self), n);
    }

    /// The exposition text; `gauges` are (name, help, value) read by the
    /// caller at scrape time.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        let counters: [(&str, &str, &AtomicU64); 9] = [
            (
                "bulwark_agent_reports_total",
                "Agent reports stored.",
                &self.reports,
            ),
            (
                "bulwark_agent_reports_duplicate_total",
                "Agent reports resent and ignored.",
                &self.reports_duplicate,
            ),
            (
                "bulwark_alerts_ingested_total",
                "Alerts stored from agent reports.",
                &self.alerts_ingested,
            ),
            (
                "bulwark_audit_failures_total",
                "Requests refused because the audit log could not be written.",
                &self.audit_failures,
            ),
            (
                "bulwark_auth_failures_total",
                "Failed authentications.",
                &self.auth_failures,
            ),
            (
                "bulwark_auth_throttled_total",
                "Authentications refused by the rate limit.",
                &self.auth_throttled,
            ),
            (
                "bulwark_agent_streams_opened_total",
                "Update streams opened by agents.",
                &self.agent_streams,
            ),
            (
                "bulwark_sink_failures_total",
                "Alert deliveries that failed after retries.",
                &*self.sink_failures,
            ),
            (
                "bulwark_mtls_refused_total",
                "mTLS connections refused before any request (failed handshake, no or \
                 untrusted client certificate, not an X.509-SVID of the trust domain).",
                &self.mtls_refused,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP bulwark_api_requests_total API requests by route and status.\n# TYPE bulwark_api_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "bulwark_api_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        let name = "bulwark_api_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} API request latency by route.\n# TYPE {name} histogram"
        );
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                let route = escape(route);
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.total
                );
                let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.total);
            }
        }
    }
}

/// Label values: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges_in_exposition_format() {
        let m = Metrics::default();
        m.request("GET", "/api/v1/alerts", 200, Duration::from_millis(3));
        m.request("GET", "/api/v1/alerts", 200, Duration::from_millis(300));
        m.add(|m| &m.alerts_ingested, 5);
        let text = m.render(&[("bulwark_nodes_stale", "Stale nodes.", 2)]);
        assert!(text.contains(
            "bulwark_api_requests_total{method=\"GET\",route=\"/api/v1/alerts\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "bulwark_api_request_duration_seconds_bucket{route=\"/api/v1/alerts\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "bulwark_api_request_duration_seconds_bucket{route=\"/api/v1/alerts\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("bulwark_alerts_ingested_total 5"));
        assert!(text.contains("# TYPE bulwark_nodes_stale gauge\nbulwark_nodes_stale 2"));
    }

    #[test]
    fn label_values_cannot_break_the_line() {
        assert_eq!(escape("a\"b\nc\\"), "a\\\"b\\nc\\\\");
    }
}
