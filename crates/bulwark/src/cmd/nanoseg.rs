//! `bulwark agent --profiles` and `bulwark replay --profiles`: the learning
//! and detection stage wired to its sinks, the profile store and the audit
//! log. The agent and replay loops call [`Runner::event`], [`Runner::health`]
//! and [`Runner::idle`]; this module only builds things from flags.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bulwark_alert::{
    JsonLinesSink, Router, Sink, SyslogSink, Throttle, ThrottleConfig, WebhookConfig, WebhookSink,
};
use bulwark_audit::AuditLog;
use bulwark_core::{Alert, Clock, Event};
use bulwark_nanoseg::{ProfileStore, Stage, StageConfig, StageStats};
use bulwark_profile::Config;

use super::DataDir;

#[derive(clap::Args, Debug, Clone)]
pub struct ProfilesArgs {
    /// Learn per-workload behaviour profiles and raise alerts: built-in
    /// detection rules in every mode, deviations in Monitor and Protect.
    #[arg(long)]
    pub profiles: bool,
    /// Where alerts go (repeatable): `stdout`, `file:PATH`, `syslog`,
    /// `syslog:SOCKET`, `webhook:URL`. Default: stdout.
    #[arg(long = "alerts", value_name = "SINK", requires = "profiles")]
    sinks: Vec<String>,
    /// Environment name recorded on learned rules (`prod`, `staging`).
    #[arg(long, default_value = "default", requires = "profiles")]
    environment: String,
    /// Discover -> Monitor after a class learned nothing new for this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    quiet_window: u64,
    /// Never promote automatically.
    #[arg(long)]
    no_auto_promote: bool,
    /// Remove rules unused for this many days (0: never).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    max_rule_age: u64,
    /// Keep Monitor when a new image version of a workload appears (default:
    /// relearn its differences in Discover).
    #[arg(long)]
    no_relearn_on_new_image: bool,
    /// A `kind: DetectionExceptions` YAML file of agent-wide exceptions.
    #[arg(long, value_name = "FILE")]
    exceptions: Option<PathBuf>,
    /// Identical alerts within this window are folded into one with a count.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    dedup_window: u64,
    /// Alerts per second per workload before throttling (counted).
    #[arg(long, value_name = "RATE", default_value_t = 5.0)]
    alert_rate: f64,
    /// Alert burst per workload before throttling.
    #[arg(long, value_name = "N", default_value_t = 20)]
    alert_burst: u32,
    /// Environment variable holding a bearer token for webhooks.
    #[arg(long, value_name = "VAR")]
    webhook_token_env: Option<String>,
    /// PEM file of CAs to trust for https webhooks (default: web PKI roots).
    #[arg(long, value_name = "FILE")]
    webhook_ca: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
}

/// The running stage.
pub struct Runner {
    stage: Stage,
    last_tick: Instant,
    /// Profiles pushed by the control plane (`--server`).
    pushed: Option<super::server_updates::Inbox>,
}

impl ProfilesArgs {
    /// Whether `--profiles` was given.
    pub fn enabled(&self) -> bool {
        self.profiles
    }

    /// Builds the stage if `--profiles` was given; `extra` (the control
    /// plane's uplink) gets the alerts too, and `pushed` brings the
    /// profiles it pushes down.
    pub fn start(
        &self,
        extra: Option<Box<dyn Sink>>,
        pushed: Option<super::server_updates::Inbox>,
    ) -> anyhow::Result<Option<Runner>> {
        if !self.profiles {
            return Ok(None);
        }
        // Flags first: a bad one must not leave files behind.
        let engine = self.engine()?;
        let mut sinks = self.sinks()?;
        sinks.extend(extra);
        let clock: Arc<dyn Clock> = Arc::new(bulwark_core::SystemClock);
        let audit = AuditLog::open(&self.data.audit_log(), Arc::clone(&clock))?;
        let store = ProfileStore::open(&self.data.profiles())?;
        let router = Router::new(Throttle::new(self.throttle(), Arc::clone(&clock)), sinks);
        let config = StageConfig {
            engine,
            ..StageConfig::default()
        };
        let stage = Stage::open(config, store, Arc::new(audit), router, clock)?;
        Ok(Some(Runner {
            stage,
            last_tick: Instant::now(),
            pushed,
        }))
    }

