//! Alert routing after ingest: every stored, unsilenced alert goes to the
//! sinks its matching route rules name (`bulwark_control::routing::route`).
//! Sinks are configured on the server by name (`NAME=webhook:URL`,
//! `NAME=syslog:SOCKET`, `NAME=file:PATH`) and built from `bulwark-alert`
//! (the webhook retries with exponential backoff on its own thread).
//! Delivery runs on one blocking worker thread, off the request path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use bulwark_alert::{JsonLinesSink, Sink, SyslogSink, WebhookConfig, WebhookSink};
use bulwark_control::routing::{AlertMeta, RouteRule, route};
use bulwark_core::Alert;

/// A sink as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    Webhook(String),
    Syslog(PathBuf),
    File(PathBuf),
}

/// Parses `NAME=KIND:TARGET`.
pub fn parse_sink(text: &str) -> Result<(String, SinkSpec), String> {
    let (name, spec) = text.split_once('=').ok_or_else(|| {
        format!("sink {text:?}: expected NAME=webhook:URL, NAME=syslog:SOCKET or NAME=file:PATH")
    })?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "sink name {name:?}: 1 to 64 letters, digits, '-' or '_'"
        ));
    }
    let spec = match spec.split_once(':') {
        Some(("webhook", url)) => SinkSpec::Webhook(url.to_owned()),
        Some(("syslog", path)) if !path.is_empty() => SinkSpec::Syslog(PathBuf::from(path)),
        Some(("file", path)) if !path.is_empty() => SinkSpec::File(PathBuf::from(path)),
        _ => {
            return Err(format!(
                "sink {name}: {spec:?} is not webhook:URL, syslog:SOCKET or file:PATH"
            ));
        }
    };
    Ok((name.to_owned(), spec))
}

fn build(spec: &SinkSpec) -> Result<Box<dyn Sink>, bulwark_alert::SinkError> {
    Ok(match spec {
        SinkSpec::Webhook(url) => Box::new(WebhookSink::start(WebhookConfig::new(url.clone()))?),
        SinkSpec::Syslog(path) => Box::new(SyslogSink::connect(path)?),
        SinkSpec::File(path) => Box::new(JsonLinesSink::file(path)?),
    })
}

/// One batch to deliver: alerts with the rules in force.
struct Batch {
    alerts: Vec<Alert>,
    rules: Vec<RouteRule>,
}

/// Hands batches to the delivery thread.
#[derive(Debug)]
pub struct Dispatcher {
    tx: Option<SyncSender<Batch>>,
}

/// Counts kept by the delivery thread's caller.
pub type FailureCounter = std::sync::Arc<std::sync::atomic::AtomicU64>;

impl Dispatcher {
    /// Builds every sink (failing on the first unusable one) and starts the
    /// delivery thread. No sinks: no thread.
    pub fn start(
        specs: &BTreeMap<String, SinkSpec>,
        failures: FailureCounter,
    ) -> Result<Dispatcher, String> {
        if specs.is_empty() {
            return Ok(Dispatcher { tx: None });
        }
        let mut sinks = BTreeMap::new();
        for (name, spec) in specs {
            let sink = build(spec).map_err(|e| format!("sink {name}: {e}"))?;
            sinks.insert(name.clone(), sink);
        }
        let (tx, rx) = sync_channel(1024);
        std::thread::Builder::new()
            .name("alert-dispatch".into())
            .spawn(move || deliver(rx, sinks, failures))
            .map_err(|e| format!("starting the alert dispatcher: {e}"))?;
        Ok(Dispatcher { tx: Some(tx) })
    }

    /// Queues alerts for delivery; false if the queue is full (counted as
    /// failures by the caller).
    pub fn send(&self, alerts: Vec<Alert>, rules: Vec<RouteRule>) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        match tx.try_send(Batch { alerts, rules }) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }
}

fn deliver(
    rx: Receiver<Batch>,
    mut sinks: BTreeMap<String, Box<dyn Sink>>,
    failures: FailureCounter,
) {
    while let Ok(batch) = rx.recv() {
        for alert in &batch.alerts {
            let meta = AlertMeta::of(alert);
            for name in route(&batch.rules, &meta) {
                let Some(sink) = sinks.get_mut(name) else {
                    continue;
                };
                if let Err(e) = sink.send(alert) {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(sink = name, error = %e, "alert delivery failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs_parse_and_bad_ones_name_the_problem() {
        assert_eq!(
            parse_sink("ops=webhook:https://h/x").ok(),
            Some(("ops".into(), SinkSpec::Webhook("https://h/x".into())))
        );
        assert_eq!(
            parse_sink("log=file:/var/log/a.json").ok(),
            Some(("log".into(), SinkSpec::File("/var/log/a.json".into())))
        );
        assert!(parse_sink("nothing").is_err_and(|e| e.contains("NAME=")));
        assert!(parse_sink("a b=file:/x").is_err_and(|e| e.contains("sink name")));
        assert!(parse_sink("x=smtp:me@h").is_err_and(|e| e.contains("not webhook")));
        assert!(parse_sink("x=file:").is_err());
    }
}
