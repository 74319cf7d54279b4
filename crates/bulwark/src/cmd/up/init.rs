//! First-start set-up: the trust-domain CA (once) and fresh SVIDs for the
//! server and this node (at every start, and again at half-life while the
//! platform runs), made by `bulwark identity`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

/// Where the server's and the node's SVID files are.
pub struct Ids {
    pub server: PathBuf,
    pub node: PathBuf,
    pub server_id: String,
    node_id: String,
    /// Lifetime of each issued SVID, as `identity issue --ttl` takes it.
    ttl: String,
}

pub fn prepare(data: &crate::cmd::DataDir, trust_domain: &str, ttl: &str) -> anyhow::Result<Ids> {
    let ca = data.identity_ca();
    let has_ca = std::fs::read_dir(&ca).is_ok_and(|mut d| d.next().is_some());
    if !has_ca {
        identity(
            data,
            &["ca", "init", "--trust-domain", trust_domain],
            "creating the trust-domain CA",
        )?;
        println!(
            "bulwark up: created the CA of trust domain {trust_domain} in {}",
            ca.display()
        );
    }
    // `enforce serve` looks policies up in D/policies and D/profiles for
    // every container the hook registers: a missing directory would refuse
    // them all (fail closed) before the agent writes its first policy.
    for dir in ["alerts", "policies", "profiles"] {
        let dir = data.path.join(dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let dir = data.path.join("ids");
    let server_id = format!("spiffe://{trust_domain}/bulwark/server");
    let node_id = format!("spiffe://{trust_domain}/bulwark/node/{}", node_name());
    let ids = Ids {
        server: dir.join("server"),
        node: dir.join("node"),
        server_id,
        node_id,
        ttl: ttl.to_owned(),
    };
    ids.issue(data)?;
    Ok(ids)
}

impl Ids {
    /// Issues both SVIDs (each file written atomically; the server and the
    /// agent re-read them when they change).
    pub fn issue(&self, data: &crate::cmd::DataDir) -> anyhow::Result<()> {
        for (id, out) in [(&self.server_id, &self.server), (&self.node_id, &self.node)] {
            let out_str = out
                .to_str()
                .with_context(|| format!("--data-dir {}: not UTF-8", data.path.display()))?;
            identity(
                data,
                &[
                    "issue",
                    "--spiffe-id",
                    id,
                    "--ttl",
                    &self.ttl,
                    "--out",
                    out_str,
                ],
                &format!("issuing the SVID {id}"),
            )?;
        }
        Ok(())
    }
}

/// Re-issues the SVIDs at half their lifetime; a failed renewal is
/// reported and tried again a tenth of the lifetime later (the current
/// SVIDs stay valid meanwhile).
pub struct Renewal<'a> {
    data: &'a crate::cmd::DataDir,
    ids: &'a Ids,
    every: Duration,
    next: Instant,
}

impl<'a> Renewal<'a> {
    pub fn new(data: &'a crate::cmd::DataDir, ids: &'a Ids, ttl: Duration) -> Renewal<'a> {
        let every = ttl / 2;
        Renewal {
            data,
            ids,
            every,
            next: Instant::now() + every,
        }
    }

    /// Renews when due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        match self.ids.issue(self.data) {
            Ok(()) => {
                println!("bulwark up: renewed the server's and the node's SVIDs");
                self.next = now + self.every;
            }
            Err(e) => {
                eprintln!("bulwark up: renewing the SVIDs failed (retrying): {e:#}");
                self.next = now + (self.every / 5).max(Duration::from_secs(1));
            }
        }
    }
}

/// This machine's host name as a SPIFFE path segment.
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() { "node".into() } else { name }
}

fn identity(data: &crate::cmd::DataDir, args: &[&str], what: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the bulwark binary")?;
    let out = Command::new(exe)
        .arg("identity")
        .arg("--data-dir")
        .arg(&data.path)
        .args(args)
        .output()
        .with_context(|| format!("{what}: cannot run bulwark identity"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!("{what}: {}", err.trim());
    }
    Ok(())
}
