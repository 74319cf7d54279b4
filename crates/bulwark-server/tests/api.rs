//! The HTTP API end to end against a real server (SQLite, audit log on
//! disk): default deny on every route, the role x route table, grants,
//! sessions and CSRF, one audit record per call, limits, metrics. The
//! route-wide tests (default deny, role table, audit per call, image scans
//! and compliance) also run against a real PostgreSQL (`*_on_postgresql`).

mod support;

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use bulwark_control::rbac::{ROLES, Role};
use bulwark_server::api::{Access, routes};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::TestServer;

/// method, path, token, body, expected status.
type Probe<'a> = (&'a str, &'a str, Option<&'a str>, Option<Value>, u16);

/// A concrete path for a route template, and a valid body for it.
/// Bindings grant the caller's own `role` (anything else may be an
/// escalation, refused on its own grounds).
fn request_for(method: &str, path: &str, n: usize, role: &str) -> (String, Option<Value>) {
    let concrete = path
        .replace("{kind}", "EnforcementPolicy")
        .replace("{id}", "k8s:default%2Fweb")
        .replace(
            "{digest}",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        )
        .replace("{name}", &format!("n{n}"));
    let future = bulwark_server::now_ms() + 3_600_000;
    let body = match (method, path) {
        ("POST", "/api/v1/profiles/{id}/mode") => Some(json!({"to": "monitor", "reason": "t"})),
        ("POST", "/api/v1/silences") => {
            Some(json!({"matcher": {"namespace": "default"}, "reason": "t", "expires_at": future}))
        }
        ("PUT", "/api/v1/alert-routes/{name}") => {
            Some(json!({"min_severity": "high", "sinks": ["none"]}))
        }
        ("POST", "/api/v1/images") => {
            Some(json!({"digest": "bad", "reference": "r", "packages": 0}))
        }
        ("POST", "/api/v1/users") => Some(json!({"name": format!("u{n}"), "kind": "service"})),
        ("POST", "/api/v1/tokens") => Some(json!({"name": "t"})),
        ("POST", "/api/v1/role-bindings") => Some(
            json!({"subject": {"kind": "user", "name": format!("u{n}")}, "role": role, "scope": "cluster"}),
        ),
        ("POST", "/api/v1/session") => {
            Some(json!({"name": "nobody", "password": "wrong-password"}))
        }
        _ => None,
    };
    (concrete, body)
}

