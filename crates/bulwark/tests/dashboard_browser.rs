//! The dashboard end to end, in headless Chromium (Debian's chromium and
//! chromium-driver), against a real `bulwark server`:
//!
//! 1. a real runc container runs a program from /tmp whose name is an HTML
//!    payload; the real agent pipeline (`bulwark agent --profiles`, eBPF
//!    sensor) raises `exec-from-tmp` with its process ancestry;
//! 2. the agent reports to the server itself (`--server`, mTLS with a node
//!    SVID from `bulwark identity`): the alert, the node's containers with
//!    their CIS facts, the learned profile, and the connections between
//!    two more runc containers (a client that fetches from a web server
//!    over a veth pair), attributed to both workloads' identities;
//! 3. the admin logs in, sees the alert with its ancestry (the payload shown
//!    as text, never run), silences it, promotes the workload, and sees the
//!    client -> server edge in the connection graph;
//! 4. a viewer logs in and is denied the promotion, by the server.
//!
//! Screenshots of each step are written to `target/dashboard-screenshots/`.
//! Needs root (runc, eBPF).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use bulwark_dashboard::browser::Browser;
use bulwark_dashboard::browser::fantoccini::Locator;
use bulwark_testkit::{Container, Network};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");
const TRUST_DOMAIN: &str = "dashboard.test";
/// A file name that is also markup: rendered as HTML it would run script.
const PAYLOAD: &str = "<img src=x onerror=window.xss=1>";
const IMAGE: &str = "dashboard.test/web";

/// A child process killed (SIGKILL) and reaped on drop.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bulwark(args: &[&str]) -> Result<String> {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .context("running bulwark")?;
    ensure!(
        out.status.success(),
        "bulwark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 temp path")
}

/// `bulwark server` with its plain-HTTP and mTLS listeners on free ports.
struct Server {
    _child: Kill,
    http: String,
    mtls: String,
    admin_password: String,
    admin_token: String,
}

