//! A mode change made through the server's API reaches the running agent
//! and changes what it does, end to end with real processes (needs root:
//! eBPF, runc): `bulwark up` on a fresh data directory; a real runc
//! container runs a first-time program while its workload learns
//! (Discover: no alert); the agent reports the container and its learned
//! profile to the server itself (mTLS with the node SVID `up` issued); the
//! admin promotes the
//! workload to Monitor through `POST /api/v1/profiles/{id}/mode`; the same
//! agent process applies the pushed profile (reported back as applied
//! through `/api/v1/nodes`) and the next first-time program is a deviation
//! alert, read back through `/api/v1/alerts`.

mod up_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bulwark_testkit::Container;
use serde_json::{Value, json};
use up_support::{BIN, Up, call, encode, get};

const TRUST_DOMAIN: &str = "updates.test";

/// The agent's profile of `workload` once `bulwark profile show` finds it
/// and `ready` accepts it.
fn profile_on_disk(up: &Up, workload: &str, ready: impl Fn(&str) -> bool) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(BIN)
            .args(["profile", "show", workload, "--data-dir"])
            .arg(&up.data)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && ready(&text) {
            return Ok(text);
        }
        ensure!(
            Instant::now() < deadline,
            "profile of {workload} not as expected: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until the agent itself reported its profile of `workload` (in
/// Discover, with `/bin/uname` learned) to the server.
fn reported_profile(addr: &str, token: &str, workload: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = format!("/api/v1/profiles/{}", encode(workload));
    loop {
        let last = get(addr, &path, token);
        if let Ok(p) = &last
            && p["modes"]["process"] == "discover"
            && p.to_string().contains("/bin/uname")
        {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the agent did not report its profile of {workload}: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The agent's deviation alerts about `container`, as the server has them.
fn deviations(addr: &str, token: &str, container: &str) -> Result<Vec<Value>> {
    let alerts = get(addr, "/api/v1/alerts?limit=500", token)?;
    Ok(alerts
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["alert"]["container_id"] == container && a["alert"]["reason"]["kind"] == "deviation"
        })
        .map(|a| a["alert"].clone())
        .collect())
}

#[test]
fn a_mode_change_through_the_api_makes_the_running_agent_alert_on_the_next_deviation() -> Result<()>
{
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let mut up = Up::start(tmp.path(), TRUST_DOMAIN, &[])?;
    let (addr, token_file) = up.login()?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_owned();
    let parts = up.find_parts()?;
    let agent = parts
        .iter()
        .find(|(_, cmd)| cmd.split(' ').any(|w| w == "agent"))
        .context("no agent among up's children")?;
    let agent_pid = agent.0;

    // A repository of this run's own: workloads are never shared between runs.
    let repo = format!("{TRUST_DOMAIN}/web-{}", std::process::id());
    let workload = format!("image:{repo}");
    let container = Container::builder(&format!("upd-e2e-{}", std::process::id()))
        .args(["sleep", "600"])
        .image(&format!("{repo}:1"), None)
        .start()?;

    // Discover: a program run for the first time is learned, not alerted.
    container.exec(["uname", "-a"])?;
    let learned = profile_on_disk(&up, &workload, |p| p.contains("/bin/uname"))?;
    ensure!(learned.contains("process: discover"), "{learned}");
    reported_profile(&addr, &token, &workload)?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        deviations(&addr, &token, container.id())?.is_empty(),
        "a deviation alerted in Discover"
    );

    // The admin promotes the workload through the API.
    let path = format!("/api/v1/profiles/{}/mode", encode(&workload));
    let body = json!({"to": "monitor", "reason": "reviewed in e2e"});
    let (status, view) = call(&addr, "POST", &path, &token, Some(&body))?;
    ensure!(status == 200, "POST {path}: {status} {view}");
    ensure!(view["modes"]["process"] == "monitor", "{view}");

    // The same agent applies it and says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = get(&addr, "/api/v1/nodes", &token)?;
        let node = nodes.as_array().and_then(|n| {
            n.iter()
                .find(|n| n["applied_update"].as_i64().unwrap_or(0) >= 1)
        });
        if let Some(n) = node {
            ensure!(n["update_failure"].is_null(), "{n}");
            break;
        }
        if Instant::now() > deadline {
            bail!("the agent never reported the update applied: {nodes}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let applied = profile_on_disk(&up, &workload, |p| p.contains("process: monitor"))?;
    ensure!(
        applied.contains("bulwark.dev/server-version"),
        "the applied profile records the server version: {applied}"
    );

    // Monitor: the next first-time program is a deviation alert.
    container.exec(["id"])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        if let Some(a) = deviations(&addr, &token, container.id())?
            .into_iter()
            .next()
        {
            break a;
        }
        if Instant::now() > deadline {
            bail!("no deviation alert after the promotion");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    ensure!(alert["decision"] == "alert", "{alert}");
    ensure!(alert["workload"] == workload.as_str(), "{alert}");
    ensure!(
        Command::new(BIN)
            .args(["audit", "verify", "--data-dir"])
            .arg(&up.data)
            .status()?
            .success(),
        "the audit log does not verify"
    );
    let audit = std::fs::read_to_string(up.data.join("audit").join("audit.log"))?;
    ensure!(
        audit
            .lines()
            .any(|l| l.contains("\"profile.server-update\"") && l.contains("\"server\"")),
        "no profile.server-update record"
    );
    ensure!(
        Path::new(&format!("/proc/{agent_pid}")).exists(),
        "the agent was restarted: the update must apply in the running process"
    );
    drop(container);
    up.stop()?;
    println!("e2e took {:?}", started.elapsed());
    Ok(())
}
