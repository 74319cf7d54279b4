//! `bulwark up` end to end, with real processes (needs root: eBPF, runc):
//! the platform starts on a fresh data directory with loopback ports, a
//! real runc container runs a program from /tmp (the built-in
//! `exec-from-tmp` rule), the alert is read back through the server's API
//! with the admin token `up` created, a container started with `bulwark
//! hook` gets its image scanned and pushed by `up` (the hook's scan queue)
//! with its CIS checks in the compliance report, the image of a container
//! started without the hook is queued from runc's state, and SIGTERM stops
//! every part. With
//! 10-second SVIDs the agent's link still works after two lifetimes
//! (renewed files, picked up without restarts), and SIGKILL of `up` itself
//! stops every part (parent-death signal).

mod up_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bulwark_testkit::Container;
use up_support::{BIN, Up, get};

const TRUST_DOMAIN: &str = "up.test";

/// Runs a program from /tmp in a new runc container and waits for its
/// `exec-from-tmp` alert in `/api/v1/alerts`.
fn alert_through_api(addr: &str, token: &str, name: &str) -> Result<Container> {
    let container = Container::builder(&format!("{name}-{}", std::process::id()))
        .args(["sleep", "600"])
        .image("up.test/app:1", None)
        .writable_rootfs()
        .start()?;
    container.exec(["sh", "-c", "cp /bin/busybox /tmp/tool && /tmp/tool true"])?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alerts = get(addr, "/api/v1/alerts?limit=500", token)?;
        let seen = alerts.as_array().is_some_and(|all| {
            all.iter().any(|a| {
                a["alert"]["reason"]["rule"]["id"] == "exec-from-tmp"
                    && a["alert"]["container_id"] == container.id()
            })
        });
        if seen {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no exec-from-tmp alert of {} through the API: {alerts}",
            container.id()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(container)
}

/// `up` made a `scanner` token (0600) and said how to use it; it may push
/// an image scan and may not read images.
fn scanner_token_pushes_and_reads_nothing(up: &Up, addr: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let file = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = up
            .lines
            .recv_timeout(wait)
            .context("bulwark up did not say how to push scans")?;
        if let Some((_, rest)) = line.split_once("--token-file ") {
            break PathBuf::from(rest.split('`').next().unwrap_or_default());
        }
    };
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
    ensure!(mode == 0o600, "{}: mode {mode:o}", file.display());
    let token = std::fs::read_to_string(&file)?.trim().to_owned();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let scan = serde_json::json!({"digest": format!("sha256:{}", "ab".repeat(32)),
                                  "reference": "up.test/app:1", "packages": 0});
    let pushed = http
        .post(format!("http://{addr}/api/v1/images"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .send(scan.to_string())?;
    ensure!(
        pushed.status() == 204,
        "push with the scanner token: {}",
        pushed.status()
    );
    let read = http
        .get(format!("http://{addr}/api/v1/images"))
        .header("authorization", &auth)
        .call()?;
    ensure!(
        read.status() == 403,
        "the scanner token read images: {}",
        read.status()
    );
    Ok(())
}

/// A node vulndb knowing one critical Jinja2 advisory, and an OCI layout
/// (built here) whose image installs Jinja2 2.10, runs as `app`, has a
/// token in its ENV, no HEALTHCHECK and one set-uid file; returns the
/// layout and the image's manifest digest.
fn vulnerable_image(dir: &Path, data: &Path) -> Result<(PathBuf, String)> {
    use bulwark_image::testutil::{LayoutBuilder, TarBuilder};
    let adv = dir.join("advisories");
    std::fs::create_dir_all(&adv)?;
    let record = serde_json::json!({
        "schema_version": "1.6.0", "id": "PYSEC-0000-9", "modified": "2024-01-01T00:00:00Z",
        "summary": "jinja2 test advisory",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "jinja2"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}]}],
        "database_specific": {"severity": "critical"},
    });
    std::fs::write(adv.join("PYSEC-0000-9.json"), record.to_string())?;
    let out = Command::new(BIN)
        .args(["db", "import", "--data-dir"])
        .arg(data)
        .arg(&adv)
        .output()?;
    ensure!(
        out.status.success(),
        "db import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = TarBuilder::new()
        .file(
            "usr/lib/python3/site-packages/Jinja2-2.10.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n",
        )
        .file_mode("usr/local/bin/escalate", b"#!/bin/sh\n", 0o104755)
        .finish();
    let layout = dir.join("oci");
    let desc = LayoutBuilder::new(&layout)
        .layer(app, bulwark_image::Compression::Gzip)
        .run_config(serde_json::json!({"User": "app", "Env": ["API_TOKEN=s3cr3t"]}))
        .name("up.test/scanned:1")
        .write();
    Ok((layout, desc.digest.to_string()))
}