fn rbac_routes() -> Vec<(
    String,
    &'static str,
    bulwark_control::rbac::Verb,
    bulwark_control::rbac::Resource,
)> {
    routes()
        .table()
        .iter()
        .filter_map(|r| match r.access {
            Access::Rbac(v, res) => Some((r.method.to_string(), r.path, v, res)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_non_public_route_refuses_no_credentials_and_a_user_without_bindings() -> Result<()> {
    default_deny_on_every_route(&TestServer::start().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_non_public_route_refuses_no_credentials_and_a_user_without_bindings_on_postgresql()
-> Result<()> {
    default_deny_on_every_route(&TestServer::start_postgres().await?).await
}

async fn default_deny_on_every_route(s: &TestServer) -> Result<()> {
    let nobody = s.user_with_role("nobody", None).await?;
    for (i, r) in routes().table().iter().enumerate() {
        if r.access == Access::Public {
            continue;
        }
        let method = r.method.as_str();
        let (path, body) = request_for(method, r.path, i, "viewer");
        let (status, err) = s.call(method, &path, None, body.clone()).await?;
        assert_eq!(status, 401, "{method} {path} without credentials: {err}");
        assert_eq!(err["error"], "unauthenticated");
        if let Access::Rbac(..) = r.access {
            let (status, err) = s.call(method, &path, Some(&nobody), body).await?;
            assert_eq!(status, 403, "{method} {path} with no bindings: {err}");
            assert_eq!(err["error"], "forbidden", "{method} {path}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_by_route_table_matches_each_roles_verbs_and_resources() -> Result<()> {
    role_by_route_table(&TestServer::start().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_by_route_table_matches_each_roles_verbs_and_resources_on_postgresql() -> Result<()> {
    role_by_route_table(&TestServer::start_postgres().await?).await
}

/// Every built-in role against every RBAC route: 403 exactly where the
/// role's rules do not grant the route's verb on its resource.
async fn role_by_route_table(s: &TestServer) -> Result<()> {
    let mut n = 0;
    for role in ROLES {
        let token = s
            .user_with_role(&format!("r-{}", role.name), Some((role.name, "cluster")))
            .await?;
        for (method, template, verb, resource) in rbac_routes() {
            n += 1;
            let (path, body) = request_for(&method, template, n, role.name);
            let (status, err) = s.call(&method, &path, Some(&token), body).await?;
            let granted = Role::grants(role, verb, resource);
            // The agents' report additionally needs mTLS; over plain HTTP
            // every role is refused it.
            let expect_forbidden = !granted || template == bulwark_server::agent_link::REPORT_PATH;
            assert_eq!(
                status == 403,
                expect_forbidden,
                "{}: role {} {method} {path} ({verb} {resource}): {status} {err}",
                s.storage(),
                role.name
            );
            assert!(
                status < 500,
                "{}: role {} {method} {path}: {status} {err}",
                s.storage(),
                role.name
            );
            assert_ne!(status, 401, "{method} {path}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_one_grants_a_role_they_do_not_hold() -> Result<()> {
    let s = TestServer::start().await?;
    let operator = s
        .user_with_role("op", Some(("security-operator", "cluster")))
        .await?;
    let team_admin = s
        .user_with_role("ta", Some(("namespace-admin", "namespace:team-a")))
        .await?;
    s.user_with_role("dev", None).await?;
    let bind = |role: &str, scope: &str| json!({"subject": {"kind": "user", "name": "dev"}, "role": role, "scope": scope});
    // No create role-bindings at all.
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/role-bindings",
            Some(&operator),
            Some(bind("viewer", "cluster")),
        )
        .await?;
    assert_eq!(st, 403);
    // Within its namespace: yes; a role it does not hold, or another namespace: no.
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/role-bindings",
            Some(&team_admin),
            Some(bind("namespace-developer", "namespace:team-a")),
        )
        .await?;
    assert_eq!(st, 201, "{v}");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/role-bindings",
            Some(&team_admin),
            Some(bind("namespace-developer", "namespace:team-b")),
        )
        .await?;
    assert_eq!(st, 403, "{v}");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/role-bindings",
            Some(&team_admin),
            Some(bind("admin", "namespace:team-a")),
        )
        .await?;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not hold"),
        "{v}"
    );
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/role-bindings",
            Some(&team_admin),
            Some(bind("viewer", "namespace:team-a")),
        )
        .await?;
    assert_eq!(
        st, 403,
        "viewer reads cluster resources the namespace admin does not hold"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_writes_exactly_one_audit_record_with_its_request_id() -> Result<()> {
    one_audit_record_per_call(&TestServer::start().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_writes_exactly_one_audit_record_with_its_request_id_on_postgresql() -> Result<()>
{
    one_audit_record_per_call(&TestServer::start_postgres().await?).await
}

async fn one_audit_record_per_call(s: &TestServer) -> Result<()> {
    let viewer = s.user_with_role("v", Some(("viewer", "cluster"))).await?;
    let before = s.audit_records()?.len();
    let mut ids = Vec::new();
    let calls: Vec<Probe<'_>> = vec![
        ("GET", "/api/v1/workloads", Some(&viewer), None, 200),
        ("GET", "/api/v1/workloads", None, None, 401),
        ("GET", "/api/v1/audit", Some(&viewer), None, 403),
        (
            "GET",
            "/api/v1/workloads/k8s:a%2Fb",
            Some(&viewer),
            None,
            404,
        ),
        ("GET", "/api/v1/no-such-route", Some(&viewer), None, 404),
        (
            "POST",
            "/api/v1/silences",
            Some(&s.admin),
            Some(json!({"matcher": {}, "reason": "", "expires_at": 1})),
            400,
        ),
        (
            "POST",
            "/api/v1/silences",
            Some(&s.admin),
            Some(
                json!({"matcher": {"namespace": "default"}, "reason": "maintenance\r\n{\"seq\":1}", "expires_at": bulwark_server::now_ms() + 60_000}),
            ),
            201,
        ),
        ("GET", "/api/v1/openapi.json", None, None, 200),
    ];
    for (method, path, token, body, want) in &calls {
        let mut req = s.http.request(method.parse()?, format!("{}{path}", s.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status().as_u16(), *want, "{method} {path}");
        ids.push(
            resp.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        );
    }
    let records = s.audit_records()?;
    let new = &records[before..];
    assert_eq!(new.len(), calls.len(), "one record per call: {new:#?}");
    for (record, id) in new.iter().zip(&ids) {
        assert_eq!(record["detail"]["request_id"], id.as_str());
    }
    assert_eq!(new[1]["outcome"], "denied");
    assert_eq!(new[2]["outcome"], "denied");
    assert_eq!(new[3]["outcome"], "failure");
    assert_eq!(new[6]["action"], "silence.create");
    assert_eq!(new[6]["actor"], "user:admin");
    // CR/LF in a field stays inside its JSON string: the log has exactly
    // one line per record and still verifies.
    let text = std::fs::read_to_string(s.audit_path())?;
    assert_eq!(text.lines().count(), records.len());
    bulwark_audit::verify_file(&s.audit_path(), None)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_login_sets_an_httponly_cookie_and_changes_need_the_csrf_token() -> Result<()> {
    let s = TestServer::start().await?;
    s.ok(
        "POST",
        "/api/v1/users",
        &s.admin,
        Some(json!({"name": "alice", "kind": "user", "password": "correct horse battery"})),
    )
    .await?;
    s.ok("POST", "/api/v1/role-bindings", &s.admin, Some(json!({"subject": {"kind": "user", "name": "alice"}, "role": "security-operator", "scope": "cluster"}))).await?;
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let resp = client
        .post(format!("{}/api/v1/session", s.url))
        .json(&json!({"name": "alice", "password": "correct horse battery"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session: Value = resp.json().await?;
    let csrf = session["csrf"].as_str().unwrap_or("").to_owned();
    let who: Value = client
        .get(format!("{}/api/v1/whoami", s.url))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(who["name"], "alice");
    assert_eq!(who["via"], "session");
    let silence = json!({"matcher": {"namespace": "default"}, "reason": "r", "expires_at": bulwark_server::now_ms() + 60_000});
    let no_csrf = client
        .post(format!("{}/api/v1/silences", s.url))
        .json(&silence)
        .send()
        .await?;
    assert_eq!(no_csrf.status(), 403);
    let with_csrf = client
        .post(format!("{}/api/v1/silences", s.url))
        .header("x-csrf-token", &csrf)
        .json(&silence)
        .send()
        .await?;
    assert_eq!(with_csrf.status(), 201);
    let out = client
        .delete(format!("{}/api/v1/session", s.url))
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    assert_eq!(out.status(), 204);
    let after = client
        .get(format!("{}/api/v1/whoami", s.url))
        .send()
        .await?;
    assert_eq!(after.status(), 401);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_rate_limited_with_retry_after() -> Result<()> {
    let s = TestServer::start().await?;
    let bogus = format!("bwk_{}", "A".repeat(43));
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            s.call("GET", "/api/v1/workloads", Some(&bogus), None)
                .await?
                .0,
        );
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[11], 429);
    // The limit holds even for a valid token from the same address.
    let resp = s
        .http
        .get(format!("{}/api/v1/workloads", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await?;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    Ok(())
}

/// Every file under `dir` (recursively), as bytes.
fn files_under(dir: &std::path::Path) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path)?));
            }
        }
    }
    Ok(out)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_sessions_and_passwords_are_stored_only_as_hashes() -> Result<()> {
    let s = TestServer::start().await?;
    let password = "correct horse battery staple";
    s.ok(
        "POST",
        "/api/v1/users",
        &s.admin,
        Some(json!({"name": "alice", "kind": "user", "password": password})),
    )
    .await?;
    let api_token = s.user_with_role("ci", Some(("viewer", "cluster"))).await?;
    let resp = s
        .http
        .post(format!("{}/api/v1/session", s.url))
        .json(&json!({"name": "alice", "password": password}))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let session = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    assert!(session.starts_with("bwk_"), "{cookie}");
    // Every secret works (the session as the cookie the client keeps)...
    s.ok("GET", "/api/v1/workloads", &api_token, None).await?;
    let (status, who) = s.call("GET", "/api/v1/whoami", None, None).await?;
    assert_eq!((status, &who["name"]), (200, &json!("alice")), "{who}");

    // ...and none is in the data directory (database, its WAL, the audit
    // log) in the clear; the tokens' SHA-256 is what the database holds.
    let server_dir = s.dir.path().join("server");
    let files = files_under(&server_dir)?;
    assert!(
        files.iter().any(|(p, _)| p.ends_with("control.db")),
        "{files:?}"
    );
    for secret in [
        api_token.as_str(),
        session.as_str(),
        s.admin.as_str(),
        password,
    ] {
        for (path, bytes) in &files {
            assert!(
                !contains(bytes, secret),
                "{} holds a secret in the clear",
                path.display()
            );
        }
    }
    let stored = |hash: &str| files.iter().any(|(_, b)| contains(b, hash));
    for token in [&api_token, &session] {
        let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        assert!(stored(&hash), "the hash of a token is not stored");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_for_one_user_is_limited_across_addresses() -> Result<()> {
    let s = TestServer::start().await?;
    for name in ["alice", "bob"] {
        s.ok(
            "POST",
            "/api/v1/users",
            &s.admin,
            Some(json!({"name": name, "kind": "user", "password": "correct horse battery"})),
        )
        .await?;
    }
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
    };
    let login = |client: reqwest::Client, name: &'static str, password: &'static str| {
        let url = format!("{}/api/v1/session", s.url);
        async move {
            let resp = client
                .post(url)
                .json(&json!({"name": name, "password": password}))
                .send()
                .await?;
            anyhow::Ok(resp.status().as_u16())
        }
    };
    // Guesses for alice from many loopback addresses: each address stays
    // under its own limit, the user name's bucket runs dry.
    let mut statuses = Vec::new();
    for i in 0..12u8 {
        statuses.push(login(from([127, 0, 1, i + 2])?, "alice", "wrong guess").await?);
    }
    assert!(statuses[..10].iter().all(|st| *st == 401), "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
    // Now even alice's right password is refused, from a fresh address...
    assert_eq!(
        login(from([127, 0, 2, 1])?, "alice", "correct horse battery").await?,
        429
    );
    // ...while bob, from that address, still logs in.
    assert_eq!(
        login(from([127, 0, 2, 1])?, "bob", "correct horse battery").await?,
        200
    );
    let last = s.audit_records()?;
    let throttled = last
        .iter()
        .filter(|r| r["action"] == "session.login" && r["detail"]["status"] == 429)
        .count();
    assert!(throttled >= 2, "throttled logins are recorded: {last:#?}");
    assert!(
        last.iter()
            .filter(|r| r["detail"]["status"] == 429)
            .all(|r| r["outcome"] == "denied")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_refused_with_413_and_recorded() -> Result<()> {
    let s = TestServer::start_with(|c| c.body_limit = 4096).await?;
    let big =
        json!({"matcher": {"namespace": "default"}, "reason": "x".repeat(8192), "expires_at": 1});
    let (status, v) = s
        .call("POST", "/api/v1/silences", Some(&s.admin), Some(big))
        .await?;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["error"], "too_large");
    let last = s.audit_records()?.pop().unwrap_or_default();
    assert_eq!(last["detail"]["status"], 413);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_need_a_grant() -> Result<()> {
    let s = TestServer::start().await?;
    let viewer = s.user_with_role("v", Some(("viewer", "cluster"))).await?;
    s.ok("GET", "/api/v1/workloads", &viewer, None).await?;
    assert_eq!(s.call("GET", "/metrics", Some(&viewer), None).await?.0, 403);
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await?
        .text()
        .await?;
    assert!(text.contains("bulwark_api_requests_total{method=\"GET\",route=\"/api/v1/workloads\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("bulwark_nodes_stale 0"));
    Ok(())
}

/// Parses Prometheus text (stdin) with the reference client library's
/// parser and checks every histogram (buckets never decrease, `+Inf`
/// equals `_count`); prints {family: {type, samples}} as JSON.
const PROMETHEUS_CHECK: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
    if fam.type != "histogram":
        continue
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "count": None})
        if s.name.endswith("_bucket"):
            series[key]["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            series[key]["count"] = s.value
    for key, h in series.items():
        values = [v for _, v in sorted(h["buckets"])]
        assert values == sorted(values), f"{fam.name} {key}: buckets decrease: {values}"
        assert h["buckets"] and max(h["buckets"])[0] == float("inf"), f"{fam.name} {key}: no +Inf bucket"
        assert values[-1] == h["count"], f"{fam.name} {key}: +Inf {values[-1]} != count {h['count']}"
json.dump(out, sys.stdout)
"#;

/// The repository's venv (`scripts/install-deps.sh`), else `python3`.
fn python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join(".cache/venv/bin/python3"))
        .find(|p| p.exists())
        .unwrap_or_else(|| "python3".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_with_the_prometheus_reference_parser() -> Result<()> {
    use std::io::Write as _;
    let s = TestServer::start().await?;
    let viewer = s.user_with_role("v", Some(("viewer", "cluster"))).await?;
    s.ok("GET", "/api/v1/workloads", &viewer, None).await?;
    s.call("GET", "/api/v1/workloads", None, None).await?;
    s.call("GET", "/api/v1/no-such-route", Some(&viewer), None)
        .await?;
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await?
        .text()
        .await?;
    let mut child = std::process::Command::new(python())
        .args(["-c", PROMETHEUS_CHECK])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("python stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "the Prometheus parser refused /metrics (needs the PyPI package prometheus-client, \
         scripts/python-requirements.txt): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        families["bulwark_api_request_duration_seconds"]["type"],
        "histogram"
    );
    assert_eq!(families["bulwark_nodes_stale"]["type"], "gauge");
    let requests = families["bulwark_api_requests"]["samples"]
        .as_array()
        .context("bulwark_api_requests_total parsed as a counter family")?;
    let count = |route: &str, status: &str| {
        requests
            .iter()
            .filter(|s| s[1]["route"] == route && s[1]["status"] == status)
            .map(|s| s[2].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    assert_eq!(count("/api/v1/workloads", "200"), 1.0, "{families}");
    assert_eq!(count("/api/v1/workloads", "401"), 1.0, "{families}");
    assert_eq!(count("unmatched", "404"), 1.0, "{families}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_without_credentials() -> Result<()> {
    let s = TestServer::start().await?;
    let (status, doc) = s
        .call("GET", bulwark_server::api::OPENAPI_PATH, None, None)
        .await?;
    assert_eq!(status, 200);
    let paths: BTreeSet<String> = doc["paths"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert!(paths.contains("/api/v1/profiles/{id}/mode"));
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_scan_shows_in_images_findings_and_the_compliance_report() -> Result<()> {
    uploaded_scan_is_reported(&TestServer::start().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_scan_shows_in_images_findings_and_the_compliance_report_on_postgresql()
-> Result<()> {
    uploaded_scan_is_reported(&TestServer::start_postgres().await?).await
}

async fn uploaded_scan_is_reported(s: &TestServer) -> Result<()> {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let scan = json!({
        "digest": digest,
        "reference": "registry.example/shop/web:1.2",
        "packages": 120,
        "checks": [{"id": "4.1", "title": "Image runs as a non-root user", "status": "fail", "detail": "USER is root"}],
        "findings": [
            {"vulnerability": "CVE-2024-0001", "package": "openssl", "version": "3.0.1", "fixed": "3.0.13", "severity": "critical", "summary": "x"},
            {"vulnerability": "CVE-2024-0002", "package": "zlib", "version": "1.2", "fixed": null, "severity": "low", "summary": "y"}
        ]
    });
    s.ok("POST", "/api/v1/images", &s.admin, Some(scan)).await?;
    let images = s.ok("GET", "/api/v1/images", &s.admin, None).await?;
    assert_eq!(images[0]["findings"]["critical"], 1, "{images}");
    let path = format!("/api/v1/images/{digest}/findings?min_severity=high");
    let findings = s.ok("GET", &path, &s.admin, None).await?;
    assert_eq!(findings.as_array().map(Vec::len), Some(1), "{findings}");
    assert_eq!(findings[0]["vulnerability"], "CVE-2024-0001");
    let report = s.ok("GET", "/api/v1/compliance", &s.admin, None).await?;
    assert_eq!(report["images"][0]["checks"][0]["status"], "fail");
    assert_eq!(report["summary"]["fail"], 1);
    let html = s
        .http
        .get(format!("{}/api/v1/compliance?format=html", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await?;
    assert!(
        html.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .starts_with("text/html")
    );
    let page = html.text().await?;
    assert!(page.contains("registry.example/shop/web:1.2") && page.contains("NIST SP 800-190"));
    // A path-traversal-looking digest is refused, not looked up as a file.
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/images",
            Some(&s.admin),
            Some(json!({"digest": "../../etc/passwd", "reference": "r", "packages": 0})),
        )
        .await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repush_replaces_findings_keeps_omitted_layers_and_refuses_bad_layer_digests()
-> Result<()> {
    let s = TestServer::start().await?;
    let scanner = s.user_with_role("ci", Some(("scanner", "cluster"))).await?;
    let digest = format!("sha256:{}", "cd".repeat(32));
    let layer = format!("sha256:{}", "ef".repeat(32));
    let finding = |id: &str| {
        json!({"vulnerability": id, "package": "zlib", "version": "1.2", "fixed": null,
               "severity": "high", "summary": "", "layer": layer})
    };
    let scan = json!({
        "digest": digest, "reference": "shop/web:1", "packages": 3,
        "layers": [{"index": 0, "diff_id": layer, "created_by": "RUN apt-get install zlib"}],
        "findings": [finding("CVE-1"), finding("CVE-2")],
    });
    s.ok("POST", "/api/v1/images", &scanner, Some(scan)).await?;
    // A re-match result: no layers, one finding left.
    let rematch = json!({"digest": digest, "reference": "shop/web:1", "packages": 3,
                         "findings": [finding("CVE-2")]});
    s.ok("POST", "/api/v1/images", &scanner, Some(rematch))
        .await?;
    let images = s.ok("GET", "/api/v1/images", &s.admin, None).await?;
    assert_eq!(images.as_array().map(Vec::len), Some(1), "{images}");
    assert_eq!(
        images[0]["layers"][0]["created_by"],
        "RUN apt-get install zlib"
    );
    assert_eq!(images[0]["findings"], json!({"high": 1}));
    let path = format!("/api/v1/images/{digest}/findings");
    let findings = s.ok("GET", &path, &s.admin, None).await?;
    assert_eq!(findings[0]["vulnerability"], "CVE-2", "{findings}");
    assert_eq!(findings[0]["layer"], layer.as_str());

    for bad in [
        json!({"digest": digest, "reference": "r", "packages": 0,
               "layers": [{"index": 0, "diff_id": "../../etc/passwd"}]}),
        json!({"digest": digest, "reference": "r", "packages": 0,
               "findings": [{"vulnerability": "CVE-3", "package": "p", "version": "1",
                             "severity": "low", "layer": "sha256:xyz"}]}),
    ] {
        let (status, err) = s
            .call("POST", "/api/v1/images", Some(&scanner), Some(bad))
            .await?;
        assert_eq!(status, 400, "{err}");
        assert!(
            err["message"]
                .as_str()
                .unwrap_or("")
                .contains("expected sha256:"),
            "{err}"
        );
    }
    Ok(())
}
