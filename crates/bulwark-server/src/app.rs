//! The server's shared state: storage, the audit trail, the authentication
//! rate limiter, metrics, the update feed and the settings every request
//! reads. Built once by [`App::open`], shared behind an `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_control::rbac::{Binding, Scope, SubjectMatcher};

use crate::audit::AuditTrail;
use crate::auth::{AuthLimiter, LimitConfig};
use crate::db::{Db, DbSpec};
use crate::dispatch::{Dispatcher, SinkSpec};
use crate::metrics::Metrics;
use crate::store::StoredAlert;
use crate::store::{Store, StoreError, UpdateFeed};

/// Settings of a running server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the audit log (and the SQLite file, by default) live.
    pub data_dir: PathBuf,
    pub db: DbSpec,
    /// A node with no report for this long is flagged stale.
    pub stale_after: Duration,
    /// Dashboard sessions last this long.
    pub session_ttl: Duration,
    /// Largest request body of the API (agent reports have their own).
    pub body_limit: usize,
    /// Largest agent report.
    pub report_limit: usize,
    pub auth_limit: LimitConfig,
    /// Alert sinks configured on this server (routes may name only these).
    pub sinks: BTreeMap<String, SinkSpec>,
    /// SPIFFE IDs (or `.../*` prefixes) bound to the `agent` role at start.
    pub agent_ids: Vec<String>,
    /// Session cookies carry `Secure` (served over TLS).
    pub secure_cookies: bool,
}

impl Settings {
    /// Defaults for a data directory: SQLite inside it.
    pub fn new(data_dir: &Path) -> Settings {
        Settings {
            data_dir: data_dir.to_path_buf(),
            db: DbSpec::Sqlite(data_dir.join("control.db")),
            stale_after: Duration::from_secs(60),
            session_ttl: Duration::from_secs(12 * 3600),
            body_limit: 1 << 20,
            report_limit: 16 << 20,
            auth_limit: LimitConfig::default(),
            sinks: BTreeMap::new(),
            agent_ids: Vec::new(),
            secure_cookies: false,
        }
    }

    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join("audit.log")
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit log: {0}")]
    Audit(#[from] bulwark_audit::AuditError),
    #[error("storage: {0}")]
    Db(#[from] crate::db::DbError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub audit: AuditTrail,
    pub limiter: AuthLimiter,
    pub metrics: Metrics,
    pub feed: UpdateFeed,
    pub settings: Settings,
    dispatcher: Dispatcher,
    /// When each token's use was last written (at most once a minute).
    token_use: Mutex<HashMap<String, i64>>,
}

impl App {
    /// Opens the data directory, the audit log and the database (migrated),
    /// and installs the agents' bindings.
    pub async fn open(settings: Settings) -> Result<Arc<App>, StartError> {
        create_private_dir(&settings.data_dir)?;
        let audit = AuditTrail::open(&settings.audit_path())?;
        let db = Db::open(&settings.db).await?;
        let store = Store::new(db);
        for id in &settings.agent_ids {
            let binding = Binding {
                subject: SubjectMatcher::Spiffe(id.clone()),
                role: "agent".into(),
                scope: Scope::Cluster,
            };
            store.directory().ensure_binding(&binding, "config").await?;
        }
        let metrics = Metrics::default();
        let dispatcher = Dispatcher::start(&settings.sinks, Arc::clone(&metrics.sink_failures))
            .map_err(StartError::Invalid)?;
        let feed = UpdateFeed::default();
        feed.notify(store.latest_update().await?);
        Ok(Arc::new(App {
            store,
            audit,
            limiter: AuthLimiter::new(settings.auth_limit),
            metrics,
            feed,
            settings,
            dispatcher,
            token_use: Mutex::new(HashMap::new()),
        }))
    }

    /// Sends stored alerts that no silence holds back to their routed
    /// sinks, in the background.
    pub fn dispatch(self: &Arc<Self>, alerts: Vec<StoredAlert>) {
        if !self.dispatcher.is_enabled() {
            return;
        }
        let alerts: Vec<_> = alerts
            .into_iter()
            .filter(|a| a.silenced_by.is_none())
            .map(|a| a.alert)
            .collect();
        if alerts.is_empty() {
            return;
        }
        let app = Arc::clone(self);
        tokio::spawn(async move {
            let n = alerts.len() as u64;
            let queued = match app.store.route_rules().await {
                Ok(rules) => app.dispatcher.send(alerts, rules),
                Err(e) => {
                    tracing::error!(error = %e, "reading alert routes");
                    false
                }
            };
            if !queued {
                app.metrics.add(|m| &m.sink_failures, n);
            }
        });
    }

    /// Whether a token's `last_used_at` is due for an update (once a
    /// minute), so requests do not each write to the database.
    pub fn token_use_due(&self, token_id: &str, now: i64) -> bool {
        let Ok(mut seen) = self.token_use.lock() else {
            return false;
        };
        if seen.len() > 100_000 {
            seen.clear();
        }
        match seen.get(token_id) {
            Some(at) if now - at < 60_000 => false,
            _ => {
                seen.insert(token_id.to_owned(), now);
                true
            }
        }
    }
}

fn create_private_dir(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| StartError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(err)?;
    if !path.is_dir() {
        return Err(err(std::io::Error::other("not a directory")));
    }
    Ok(())
}