impl Server {
    fn start(dir: &Path, ids: &Path) -> Result<Server> {
        let token_file = dir.join("admin.token");
        let mut child = Kill(
            Command::new(BIN)
                .arg("server")
                .args(["--data-dir", path_str(&dir.join("data"))?])
                .args(["--listen", "127.0.0.1:0", "--mtls-listen", "127.0.0.1:0"])
                .args(["--svid", path_str(&ids.join("server/svid.pem"))?])
                .args(["--svid-key", path_str(&ids.join("server/svid.key"))?])
                .args(["--bundle", path_str(&ids.join("server/bundle.pem"))?])
                .args([
                    "--agent-id",
                    &format!("spiffe://{TRUST_DOMAIN}/bulwark/node/*"),
                ])
                .args(["--bootstrap-token-file", path_str(&token_file)?])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting bulwark server")?,
        );
        let stdout = child.0.stdout.take().context("server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut http, mut mtls, mut password_file) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(wait)
                .context("bulwark server did not print its addresses and credentials")?;
            if let Some(rest) = line.strip_prefix("bulwark server: API on http://") {
                http = rest.split('/').next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("bulwark server: mTLS on https://") {
                mtls = rest.split('/').next().map(str::to_owned);
            } else if let Some((_, file)) = line.split_once("with the password in ") {
                password_file = Some(PathBuf::from(file.trim()));
            } else if line.contains("admin API token written to") {
                break;
            }
        }
        let password_file = password_file.context("no initial admin password printed")?;
        Ok(Server {
            _child: child,
            http: http.context("no API address printed")?,
            mtls: mtls.context("no mTLS address printed")?,
            admin_password: std::fs::read_to_string(&password_file)?.trim().to_owned(),
            admin_token: std::fs::read_to_string(&token_file)?.trim().to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// An API call with the admin token; the JSON answer.
    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let tcp = tokio::net::TcpStream::connect(&self.http).await?;
        let auth = format!("Bearer {}", self.admin_token);
        let (status, body) = request(
            tcp,
            method,
            &self.http,
            path,
            &[("authorization", &auth)],
            body,
        )
        .await?;
        ensure!(
            status < 300,
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)?
        })
    }

    /// Polls `path` (admin token) until `done` holds for its answer.
    async fn wait(&self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let last = self.admin("GET", path, None).await;
            if let Ok(v) = &last
                && done(v)
            {
                return Ok(v.clone());
            }
            ensure!(
                Instant::now() < deadline,
                "{what}: not reported by the agent within 30 s; last answer to {path}: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// One HTTP/1.1 request on `io`.
async fn request<S>(
    io: S,
    method: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(u16, Vec<u8>)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let bytes = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(&v)?
        }
        None => Vec::new(),
    };
    let res = sender
        .send_request(req.body(Full::new(Bytes::from(bytes)))?)
        .await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// A CA for the trust domain and SVIDs for the server and one node.
fn identities(dir: &Path) -> Result<PathBuf> {
    let data = dir.join("identity-data");
    let data = path_str(&data)?;
    bulwark(&[
        "identity",
        "--data-dir",
        data,
        "ca",
        "init",
        "--trust-domain",
        TRUST_DOMAIN,
    ])?;
    let ids = dir.join("ids");
    for (name, id) in [
        ("server", format!("spiffe://{TRUST_DOMAIN}/bulwark/server")),
        ("node", format!("spiffe://{TRUST_DOMAIN}/bulwark/node/e2e")),
    ] {
        let out = ids.join(name);
        bulwark(&[
            "identity",
            "--data-dir",
            data,
            "issue",
            "--spiffe-id",
            &id,
            "--out",
            path_str(&out)?,
        ])?;
    }
    Ok(ids)
}

/// `bulwark agent --profiles` writing its alerts to a file.
struct Agent {
    _child: Kill,
    alerts: PathBuf,
}

impl Agent {
    fn start(dir: &Path, link: &[String]) -> Result<Agent> {
        let data = dir.join("agent");
        std::fs::create_dir_all(&data)?;
        let alerts = dir.join("alerts.jsonl");
        let stderr = dir.join("agent.stderr");
        let child = Kill(
            Command::new(BIN)
                .args([
                    "agent",
                    "--profiles",
                    "--metrics",
                    "127.0.0.1:0",
                    "--dedup-window",
                    "1",
                ])
                .args(link)
                .arg("--alerts")
                .arg(format!("file:{}", alerts.display()))
                .arg("--data-dir")
                .arg(&data)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr)?)
                .spawn()
                .context("starting bulwark agent")?,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&stderr)?.contains("metrics on http://") {
            ensure!(
                Instant::now() < deadline,
                "agent not ready: {}",
                std::fs::read_to_string(&stderr)?
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Agent {
            _child: child,
            alerts,
        })
    }

    /// The alerts about `container` with rule `rule`, waiting for one.
    fn wait_alerts(&self, container: &str, rule: &str) -> Result<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all: Vec<Value> = std::fs::read_to_string(&self.alerts)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|a: &Value| a["container_id"] == container)
                .collect();
            if all.iter().any(|a| a["reason"]["rule"]["id"] == rule) {
                return Ok(all);
            }
            ensure!(
                Instant::now() < deadline,
                "no {rule} alert for {container}: {all:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

async fn login(browser: &Browser, base: &str, name: &str, password: &str) -> Result<()> {
    browser.goto(&format!("{base}/ui/#/login")).await?;
    browser
        .wait_for("#login-name")
        .await?
        .send_keys(name)
        .await?;
    browser
        .wait_for("#login-password")
        .await?
        .send_keys(password)
        .await?;
    browser.wait_for("#login-submit").await?.click().await?;
    browser.wait_for_text("[data-test=user]", name).await?;
    Ok(())
}

async fn logout(browser: &Browser) -> Result<()> {
    let button = browser.wait_for(".who button").await?;
    button.click().await?;
    browser.wait_for("#login-name").await?;
    Ok(())
}

/// The page never showed a CSP violation and no payload ran.
async fn assert_clean(browser: &Browser) -> Result<()> {
    let ran = browser
        .eval("return window.xss !== undefined", vec![])
        .await?;
    ensure!(
        ran == Value::Bool(false),
        "the alert's markup ran as script"
    );
    let banner = browser.eval(
        "const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent",
        vec![],
    );
    let banner = banner.await?;
    ensure!(
        !banner
            .as_str()
            .unwrap_or_default()
            .contains("security policy"),
        "CSP violation: {banner}"
    );
    Ok(())
}

async fn click(browser: &Browser, css: &str) -> Result<()> {
    browser.wait_for(css).await?.click().await?;
    Ok(())
}

/// The other pages load from the real API without an error.
async fn visit_every_page(browser: &Browser, base: &str, workload: &str) -> Result<()> {
    let compliance_row = format!("{workload} · ");
    let encoded = encode(workload);
    let pages = [
        (
            format!("#/workloads/{encoded}"),
            "pre.document",
            "kind: WorkloadProfile",
            "e2e-workload",
        ),
        ("#/graph".to_owned(), "main h1", "Connections", "e2e-graph"),
        ("#/images".to_owned(), "main h1", "Images", "e2e-images"),
        (
            "#/compliance".to_owned(),
            "main details summary",
            compliance_row.as_str(),
            "e2e-compliance",
        ),
    ];
    for (hash, css, text, shot) in pages {
        browser.goto(&format!("{base}/ui/{hash}")).await?;
        browser.wait_for_text(css, text).await?;
        let error = browser
            .eval(
                "const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent",
                vec![],
            )
            .await?;
        ensure!(error == json!(""), "{hash}: {error}");
        browser.screenshot(shot).await?;
    }
    Ok(())
}

/// A workload id as one URL path segment or query value.
fn encode(id: &str) -> String {
    id.replace('%', "%25")
        .replace('/', "%2F")
        .replace(':', "%3A")
}

async fn modes(server: &Server, workload: &str) -> Result<Value> {
    let id = encode(workload);
    Ok(server
        .admin("GET", &format!("/api/v1/profiles/{id}"), None)
        .await?["modes"]
        .clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sees_a_real_alert_and_promotes_and_a_viewer_is_denied() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let ids = identities(tmp.path())?;
    let server = Server::start(tmp.path(), &ids)?;
    let node = ids.join("node");
    let link = [
        "--server".to_owned(),
        server.mtls.clone(),
        "--server-id".to_owned(),
        format!("spiffe://{TRUST_DOMAIN}/bulwark/server"),
        "--node-svid".to_owned(),
        path_str(&node.join("svid.pem"))?.to_owned(),
        "--node-svid-key".to_owned(),
        path_str(&node.join("svid.key"))?.to_owned(),
        "--bundle".to_owned(),
        path_str(&node.join("bundle.pem"))?.to_owned(),
        "--report-secs".to_owned(),
        "1".to_owned(),
    ];
    let agent = Agent::start(tmp.path(), &link)?;
    let talk = Talk::start()?;

    // A real container runs a program from /tmp named like markup.
    let container = Container::builder("dash-e2e")
        .args(["sleep", "600"])
        .image(&format!("{IMAGE}:1"), None)
        .writable_rootfs()
        .start()?;
    let script = format!("cp /bin/busybox '/tmp/{PAYLOAD}' && '/tmp/{PAYLOAD}' true; exit 0");
    container.exec(["sh", "-c", &script])?;
    let alerts = agent.wait_alerts(container.id(), "exec-from-tmp")?;
    let alert = alerts
        .iter()
        .find(|a| a["reason"]["rule"]["id"] == "exec-from-tmp")
        .context("exec-from-tmp alert")?;
    let workload = alert["workload"]
        .as_str()
        .context("alert without workload")?
        .to_owned();
    ensure!(
        alert["ancestry"].as_array().is_some_and(|a| a.len() >= 2),
        "ancestry: {alert}"
    );

    // The agent reported the alert itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let query = format!("/api/v1/alerts?workload={}", encode(&workload));
    while !server
        .admin("GET", &query, None)
        .await?
        .as_array()
        .is_some_and(|a| {
            a.iter()
                .any(|a| a["alert"]["reason"]["rule"]["id"] == "exec-from-tmp")
        })
    {
        ensure!(
            Instant::now() < deadline,
            "the agent's alert never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The agent reported the container (with the CIS facts of its OCI
    // config) and the profile it learned.
    let id = encode(&workload);
    let node_id = format!("spiffe://{TRUST_DOMAIN}/bulwark/node/e2e");
    server
        .wait("the container", &format!("/api/v1/workloads/{id}"), |w| {
            w["containers_running"].as_i64() >= Some(1)
        })
        .await?;
    server
        .wait("the container's CIS facts", "/api/v1/compliance", |c| {
            c["containers"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["id"] == container.id()
                        && c["node"] == node_id
                        && c["checks"].as_array().is_some_and(|k| !k.is_empty())
                })
            })
        })
        .await?;
    server
        .wait(
            "the learned profile",
            &format!("/api/v1/profiles/{id}"),
            |p| p["modes"]["process"] == "discover",
        )
        .await?;

    let browser = Browser::start().await?;
    let base = server.url("");

    // The admin: overview, the alert with its ancestry, silence, promote.
    login(&browser, &base, "admin", &server.admin_password).await?;
    browser.wait_for_text(".grid", "Alerts, last 24 h").await?;
    browser.screenshot("e2e-1-overview").await?;

    // The agent watches every container on the machine, so other tests'
    // containers may raise the same rule, and the payload raises other
    // rules too: this test's card names the rule, the workload and the
    // payload (shown as text, checked below).
    browser.goto(&format!("{base}/ui/#/alerts")).await?;
    let rule = "Execution from a temporary directory";
    let card = browser
        .wait_for_texts("article.alert", &[rule, &workload, PAYLOAD])
        .await?;
    let ancestry = card.find_all(Locator::Css("ol.ancestry li")).await?;
    ensure!(ancestry.len() >= 2, "ancestry items: {}", ancestry.len());
    let injected = browser
        .eval(
            "return document.querySelectorAll('main img').length",
            vec![],
        )
        .await?;
    ensure!(
        injected == json!(0),
        "markup from the alert became elements"
    );
    assert_clean(&browser).await?;
    browser.screenshot("e2e-2-alert-with-ancestry").await?;

    card.find(Locator::Css("button[data-action=silence]"))
        .await?
        .click()
        .await?;
    card.find(Locator::Css("input[name=reason]"))
        .await?
        .send_keys("known test payload")
        .await?;
    card.find(Locator::Css("button[data-action=silence-submit]"))
        .await?
        .click()
        .await?;
    browser.wait_for_text("#banner", "Silenced until").await?;
    let silences = server.admin("GET", "/api/v1/silences", None).await?;
    ensure!(
        silences.as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["created_by"] == "user:admin" || s["created_by"] == "admin")),
        "silences: {silences}"
    );

    browser.goto(&format!("{base}/ui/#/workloads")).await?;
    let promote = format!("button[data-action=promote][data-workload=\"{workload}\"]");
    browser
        .wait_for_text(&promote, "Promote to monitor")
        .await?;
    click(&browser, &promote).await?;
    browser.wait_for_text("#banner", "now monitor").await?;
    browser
        .wait_for_text(&promote, "Promote to protect")
        .await?;
    assert_clean(&browser).await?;
    browser.screenshot("e2e-3-promoted").await?;
    ensure!(modes(&server, &workload).await?["process"] == "monitor");
    visit_every_page(&browser, &base, &workload).await?;
    talk.shown_in_the_graph(&server, &browser, &base).await?;
    logout(&browser).await?;

    // A viewer reads the same pages but the server refuses the promotion.
    server
        .admin(
            "POST",
            "/api/v1/users",
            Some(json!({"name": "viewer1", "kind": "user", "password": "viewer-password-123"})),
        )
        .await?;
    server
        .admin(
            "POST",
            "/api/v1/role-bindings",
            Some(json!({"subject": {"kind": "user", "name": "viewer1"}, "role": "viewer", "scope": "cluster"})),
        )
        .await?;
    login(&browser, &base, "viewer1", "viewer-password-123").await?;
    browser.goto(&format!("{base}/ui/#/workloads")).await?;
    browser
        .wait_for_text(&promote, "Promote to protect")
        .await?;
    click(&browser, &promote).await?;
    let banner = browser
        .wait_for_text("#banner", "Denied")
        .await?
        .text()
        .await?;
    ensure!(
        banner.contains("request"),
        "denial without request id: {banner}"
    );
    browser.screenshot("e2e-4-viewer-denied").await?;
    ensure!(modes(&server, &workload).await?["process"] == "monitor");
    let audit = server.admin("GET", "/api/v1/audit?limit=50", None).await?;
    let denied = audit.as_array().is_some_and(|records| {
        records.iter().any(|r| {
            r["action"] == "profile.mode"
                && r["outcome"] == "denied"
                && r["actor"].as_str().is_some_and(|a| a.contains("viewer1"))
        })
    });
    ensure!(denied, "no denied profile.mode record for viewer1: {audit}");

    // The audit page shows that record to the admin.
    logout(&browser).await?;
    login(&browser, &base, "admin", &server.admin_password).await?;
    browser.goto(&format!("{base}/ui/#/audit")).await?;
    browser
        .wait_for_text("#audit tr.outcome-denied", "profile.mode")
        .await?;
    browser.screenshot("e2e-5-audit-log").await?;
    browser.close().await?;
    drop(container);
    drop(talk);
    Ok(())
}

/// Two real containers that talk: a client on the host's network fetches
/// from a web server in its own network namespace (veth) every second.
struct Talk {
    _server: Container,
    _client: Container,
    server: String,
    client: String,
}

impl Talk {
    fn start() -> Result<Talk> {
        let pid = std::process::id();
        let (server_image, client_image) = (
            format!("dashboard.test/graph-server-{pid}"),
            format!("dashboard.test/graph-client-{pid}"),
        );
        let server = Container::builder("dash-graph-server")
            .args(["httpd", "-f", "-p", "8080", "-h", "/"])
            .network(Network::Veth)
            .image(&format!("{server_image}:1"), None)
            .start()?;
        let addr = server
            .network()
            .context("the server's veth network")?
            .container_addr();
        let fetch =
            format!("while true; do wget -q -O /dev/null http://{addr}:8080/ ; sleep 1; done");
        let client = Container::builder("dash-graph-client")
            .args(["sh", "-c", &fetch])
            .network(Network::Host)
            .image(&format!("{client_image}:1"), None)
            .start()?;
        Ok(Talk {
            _server: server,
            _client: client,
            server: format!("image:{server_image}"),
            client: format!("image:{client_image}"),
        })
    }

