//! `bulwark scan-queue`: scans the images the OCI hook queued
//! (`D/scan-queue/`, see [`queue`]), and those of the containers the node's
//! runtimes run ([`discover`]), with the local vulnerability DB, with
//! the code of `bulwark scan`, and pushes each to the server with the
//! scanner token; `bulwark up` runs it as one of its parts. An image that
//! cannot be scanned or pushed stays queued and is retried with backoff;
//! one already pushed with the current vulndb build is not scanned again
//! (later DB imports re-match stored inventories and push the changes
//! themselves: `bulwark db import --server`).

mod discover;
pub mod queue;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bulwark_image::{ImageInput, OpenOptions, Reference};
use bulwark_vulndb::store::Store;

use super::DataDir;
use super::server_push::{PushArgs, Pusher, scan_body};
use queue::Entry;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    push: PushArgs,
    /// How often to look at the queue, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    poll_secs: u64,
    /// Work through the queue once and exit (1 if something stays queued).
    #[arg(long)]
    once: bool,
    /// Only scan what the OCI hook queued; do not also queue the images of
    /// the containers the node's runtimes run.
    #[arg(long)]
    no_discover: bool,
}

/// First retry delay of an image that failed; doubled per failure.
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(600);
/// Registry network timeout per operation (the hook's default).
const REGISTRY_TIMEOUT_SECS: u64 = 10;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pusher = args
        .push
        .pusher()?
        .context("bulwark scan-queue: --server URL and --token-file FILE are required")?;
    let dir = queue::dir(&args.data.path);
    let mut retry = Retry::default();
    let mut discovery =
        (!args.no_discover).then(|| discover::Discovery::new(bulwark_containers::FsHost::real()));
    loop {
        if let Some(d) = &mut discovery {
            d.queue_new(&dir);
        }
        let left = pass(&args.data.vulndb(), &dir, &pusher, &mut retry);
        if args.once {
            return Ok(if left == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        std::thread::sleep(Duration::from_secs(args.poll_secs.max(1)));
    }
}

/// When each failed key may be tried again.
#[derive(Default)]
struct Retry {
    next: BTreeMap<String, (u32, Instant)>,
    /// The vulndb build the delays were counted under.
    db: String,
}

impl Retry {
    /// Keeps only the keys still queued.
    fn keep(&mut self, keys: &[String]) {
        self.next.retain(|k, _| keys.binary_search(k).is_ok());
    }

    /// A new vulndb build (an import, or the first one) makes every waiting
    /// image due at once: most failures wait for a DB.
    fn db_built(&mut self, built: &str) {
        if self.db != built {
            self.db = built.to_owned();
            self.next.clear();
        }
    }

    fn due(&self, key: &str, now: Instant) -> bool {
        self.next.get(key).is_none_or(|(_, at)| *at <= now)
    }

    fn failed(&mut self, key: &str, now: Instant) -> Duration {
        let failures = self.next.get(key).map_or(0, |(n, _)| *n);
        let delay = FIRST_RETRY
            .saturating_mul(1 << failures.min(10))
            .min(MAX_RETRY);
        self.next
            .insert(key.to_owned(), (failures + 1, now + delay));
        delay
    }

    fn done(&mut self, key: &str) {
        self.next.remove(key);
    }
}

/// One look at the queue; returns how many images stay queued.
fn pass(vulndb: &Path, dir: &Path, pusher: &Pusher, retry: &mut Retry) -> usize {
    let now = Instant::now();
    let keys = match queue::keys(dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bulwark scan-queue: {e:#}");
            return 1;
        }
    };
    retry.keep(&keys);
    if keys.is_empty() {
        return 0;
    }
    // Opened per pass: an import meanwhile is seen by the next scan.
    let store = Store::open_existing(vulndb).map_err(anyhow::Error::from);
    let built = store
        .as_ref()
        .ok()
        .and_then(|s| s.built_at().ok().flatten())
        .unwrap_or_default();
    retry.db_built(&built);
    let due: Vec<String> = keys.into_iter().filter(|k| retry.due(k, now)).collect();
    let mut left = 0;
    for key in due {
        let result = match &store {
            Ok(store) => scan_one(store, &built, dir, &key, pusher),
            Err(e) => Err(anyhow::anyhow!(
                "{e:#} (import advisories with `bulwark db import`)"
            )),
        };
        match result {
            Ok(Some(done)) => {
                retry.done(&key);
                println!("bulwark scan-queue: {done}");
            }
            Ok(None) => retry.done(&key),
            Err(e) => {
                left += 1;
                let delay = retry.failed(&key, now);
                eprintln!(
                    "bulwark scan-queue: {key}: {e:#}; stays queued, next try in {} s",
                    delay.as_secs()
                );
            }
        }
    }
    left
}

/// Scans and pushes entry `key`; None when there was nothing to do.
fn scan_one(
    store: &Store,
    built: &str,
    dir: &Path,
    key: &str,
    pusher: &Pusher,
) -> anyhow::Result<Option<String>> {
    let entry = match queue::read(dir, key) {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(None),
        Err(e) => {
            // Not something the hook wrote: never scannable, so not retried.
            queue::remove(dir, key)?;
            eprintln!("bulwark scan-queue: dropped {key}: {e:#}");
            return Ok(None);
        }
    };
    if queue::pushed_with(dir, key).as_deref() == Some(built) {
        queue::remove(dir, key)?;
        return Ok(None);
    }
    let (input, options) = source(&entry)?;
    let scanned = super::scan::scan_image(store, &input, &entry.reference, &options)?;
    let body = scan_body(&scanned.report, scanned.checks)?;
    if let Some(want) = &entry.digest
        && *want != body.digest
    {
        anyhow::bail!(
            "{}: the image read is {}, not the {want} the container runs",
            entry.reference,
            body.digest
        );
    }
    pusher.push(&body)?;
    queue::mark_pushed(dir, key, built)?;
    queue::remove(dir, key)?;
    Ok(Some(format!(
        "pushed {} ({}, {} findings) to the server",
        body.reference,
        body.digest,
        body.findings.len()
    )))
}

/// Where the image is read from: the hook's OCI layout (the manifest the
/// digest names, else the reference's ref name), else its registry.
fn source(entry: &Entry) -> anyhow::Result<(ImageInput, OpenOptions)> {
    let options = OpenOptions {
        registry: bulwark_image::registry::RegistryOptions {
            plain_http: entry.plain_http,
            ca_files: entry.registry_ca.clone(),
            // One unreachable registry must not hold up the queue for long.
            timeout_secs: REGISTRY_TIMEOUT_SECS,
            ..Default::default()
        },
        ..OpenOptions::default()
    };
    if let Some(layout) = &entry.layout {
        return Ok((layout_input(layout, entry)?, options));
    }
    let text = match &entry.digest {
        Some(d) if !entry.reference.contains('@') => format!("{}@{d}", entry.reference),
        _ => entry.reference.clone(),
    };
    let reference: Reference = text
        .parse()
        .with_context(|| format!("image {:?}: not a registry reference", entry.reference))?;
    Ok((ImageInput::Registry(reference), options))
}

fn layout_input(layout: &Path, entry: &Entry) -> anyhow::Result<ImageInput> {
    let store = super::trust::LayoutStore::open(layout)?;
    let by_digest = entry
        .digest
        .as_deref()
        .and_then(|d| d.parse().ok())
        .and_then(|d| store.ref_name(&d).map(str::to_owned));
    Ok(ImageInput::OciLayout {
        path: PathBuf::from(layout),
        name: Some(by_digest.unwrap_or_else(|| entry.reference.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_a_success_clears_them() {
        let mut r = Retry::default();
        let t = Instant::now();
        assert!(r.due("k", t));
        assert_eq!(r.failed("k", t), FIRST_RETRY);
        assert!(!r.due("k", t));
        assert!(r.due("k", t + FIRST_RETRY));
        assert_eq!(r.failed("k", t), FIRST_RETRY * 2);
        for _ in 0..20 {
            r.failed("k", t);
        }
        assert_eq!(r.failed("k", t), MAX_RETRY);
        r.done("k");
        assert!(r.due("k", t));
    }

    fn pusher(dir: &Path) -> Pusher {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            push: PushArgs,
        }
        let token = dir.join("token");
        std::fs::write(&token, "t0k3n\n").unwrap();
        let flags = <Flags as clap::Parser>::try_parse_from([
            "t".as_ref(),
            "--server".as_ref(),
            "http://127.0.0.1:9".as_ref(),
            "--token-file".as_ref(),
            token.as_os_str(),
        ])
        .unwrap();
        flags.push.pusher().unwrap().unwrap()
    }

    #[test]
    fn a_failed_scan_stays_queued_backs_off_and_is_retried_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue::dir(dir.path());
        let d = format!("sha256:{}", "ab".repeat(32));
        let e = Entry {
            reference: "reg.example/web:1".into(),
            digest: Some(d),
            layout: None,
            plain_http: false,
            registry_ca: Vec::new(),
        };
        queue::enqueue(&queue, &e).unwrap();
        let pusher = pusher(dir.path());
        // No vulndb yet: the scan fails, the entry stays.
        let vulndb = dir.path().join("vulndb");
        let mut retry = Retry::default();
        assert_eq!(pass(&vulndb, &queue, &pusher, &mut retry), 1);
        assert_eq!(queue::keys(&queue).unwrap(), vec!["ab".repeat(32)]);
        // The next poll does not try it again: it waits for its backoff.
        assert!(!retry.due(&"ab".repeat(32), Instant::now()));
        assert_eq!(pass(&vulndb, &queue, &pusher, &mut retry), 0);
        // A restarted scanner (fresh retry state) finds it in the files.
        let mut restarted = Retry::default();
        assert_eq!(pass(&vulndb, &queue, &pusher, &mut restarted), 1);
        assert_eq!(queue::read(&queue, &"ab".repeat(32)).unwrap(), Some(e));
        // A DB import makes it due at once; gone entries are forgotten.
        restarted.db_built("2026-01-01T00:00:00Z");
        assert!(restarted.due(&"ab".repeat(32), Instant::now()));
        restarted.failed("gone", Instant::now());
        restarted.keep(&["ab".repeat(32)]);
        assert!(restarted.next.is_empty());
    }

    #[test]
    fn an_entry_the_hook_did_not_write_is_dropped_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue::dir(dir.path());
        std::fs::create_dir_all(&queue).unwrap();
        let key = "ef".repeat(32);
        std::fs::write(queue.join(format!("{key}.json")), "{\"not\": \"an entry\"}").unwrap();
        let store = dir.path().join("vulndb");
        bulwark_vulndb::store::Store::open_or_create(&store).unwrap();
        let mut retry = Retry::default();
        assert_eq!(pass(&store, &queue, &pusher(dir.path()), &mut retry), 0);
        assert!(queue::keys(&queue).unwrap().is_empty());
    }

    #[test]
    fn a_registry_entry_pins_the_digest_the_container_runs() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let e = Entry {
            reference: "reg.example/web:1".into(),
            digest: Some(d.clone()),
            layout: None,
            plain_http: false,
            registry_ca: Vec::new(),
        };
        let (input, _) = source(&e).unwrap();
        let ImageInput::Registry(r) = input else {
            panic!("{input:?}")
        };
        assert_eq!(r.digest().map(ToString::to_string), Some(d));
        let bad = Entry {
            reference: "../../etc/passwd".into(),
            ..e
        };
        assert!(source(&bad).is_err());
    }
}
