//! `--server URL --token-file FILE` of `bulwark scan` and `bulwark db
//! import`: sends an image's scan (digest, name, layers, findings) to the
//! control plane's images API (`POST /api/v1/images`, allowed to the
//! `scanner` role and to roles that manage images). Pushing the same digest
//! again replaces its findings on the server.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bulwark_control::compliance::Check;
use bulwark_server::api::images::{FindingBody, ScanBody};
use bulwark_server::model::LayerView;
use bulwark_vulndb::matcher::Finding;
use bulwark_vulndb::report::ScanReport;
use bulwark_vulndb::store::{FindingEvent, Store};
use ureq::tls::{TlsConfig, TlsProvider};

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Also send the results to this `bulwark server` API
    /// (http://HOST:PORT, or https:// behind a TLS terminator).
    #[arg(
        long = "server",
        value_name = "URL",
        env = "BULWARK_SERVER_URL",
        requires = "token_file"
    )]
    server: Option<String>,
    /// The API token to push with (a user bound to the `scanner` role).
    #[arg(long, value_name = "FILE", env = "BULWARK_SERVER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

/// A checked `--server` and its token.
pub struct Pusher {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl PushArgs {
    /// The pusher, when `--server` was given; bad flags fail here, before
    /// any scanning.
    pub fn pusher(&self) -> anyhow::Result<Option<Pusher>> {
        let (Some(server), Some(token_file)) = (&self.server, &self.token_file) else {
            return Ok(None);
        };
        let base = server.trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains('/') || r.contains('?')) {
            anyhow::bail!("--server {server:?}: expected http://HOST:PORT or https://HOST:PORT");
        }
        let token = std::fs::read_to_string(token_file)
            .with_context(|| format!("--token-file {}", token_file.display()))?;
        let token = token.trim().to_owned();
        if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
            anyhow::bail!(
                "--token-file {}: expected one API token on one line",
                token_file.display()
            );
        }
        let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(crypto)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Some(Pusher {
            agent,
            url: format!("{base}/api/v1/images"),
            token,
        }))
    }
}

