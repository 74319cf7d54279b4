//! The nano-segmentation scenario suite (`scenarios/nanoseg/*.yaml`) against
//! a real `bulwark agent --profiles` (eBPF sensor) and a real runc container:
//! learn in Discover until the agent promotes every class, stay in Monitor
//! with benign activity only (every alert is a false positive), then run
//! each attack step and wait for the alerts it expects.
//!
//! Results (detection, false positives per hour, time from action to alert)
//! are printed and written to `target/.../nanoseg-scenarios/NAME.json`.
//! `NANOSEG_MONITOR_SECONDS` lengthens the benign phase (bench/nanoseg-soak.sh).
//! Needs root, runc, busybox-static, gcc and static libc (libc6-dev).

#![allow(clippy::panic, reason = "test helpers fail the test by panicking")]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bulwark_testkit::{Access, Container, Network};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    image: String,
    command: Vec<String>,
    quiet_window: u64,
    learn_timeout: u64,
    monitor_seconds: u64,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    name: String,
    #[serde(default)]
    falco: Option<String>,
    #[serde(default)]
    listen: bool,
    run: Vec<String>,
    expect: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    5
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(name: &str) -> Scenario {
    let path = repo_root().join("scenarios/nanoseg").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Static helper binaries for steps that need a syscall busybox cannot make.
fn helpers() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nanoseg-helpers");
    let _ = std::fs::create_dir_all(&out);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nanoseg");
    for name in ["ptrace-attach", "memfd-exec"] {
        let c = src.join(format!("{name}.c"));
        let bin = out.join(name);
        let fresh = std::fs::metadata(&bin)
            .and_then(|b| Ok(b.modified()? >= std::fs::metadata(&c)?.modified()?))
            .unwrap_or(false);
        if fresh {
            continue;
        }
        let status = Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&bin)
            .arg(&c)
            .status()
            .unwrap_or_else(|e| {
                panic!("gcc is needed to build {name} (Debian: gcc, libc6-dev): {e}")
            });
        assert!(
            status.success(),
            "gcc -static failed for {name} (Debian: libc6-dev has libc.a)"
        );
    }
    out
}

/// `bulwark agent --profiles` writing alerts to a file; killed on drop.
struct Agent {
    child: Child,
    stderr: PathBuf,
}

impl Agent {
    fn start(data: &Path, alerts: &Path, quiet: u64) -> Agent {
        let stderr = data.join("agent.stderr");
        let err_file = std::fs::File::create(&stderr).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .args([
                "agent",
                "--profiles",
                "--metrics",
                "127.0.0.1:0",
                "--environment",
                "scenario",
            ])
            .args(["--quiet-window", &quiet.to_string(), "--dedup-window", "2"])
            .arg("--alerts")
            .arg(format!("file:{}", alerts.display()))
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(err_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start bulwark agent: {e}"));
        let mut agent = Agent { child, stderr };
        agent.wait_ready();
        agent
    }

    /// The sensor is attached once the agent serves metrics.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "agent exited ({status}): {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            if text.contains("metrics on http://") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "agent not ready: {}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Alerts written so far about `container`, and the agent's own health
/// reports. Other tests' containers run on the same machine and the agent
/// sees them too: their alerts are theirs.
fn alerts(path: &Path, container: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|a| {
            a["container_id"] == container
                || (a["container_id"].is_null() && a["reason"]["kind"] == "health")
        })
        .collect()
}

/// `rule:ID` or `deviation:CLASS` or `health:DETAIL`.
fn label(alert: &serde_json::Value) -> String {
    let r = &alert["reason"];
    match r["kind"].as_str() {
        Some("rule") => format!("rule:{}", r["rule"]["id"].as_str().unwrap_or("?")),
        Some("deviation") => format!("deviation:{}", r["class"].as_str().unwrap_or("?")),
        _ => format!("health:{}", r["detail"].as_str().unwrap_or("?")),
    }
}

fn profile_modes(data: &Path, workload: &str) -> Option<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["profile", "show", workload, "--json", "--data-dir"])
        .arg(data)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v["spec"]["modes"].clone())
}

/// Requests the container's web server from the host side, until stopped.
fn host_client(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut s) = TcpStream::connect_timeout(
                &addr.parse().unwrap_or_else(|e| panic!("{e}")),
                Duration::from_secs(1),
            ) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
                let _ = s.read_to_end(&mut Vec::new());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// What one attack step produced.