/// A container started with `bulwark hook` under `up` gets its image
/// scanned and pushed by `up` itself: the image and its critical finding
/// appear in `/api/v1/images` without anyone running `bulwark scan`.
fn hooked_image_scanned_through_api(
    addr: &str,
    token: &str,
    dir: &Path,
    layout: &Path,
    digest: &str,
) -> Result<()> {
    let hook = bulwark_testkit::Hook::new(BIN).args([
        BIN.to_owned(),
        "hook".into(),
        "create-runtime".into(),
        "--socket".into(),
        dir.join("enforce.sock").display().to_string(),
        "--data-dir".into(),
        dir.join("data").display().to_string(),
        "--image-layout".into(),
        layout.display().to_string(),
    ]);
    let _container = Container::builder(&format!("up-scan-{}", std::process::id()))
        .args(["sleep", "600"])
        .image("up.test/scanned:1", Some(digest))
        .hook(bulwark_testkit::HookPoint::CreateRuntime, hook)
        .start()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let images = get(addr, "/api/v1/images", token)?;
        let pushed = images
            .as_array()
            .is_some_and(|all| all.iter().any(|i| i["digest"] == digest));
        if pushed {
            let findings = get(addr, &format!("/api/v1/images/{digest}/findings"), token)?;
            let ids: Vec<&str> = findings
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f["vulnerability"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            ensure!(ids == ["PYSEC-0000-9"], "findings of {digest}: {findings}");
            return cis_checks_in_the_compliance_report(addr, token, digest);
        }
        ensure!(
            Instant::now() < deadline,
            "{digest} never reached /api/v1/images: {images}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The image's CIS section 4 checks, made at scan time, are in the
/// compliance report (JSON) next to the container checks, and count in
/// the NIST SP 800-190 assessment.
fn cis_checks_in_the_compliance_report(addr: &str, token: &str, digest: &str) -> Result<()> {
    let report = get(addr, "/api/v1/compliance", token)?;
    let image = report["images"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["digest"] == digest))
        .with_context(|| format!("{digest} not in the compliance report: {report}"))?;
    let status = |id: &str| {
        image["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or("").to_owned(),
                    c["detail"].to_string(),
                )
            })
            .unwrap_or_default()
    };
    ensure!(status("4.1").0 == "pass", "4.1: {image}");
    ensure!(status("4.6").0 == "fail", "4.6: {image}");
    ensure!(status("4.10").0 == "fail", "4.10: {image}");
    let (s48, d48) = status("4.8");
    ensure!(
        s48 == "warn" && d48.contains("/usr/local/bin/escalate (4755, layer 0)"),
        "4.8: {image}"
    );
    let nist = report["nist"]
        .as_array()
        .and_then(|n| n.iter().find(|a| a["section"] == "4.1.2"))
        .with_context(|| format!("no NIST 4.1.2 row: {report}"))?;
    ensure!(nist["coverage"] == "partial", "4.1.2: {nist}");
    Ok(())
}