    fn engine(&self) -> anyhow::Result<Config> {
        let exceptions = match &self.exceptions {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                bulwark_profile::parse_exceptions(&text, &path.display().to_string())?
            }
            None => Vec::new(),
        };
        anyhow::ensure!(
            !self.environment.is_empty() && !self.environment.chars().any(char::is_control),
            "--environment {:?}: empty or with control characters",
            self.environment
        );
        Ok(Config {
            environment: self.environment.clone(),
            quiet_window: (!self.no_auto_promote).then(|| Duration::from_secs(self.quiet_window)),
            max_rule_age: (self.max_rule_age > 0)
                .then(|| Duration::from_secs(self.max_rule_age * 86_400)),
            relearn_on_new_image: !self.no_relearn_on_new_image,
            exceptions,
            ..Config::default()
        })
    }

    fn throttle(&self) -> ThrottleConfig {
        ThrottleConfig {
            dedup_window: Duration::from_secs(self.dedup_window),
            rate_per_sec: self.alert_rate,
            burst: self.alert_burst,
            ..ThrottleConfig::default()
        }
    }

    fn sinks(&self) -> anyhow::Result<Vec<Box<dyn Sink>>> {
        let specs = if self.sinks.is_empty() {
            vec!["stdout".to_owned()]
        } else {
            self.sinks.clone()
        };
        specs.iter().map(|s| self.sink(s)).collect()
    }

    fn sink(&self, spec: &str) -> anyhow::Result<Box<dyn Sink>> {
        let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
        Ok(match (kind, arg) {
            ("stdout", "") => Box::new(JsonLinesSink::stdout()),
            ("file", path) if !path.is_empty() => Box::new(JsonLinesSink::file(path.as_ref())?),
            ("syslog", "") => Box::new(SyslogSink::connect("/dev/log".as_ref())?),
            ("syslog", path) => Box::new(SyslogSink::connect(path.as_ref())?),
            ("webhook", url) if !url.is_empty() => {
                Box::new(WebhookSink::start(self.webhook(url)?)?)
            }
            _ => anyhow::bail!(
                "--alerts {spec:?}: expected stdout, file:PATH, syslog[:SOCKET] or webhook:URL"
            ),
        })
    }

    fn webhook(&self, url: &str) -> anyhow::Result<WebhookConfig> {
        let bearer_token = match &self.webhook_token_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("--webhook-token-env: ${var} is not set"))?,
            ),
            None => None,
        };
        let ca_pem = match &self.webhook_ca {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        };
        Ok(WebhookConfig {
            bearer_token,
            ca_pem,
            ..WebhookConfig::new(url)
        })
    }
}

impl Runner {
    /// One record of the sensor's stream.
    pub fn record(&mut self, record: &bulwark_sensor::Record) {
        match record {
            bulwark_sensor::Record::Event(event) => self.event(event),
            bulwark_sensor::Record::Health(alert) => self.health(alert.as_ref().clone()),
        }
    }

    /// One sensor event. Errors (an audit log that refuses writes) are
    /// logged: the change was rolled back and a health alert sent.
    pub fn event(&mut self, event: &Event) {
        if let Err(e) = self.stage.handle(event) {
            tracing::error!(error = %format!("{:#}", anyhow::Error::from(e)), "profile stage");
        }
        self.tick_if_due();
    }

    /// A health alert from the sensor (events lost, hooks missing).
    pub fn health(&mut self, alert: Alert) {
        self.stage.send_alert(alert);
    }

    /// Call when no event arrived for a while.
    pub fn idle(&mut self) {
        self.tick_if_due();
    }

    fn tick_if_due(&mut self) {
        if self.last_tick.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last_tick = Instant::now();
        if let Some(inbox) = &self.pushed {
            inbox.serve(&mut self.stage);
        }
        if let Err(e) = self.stage.tick() {
            tracing::error!(error = %format!("{:#}", anyhow::Error::from(e)), "profile stage");
        }
    }

    /// Final sync of profiles; returns the stage's counters.
    pub fn finish(self) -> anyhow::Result<StageStats> {
        Ok(self.stage.close()?)
    }
}