    /// The agent's reports put a client -> server edge (both identities,
    /// port 8080) in the API's graph, and Chromium draws it.
    async fn shown_in_the_graph(
        &self,
        server: &Server,
        browser: &Browser,
        base: &str,
    ) -> Result<()> {
        let (src, dst) = (self.client.as_str(), self.server.as_str());
        server
            .wait("the client -> server flow", "/api/v1/graph", |g| {
                g["edges"].as_array().is_some_and(|edges| {
                    edges
                        .iter()
                        .any(|e| e["src"] == src && e["dst"] == dst && e["port"] == 8080)
                })
            })
            .await?;
        browser.goto(&format!("{base}/ui/#/graph")).await?;
        browser.wait_for_text("#edges", src).await?;
        let arrows = browser
            .eval(
                "return [...document.querySelectorAll('svg.graph g.edge title')].map(t => t.textContent)",
                vec![],
            )
            .await?;
        let want = format!("{src} → {dst}: 8080/tcp");
        ensure!(
            arrows.as_array().is_some_and(|a| a
                .iter()
                .any(|t| t.as_str().is_some_and(|t| t.starts_with(&want)))),
            "no arrow {want:?} drawn: {arrows}"
        );
        let nodes = browser
            .eval(
                "return [...document.querySelectorAll('svg.graph g.node-workload')].map(n => n.dataset.node)",
                vec![],
            )
            .await?;
        ensure!(
            [src, dst]
                .iter()
                .all(|w| nodes.as_array().is_some_and(|n| n.iter().any(|x| x == w))),
            "both identities drawn as workloads: {nodes}"
        );
        assert_clean(browser).await?;
        browser.screenshot("e2e-graph-edge").await?;
        Ok(())
    }
}