#[derive(Debug, serde::Serialize)]
struct StepResult {
    name: String,
    falco: Option<String>,
    expected: Vec<String>,
    detected: bool,
    /// Time from starting the action (`runc exec`) to each expected rule's
    /// alert being written, in ms.
    latency_ms: Vec<Option<u128>>,
    /// Of that, time from the start to the kernel event the alert is about
    /// (process start-up, `runc exec`, a blocking syscall returning).
    event_ms: Vec<Option<i128>>,
    /// Every alert the step produced: label and message.
    alerts: Vec<(String, String)>,
}

fn run_step(step: &Step, container: &Container, alerts_path: &Path) -> StepResult {
    let before = alerts(alerts_path, container.id()).len();
    let host = container
        .network()
        .map(|n| n.host_addr().to_string())
        .unwrap_or_default();
    let listener = step
        .listen
        .then(|| TcpListener::bind(format!("{host}:0")).unwrap_or_else(|e| panic!("{e}")));
    let port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    let acceptor = listener.map(|l| {
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                std::thread::sleep(Duration::from_millis(1500));
                drop(s);
            }
        })
    });
    let args: Vec<String> = step
        .run
        .iter()
        .map(|a| {
            a.replace("{host}", &host)
                .replace("{port}", &port.to_string())
        })
        .collect();
    let start = Instant::now();
    let start_wall = time::OffsetDateTime::now_utc();
    let exec = {
        let args = args.clone();
        let id = container.id().to_owned();
        std::thread::spawn(move || {
            let _ = Command::new("runc")
                .arg("exec")
                .arg(&id)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        })
    };
    let mut latency: Vec<Option<u128>> = vec![None; step.expect.len()];
    let mut event_ms: Vec<Option<i128>> = vec![None; step.expect.len()];
    let deadline = start + Duration::from_secs(step.timeout_seconds);
    while Instant::now() < deadline && latency.iter().any(Option::is_none) {
        let now = alerts(alerts_path, container.id());
        for (i, want) in step.expect.iter().enumerate() {
            let hit = now[before..]
                .iter()
                .find(|a| label(a) == format!("rule:{want}"));
            if let (Some(a), None) = (hit, latency[i]) {
                latency[i] = Some(start.elapsed().as_millis());
                let at = a["time"].as_str().and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                });
                event_ms[i] = at.map(|t| (t - start_wall).whole_milliseconds());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = exec.join();
    if let Some(a) = acceptor {
        let _ = a.join();
    }
    std::thread::sleep(Duration::from_millis(300));
    let produced: Vec<(String, String)> = alerts(alerts_path, container.id())[before..]
        .iter()
        .map(|a| {
            (
                label(a),
                a["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    StepResult {
        name: step.name.clone(),
        falco: step.falco.clone(),
        expected: step.expect.clone(),
        detected: latency.iter().all(Option::is_some),
        latency_ms: latency,
        event_ms,
        alerts: produced,
    }
}

#[derive(Debug, serde::Serialize)]
struct Report {
    scenario: String,
    learn_seconds: f64,
    monitor_seconds: u64,
    false_positives: Vec<String>,
    false_positives_per_hour: f64,
    /// The agent's own health reports (hooks missing, events lost).
    health: Vec<String>,
    detected: usize,
    steps: usize,
    detection_rate: f64,
    latency_ms_median: Option<u128>,
    latency_ms_max: Option<u128>,
    results: Vec<StepResult>,
}

fn write_report(report: &Report) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nanoseg-scenarios");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}.json", report.scenario));
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(report).unwrap_or_default(),
    );
    eprintln!("scenario {}: report in {}", report.scenario, path.display());
    eprintln!(
        "  learned in {:.1}s; monitor {}s: {} false positives ({:.1}/h), {} health reports; detected {}/{} ({:.0}%); latency median {:?} ms, max {:?} ms",
        report.learn_seconds,
        report.monitor_seconds,
        report.false_positives.len(),
        report.false_positives_per_hour,
        report.health.len(),
        report.detected,
        report.steps,
        report.detection_rate * 100.0,
        report.latency_ms_median,
        report.latency_ms_max
    );
    for r in &report.results {
        let labels: Vec<&str> = r.alerts.iter().map(|(l, _)| l.as_str()).collect();
        eprintln!(
            "  {:<6} {:<46} alert {:?} ms, event {:?} ms: {:?}",
            if r.detected { "ok" } else { "MISSED" },
            r.name,
            r.latency_ms,
            r.event_ms,
            labels
        );
    }
}

/// `registry/name:tag` -> `registry/name-PID:tag`.
fn unique_image(image: &str) -> String {
    let repo = bulwark_profile::repository(image);
    format!("{repo}-{}{}", std::process::id(), &image[repo.len()..])
}