/// The alert's container was started without the OCI hook: `up`'s scanner
/// found it in runc's state and queued its image (`up.test/app:1`, no
/// digest: keyed by the SHA-256 of the name, no layout). No registry serves
/// that name, so it stays queued for a retry.
fn discovered_without_the_hook(data: &Path) -> Result<()> {
    let key = bulwark_image::Digest::sha256(b"up.test/app:1\0").to_string();
    let entry = data
        .join("scan-queue")
        .join(format!("{}.json", key.trim_start_matches("sha256:")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !entry.exists() {
        ensure!(
            Instant::now() < deadline,
            "the image of a container started without the hook was not queued: {}",
            entry.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let queued: serde_json::Value = serde_json::from_slice(&std::fs::read(&entry)?)?;
    ensure!(queued["reference"] == "up.test/app:1", "{queued}");
    Ok(())
}

/// `up`'s parts, once the five expected ones run (the scanner starts
/// last, after the server made its token).
fn parts_of(up: &mut Up) -> Result<Vec<(u32, String)>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let parts = up.find_parts()?;
        let missing = ["server", "identity", "enforce", "agent", "scan-queue"]
            .into_iter()
            .find(|name| {
                !parts
                    .iter()
                    .any(|(_, cmd)| cmd.split(' ').any(|w| w == *name))
            });
        match missing {
            None => return Ok(parts),
            Some(name) if Instant::now() > deadline => {
                bail!("no {name} among up's children: {parts:?}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn up_starts_the_platform_reports_a_container_alert_and_stops_on_sigterm() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (layout, digest) = vulnerable_image(tmp.path(), &tmp.path().join("data"))?;
    let mut up = Up::start(tmp.path(), TRUST_DOMAIN, &[])?;
    let (addr, token_file) = up.login()?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_owned();

    scanner_token_pushes_and_reads_nothing(&up, &addr)?;
    let parts = parts_of(&mut up)?;
    hooked_image_scanned_through_api(&addr, &token, tmp.path(), &layout, &digest)?;

    let container = alert_through_api(&addr, &token, "up-e2e")?;
    discovered_without_the_hook(&up.data)?;
    drop(container);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(up.child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = up.child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            bail!("bulwark up did not stop within 120 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(status.success(), "bulwark up: {status}");
    for (child, cmd) in parts {
        ensure!(
            !Path::new(&format!("/proc/{child}")).exists(),
            "{cmd} (pid {child}) still runs after up stopped"
        );
    }
    Ok(())
}

#[test]
fn up_with_10s_svids_keeps_the_agent_link_past_two_lifetimes_and_sigkill_stops_every_part()
-> Result<()> {
    let tmp = tempfile::tempdir()?;
    let started = Instant::now();
    let mut up = Up::start(tmp.path(), TRUST_DOMAIN, &["--svid-ttl", "10s"])?;
    let (addr, token_file) = up.login()?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_owned();
    let parts = parts_of(&mut up)?;

    // Two lifetimes: the SVIDs issued at start have expired, and so has
    // the first renewal; only SVIDs renewed and picked up by the running
    // server and agent can carry a report now.
    let mut renewals = 0;
    while started.elapsed() < Duration::from_secs(22) || renewals < 3 {
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "only {renewals} SVID renewals within 90 s"
        );
        if let Ok(line) = up.lines.recv_timeout(Duration::from_millis(500)) {
            renewals += usize::from(line.contains("renewed the server's and the node's SVIDs"));
        }
    }
    let container = alert_through_api(&addr, &token, "up-svid")?;
    drop(container);
    for (pid, cmd) in &parts {
        ensure!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "{cmd} (pid {pid}) was restarted: the renewal must not need restarts"
        );
    }

    let pid = nix::unistd::Pid::from_raw(i32::try_from(up.child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
    up.child.wait()?;
    let killed = Instant::now();
    // The parts get SIGTERM from the kernel; the agent gives its last
    // report (to a server that is stopping too) at most --report-secs + 10 s.
    let limit = Duration::from_secs(30);
    for (child, cmd) in &parts {
        while Path::new(&format!("/proc/{child}")).exists() && !is_zombie(*child) {
            ensure!(
                killed.elapsed() < limit,
                "{cmd} (pid {child}) still runs {} s after up was killed",
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!(
        "every part of up stopped {} ms after SIGKILL",
        killed.elapsed().as_millis()
    );
    Ok(())
}

/// A part whose parent died is reaped by init (or a subreaper); until then
/// it shows as a zombie, which is stopped.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            == Some("Z")
    })
}

/// The race `--up-parent` closes: a part whose `up` died before it asked
/// for the parent-death signal sees another parent and does not start.
#[test]
fn a_part_whose_up_is_already_gone_does_not_start() -> Result<()> {
    let gone = std::process::id() + 1;
    let out = Command::new(BIN)
        .args(["--up-parent", &gone.to_string(), "version"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(2), "{}: {err}", out.status);
    ensure!(
        err.contains(&format!("bulwark up (pid {gone}) is gone")),
        "{err}"
    );
    ensure!(out.stdout.is_empty(), "the part ran: {:?}", out.stdout);
    // With the real parent it runs.
    let out = Command::new(BIN)
        .args(["--up-parent", &std::process::id().to_string(), "version"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
