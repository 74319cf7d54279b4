//! HTTP webhook: each alert is POSTed as JSON from a background thread, with
//! retry and exponential backoff on connection errors, 429 and 5xx. A full
//! queue drops the alert and counts it; nothing blocks the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use bulwark_core::Alert;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use crate::error::SinkError;
use crate::sink::Sink;

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Per attempt, connect to response.
    pub timeout: Duration,
    /// Attempts per alert, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Alerts waiting for delivery before new ones are dropped.
    pub queue: usize,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub bearer_token: Option<String>,
    /// PEM roots to trust instead of the built-in web PKI roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            queue: 1024,
            bearer_token: None,
            ca_pem: None,
        }
    }
}

/// Delivery counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub delivered: u64,
    /// Attempts that failed and were retried.
    pub retried: u64,
    /// Alerts given up on after the last attempt (or refused with a 4xx).
    pub failed: u64,
    /// Alerts dropped because the queue was full or the sink was closing.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

pub struct WebhookSink {
    url: String,
    tx: Option<SyncSender<String>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    closing: Arc<AtomicBool>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url)
            .finish()
    }
}

impl WebhookSink {
    /// Checks the configuration and starts the delivery thread.
    pub fn start(config: WebhookConfig) -> Result<WebhookSink, SinkError> {
        let bad = |problem: String| SinkError::Webhook {
            url: config.url.clone(),
            problem,
        };
        let uri: ureq::http::Uri = config
            .url
            .parse()
            .map_err(|e| bad(format!("not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad("expected an http:// or https:// URL with a host".into()));
        }
        let agent = agent(&config).map_err(bad)?;
        let (tx, rx) = sync_channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let closing = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            agent,
            config: config.clone(),
            counters: Arc::clone(&counters),
            closing: Arc::clone(&closing),
        };
        let handle = std::thread::Builder::new()
            .name("alert-webhook".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| bad(format!("cannot start delivery thread: {e}")))?;
        Ok(WebhookSink {
            url: config.url,
            tx: Some(tx),
            worker: Some(handle),
            counters,
            closing,
        })
    }

    pub fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        WebhookStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops taking alerts and lets the queue drain, retries included, for
    /// up to `grace`; after that, remaining alerts get one attempt each.
    pub fn close(mut self, grace: Duration) -> WebhookStats {
        self.shut_down(grace);
        self.stats()
    }

    fn shut_down(&mut self, grace: Duration) {
        self.tx = None;
        let Some(worker) = self.worker.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + grace;
        while !worker.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.closing.store(true, Ordering::Relaxed);
        let _ = worker.join();
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.shut_down(Duration::ZERO);
    }
}

fn agent(config: &WebhookConfig) -> Result<ureq::Agent, String> {
    let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(crypto);
    if let Some(pem) = &config.ca_pem {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("CA file: {e}"))?;
        if certs.is_empty() {
            return Err("CA file holds no certificate".into());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .new_agent())
}

struct Worker {
    agent: ureq::Agent,
    config: WebhookConfig,
    counters: Arc<Counters>,
    closing: Arc<AtomicBool>,
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    Retry(String),
    GiveUp(String),
}

impl Worker {
    fn run(self, rx: Receiver<String>) {
        while let Ok(body) = rx.recv() {
            self.deliver(&body);
        }
    }

    fn deliver(&self, body: &str) {
        let mut backoff = self.config.initial_backoff;
        for attempt in 1..=self.config.max_attempts.max(1) {
            let why = match self.attempt(body) {
                Attempt::Delivered => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Attempt::GiveUp(why) => {
                    tracing::warn!(url = %self.config.url, %why, "alert webhook refused an alert");
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Attempt::Retry(why) => why,
            };
            let last = attempt == self.config.max_attempts.max(1);
            if last || self.closing.load(Ordering::Relaxed) {
                tracing::warn!(url = %self.config.url, %why, attempt, "alert webhook delivery failed");
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            self.pause(backoff);
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// Sleeps for `d`, cut short when the sink is closing.
    fn pause(&self, d: Duration) {
        let end = std::time::Instant::now() + d;
        while !self.closing.load(Ordering::Relaxed) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }

    fn attempt(&self, body: &str) -> Attempt {
        let mut req = self
            .agent
            .post(&self.config.url)
            .header("content-type", "application/json");
        if let Some(token) = &self.config.bearer_token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        match req.send(body) {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match status {
                    200..=299 => Attempt::Delivered,
                    429 | 500..=599 => Attempt::Retry(format!("HTTP {status}")),
                    _ => Attempt::GiveUp(format!("HTTP {status}")),
                }
            }
            Err(e) => Attempt::Retry(e.to_string()),
        }
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let body = serde_json::to_string(alert).map_err(|source| SinkError::Encode {
            sink: "webhook",
            source,
        })?;
        let Some(tx) = &self.tx else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(SinkError::QueueFull {
                url: self.url.clone(),
            });
        };
        match tx.try_send(body) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(SinkError::QueueFull {
                    url: self.url.clone(),
                })
            }
        }
    }
}