fn run_scenario(file: &str) -> Report {
    let sc = load(file);
    let helpers = helpers();
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let alerts_path = data.path().join("alerts.jsonl");
    let agent = Agent::start(data.path(), &alerts_path, sc.quiet_window);
    // A repository of this run's own, so runs on one machine (CI, a soak)
    // never share a workload.
    let image = unique_image(&sc.image);
    let workload = format!("image:{}", bulwark_profile::repository(&image));
    let container = Container::builder(&format!("nanoseg-{}", sc.name))
        .args(sc.command.iter().map(String::as_str))
        .writable_rootfs()
        .network(Network::Veth)
        .image(&image, None)
        .bind(&helpers, "/opt/attack", Access::ReadOnly)
        .start()
        .unwrap_or_else(|e| panic!("container: {e}"));
    let addr = container
        .network()
        .map(|n| format!("{}:8080", n.container_addr()))
        .unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let client = host_client(addr, Arc::clone(&stop));

    let learn_start = Instant::now();
    let all_monitor = serde_json::json!({"process": "monitor", "file": "monitor", "network": "monitor", "capability": "monitor"});
    while profile_modes(data.path(), &workload) != Some(all_monitor.clone()) {
        assert!(
            learn_start.elapsed() < Duration::from_secs(sc.learn_timeout),
            "not promoted after {}s: modes {:?}; alerts {:?}; agent: {}",
            sc.learn_timeout,
            profile_modes(data.path(), &workload),
            alerts(&alerts_path, container.id()),
            std::fs::read_to_string(&agent.stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let learn_seconds = learn_start.elapsed().as_secs_f64();

    let monitor_seconds = std::env::var("NANOSEG_MONITOR_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(sc.monitor_seconds);
    std::thread::sleep(Duration::from_secs(monitor_seconds));
    // Benign activity only so far, in Discover and in Monitor: every rule or
    // deviation alert is a false positive. Health reports are the agent's.
    let (health, false_positives): (Vec<String>, Vec<String>) =
        alerts(&alerts_path, container.id())
            .iter()
            .map(|a| {
                format!(
                    "{}: {}",
                    label(a),
                    a["message"].as_str().unwrap_or_default()
                )
            })
            .partition(|l| l.starts_with("health:"));
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();

    // Steps are spaced past the agent's dedup window, so identical alerts of
    // two steps are not folded into one.
    let results: Vec<StepResult> = sc
        .steps
        .iter()
        .map(|s| {
            std::thread::sleep(Duration::from_millis(2500));
            run_step(s, &container, &alerts_path)
        })
        .collect();
    let mut latencies: Vec<u128> = results
        .iter()
        .flat_map(|r| r.latency_ms.iter().flatten().copied())
        .collect();
    latencies.sort_unstable();
    let detected = results.iter().filter(|r| r.detected).count();
    drop(container);
    let agent_log = agent.stop();
    let verify = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data.path())
        .output();
    let intact = verify.map(|o| o.status.success()).unwrap_or(false);
    assert!(
        intact,
        "audit log of the scenario does not verify; agent: {agent_log}"
    );
    let total_monitor = learn_seconds as u64 + monitor_seconds;
    Report {
        scenario: sc.name.clone(),
        learn_seconds,
        monitor_seconds,
        false_positives_per_hour: false_positives.len() as f64 * 3600.0
            / total_monitor.max(1) as f64,
        false_positives,
        health,
        detected,
        steps: results.len(),
        detection_rate: detected as f64 / results.len().max(1) as f64,
        latency_ms_median: latencies.get(latencies.len() / 2).copied(),
        latency_ms_max: latencies.last().copied(),
        results,
    }
}

#[test]
fn web_workload_learned_quiet_in_monitor_and_every_attack_detected() {
    let report = run_scenario("web.yaml");
    write_report(&report);
    assert!(
        report.false_positives.is_empty(),
        "false positives: {:?}",
        report.false_positives
    );
    let missed: Vec<&str> = report
        .results
        .iter()
        .filter(|r| !r.detected)
        .map(|r| r.name.as_str())
        .collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
}

#[test]
fn every_scenario_file_parses_and_names_known_rules() {
    let dir = repo_root().join("scenarios/nanoseg");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        files += 1;
        let sc = load(&name);
        for step in &sc.steps {
            for rule in &step.expect {
                assert!(
                    bulwark_profile::detect::CATALOG
                        .iter()
                        .any(|r| r.id == rule),
                    "{name}: {}: unknown rule {rule}",
                    step.name
                );
            }
        }
    }
    assert!(files > 0, "no scenarios in {}", dir.display());
}