impl Pusher {
    /// Sends one image's scan; an error names the server and its answer.
    pub fn push(&self, scan: &ScanBody) -> anyhow::Result<()> {
        let what = format!("pushing the scan of {} to {}", scan.reference, self.url);
        let body = serde_json::to_vec(scan).with_context(|| what.clone())?;
        let mut resp = self
            .agent
            .post(&self.url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .send(&body[..])
            .with_context(|| what.clone())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        anyhow::bail!("{what}: {status}: {}", message.trim());
    }
}

/// The body for a fresh scan: every finding the report shows (after
/// `--ignore-unfixed` and VEX), the image's layers and its CIS section 4
/// checks (`None` keeps what the server has).
pub fn scan_body(report: &ScanReport, checks: Option<Vec<Check>>) -> anyhow::Result<ScanBody> {
    let target = &report.target;
    Ok(ScanBody {
        digest: image_digest(&target.stored_as, &target.reference)?,
        reference: target.reference.clone(),
        packages: report.packages.len(),
        checks,
        layers: Some(
            target
                .layers
                .iter()
                .map(|l| LayerView {
                    index: u32::try_from(l.index).unwrap_or(u32::MAX),
                    diff_id: l.diff_id.clone(),
                    created_by: l.created_by.clone(),
                })
                .collect(),
        ),
        findings: report.findings.iter().map(finding_body).collect(),
    })
}

/// The body for a stored SBOM matched again after an import: its open
/// findings now (layers and checks stay as the last scan pushed them).
/// None for an inventory that is not an image (a root filesystem).
pub fn rematch_body(store: &Store, digest: &str) -> anyhow::Result<Option<ScanBody>> {
    let Some(inventory) = store.inventory(digest)? else {
        return Ok(None);
    };
    let Ok(digest) = image_digest(digest, &inventory.reference) else {
        return Ok(None);
    };
    let findings = store.open_findings(&digest)?;
    Ok(Some(ScanBody {
        digest,
        reference: inventory.reference,
        packages: inventory.components.len(),
        checks: None,
        layers: None,
        findings: findings.iter().map(|f| finding_body(&f.finding)).collect(),
    }))
}

/// Sends each image whose findings changed (the `events` of a re-match),
/// with its findings now. Images that could not be sent are kept in
/// `pending` and sent first by the next call, so a server that was down
/// misses no change.
pub fn push_rematched(
    store: &Store,
    pusher: &Pusher,
    events: &[FindingEvent],
    pending: &Path,
) -> anyhow::Result<()> {
    let mut digests = read_pending(pending)?;
    digests.extend(events.iter().map(|e| e.image_digest.clone()));
    let (mut pushed, mut failed, mut first_error) = (0, BTreeSet::new(), None);
    for digest in digests {
        let Some(body) = rematch_body(store, &digest)? else {
            continue;
        };
        match pusher.push(&body) {
            Ok(()) => pushed += 1,
            Err(e) => {
                failed.insert(digest);
                first_error.get_or_insert(e);
            }
        }
    }
    write_pending(pending, &failed)?;
    println!("pushed the findings of {pushed} image(s) to the server");
    match first_error {
        None => Ok(()),
        Some(e) => Err(e.context(format!(
            "{} image(s) not pushed; listed in {} and pushed by the next `db import --server`",
            failed.len(),
            pending.display()
        ))),
    }
}

fn read_pending(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Replaces the list atomically (removed when empty).
fn write_pending(path: &Path, digests: &BTreeSet<String>) -> anyhow::Result<()> {
    if digests.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(anyhow::Error::new(e).context(format!("removing {}", path.display())))
            }
            _ => Ok(()),
        };
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    for d in digests {
        writeln!(tmp, "{d}").with_context(|| format!("writing {}", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The key a scan is stored under, if it is an image digest (root
/// filesystems are keyed `KIND:sha256:...` and have no image to push).
fn image_digest(key: &str, reference: &str) -> anyhow::Result<String> {
    let hex = key.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key.to_owned())
    } else {
        anyhow::bail!(
            "--server: {reference} has no image digest (stored as {key}); only images can be pushed"
        )
    }
}

fn finding_body(f: &Finding) -> FindingBody {
    FindingBody {
        vulnerability: f.vuln_id.to_string(),
        package: f.package.to_string(),
        version: f.installed_version.to_string(),
        fixed: f.fixed_version.as_ref().map(ToString::to_string),
        severity: f.severity.to_string(),
        summary: f
            .summary
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        layer: f.layer.as_ref().map(ToString::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_digests_are_pushed() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(image_digest(&d, "r").ok(), Some(d));
        let rootfs = format!("rootfs:sha256:{}", "ab".repeat(32));
        let err = image_digest(&rootfs, "/srv/root").unwrap_err().to_string();
        assert!(err.contains("/srv/root has no image digest"), "{err}");
        assert!(image_digest("sha256:../../etc", "r").is_err());
    }

    #[test]
    fn server_must_be_a_bare_http_origin() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "tok\n").unwrap();
        for bad in [
            "ftp://h:1",
            "h:1",
            "http://",
            "http://h:1/api",
            "http://h:1?x",
        ] {
            let args = PushArgs {
                server: Some(bad.into()),
                token_file: Some(token.clone()),
            };
            let err = args
                .pusher()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("expected http://HOST:PORT"), "{bad}: {err}");
        }
        let ok = PushArgs {
            server: Some("http://127.0.0.1:8480/".into()),
            token_file: Some(token),
        };
        assert_eq!(
            ok.pusher().unwrap().unwrap().url,
            "http://127.0.0.1:8480/api/v1/images"
        );
    }

    #[test]
    fn a_token_file_with_two_lines_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "one\ntwo\n").unwrap();
        let args = PushArgs {
            server: Some("http://127.0.0.1:1".into()),
            token_file: Some(token),
        };
        let err = args
            .pusher()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("one API token on one line"), "{err}");
    }
}
