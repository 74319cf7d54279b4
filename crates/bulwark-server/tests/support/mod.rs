//! A real server in the test process: SQLite (or PostgreSQL) storage, the
//! audit log in a temp dir, the router on an ephemeral port, and a reqwest
//! client. Helpers create users with one role and a token.
#![allow(dead_code)]

pub mod pg;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bulwark_server::app::{App, Settings};
use bulwark_server::db::DbSpec;
use serde_json::{Value, json};

pub struct TestServer {
    pub app: Arc<App>,
    pub url: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
    /// The PostgreSQL cluster the server stores into, if any (stopped
    /// after the server).
    pg: Option<pg::PgCluster>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::new(&dir.join("server"));
    s.stale_after = std::time::Duration::from_secs(2);
    s
}

impl TestServer {
    pub async fn start() -> Result<TestServer> {
        Self::start_with(|_| {}).await
    }

    /// A server storing into a fresh real PostgreSQL cluster.
    pub async fn start_postgres() -> Result<TestServer> {
        let pg = pg::PgCluster::start()?;
        let url = pg.url.clone();
        let mut server = Self::start_with(|s| s.db = DbSpec::Postgres(url)).await?;
        server.pg = Some(pg);
        Ok(server)
    }

    /// Which storage the server uses (for assertion messages).
    pub fn storage(&self) -> &'static str {
        if self.pg.is_some() {
            "postgresql"
        } else {
            "sqlite"
        }
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let mut s = settings(dir.path());
        tweak(&mut s);
        let app = App::open(s).await?;
        let token_file = dir.path().join("admin.token");
        bulwark_server::bootstrap::first_start(&app, "admin", Some(&token_file)).await?;
        let admin = std::fs::read_to_string(&token_file)?.trim().to_owned();
        let router = bulwark_server::api::router(Arc::clone(&app));
        let listener = bulwark_server::serve::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = bulwark_server::serve::serve_http(listener, router).await;
        });
        Ok(TestServer {
            app,
            url: format!("http://{addr}"),
            admin,
            http: reqwest::Client::builder().cookie_store(true).build()?,
            dir,
            task,
            pg: None,
        })
    }

    pub fn audit_path(&self) -> PathBuf {
        self.app.settings.audit_path()
    }

    /// (status, JSON body or Null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let streaming = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-ndjson"));
        if streaming {
            // The agents' update stream never ends; its status is enough.
            return Ok((status, Value::Null));
        }
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let (status, v) = self.call(method, path, Some(token), body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }

    /// A service account `name` with `role` at `scope`, and its token.
    pub async fn user_with_role(&self, name: &str, role: Option<(&str, &str)>) -> Result<String> {
        self.ok(
            "POST",
            "/api/v1/users",
            &self.admin,
            Some(json!({"name": name, "kind": "service"})),
        )
        .await?;
        if let Some((role, scope)) = role {
            self.ok(
                "POST",
                "/api/v1/role-bindings",
                &self.admin,
                Some(json!({"subject": {"kind": "user", "name": name}, "role": role, "scope": scope})),
            )
            .await?;
        }
        let t = self
            .ok(
                "POST",
                "/api/v1/tokens",
                &self.admin,
                Some(json!({"name": "test", "owner": name})),
            )
            .await?;
        Ok(t["token"].as_str().context("token in answer")?.to_owned())
    }

    /// Records in the audit log, oldest first.
    pub fn audit_records(&self) -> Result<Vec<Value>> {
        let text = std::fs::read_to_string(self.audit_path())?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str(l)?))
            .collect()
    }
}

/// A SQLite spec in `dir` (for tests choosing their storage).
pub fn sqlite(dir: &std::path::Path) -> DbSpec {
    DbSpec::Sqlite(dir.join("control.db"))
}

/// An alert as an agent would send it: a process deviation of `workload`.
pub fn alert(
    id: &str,
    severity: bulwark_core::Severity,
    workload: &str,
) -> Result<bulwark_core::Alert> {
    use bulwark_core::{Alert, AlertReason, Decision, Mode, WorkloadId};
    Ok(Alert {
        id: id.to_owned(),
        time: time::OffsetDateTime::now_utc(),
        severity,
        workload: Some(WorkloadId::new(workload)?),
        container_id: None,
        image_digest: None,
        profile_version: None,
        mode: Mode::Monitor,
        reason: AlertReason::Deviation {
            class: "process".into(),
            detail: format!("/usr/bin/{id}"),
        },
        decision: Decision::Alert,
        message: format!("unexpected process for {id}"),
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    })
}
