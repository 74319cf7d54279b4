//! The scan queue in the data directory (`D/scan-queue/`): one JSON file per
//! image the OCI hook saw, named after the image (`HEX.json`: the digest's
//! hex, or the SHA-256 of the reference and layout when the container names
//! no digest), written atomically (temporary file + rename). Names are
//! derived, never taken from the container, so an image name cannot steer
//! a write or a read outside the queue. `pushed/HEX` records the vulndb
//! build (`built_at`) an image was last pushed with; the oldest records go
//! beyond [`MAX_PUSHED`] (such an image is scanned again at its next start).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Largest queue file read back: an entry is a few hundred bytes.
const MAX_ENTRY: u64 = 64 << 10;

/// Most images waiting at once: a node starting containers from more
/// distinct images than this before the scanner catches up (or while it is
/// down) queues the rest when they start again.
pub const MAX_QUEUED: usize = 1024;

/// One image to scan, as the hook saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The container's image reference (its annotation).
    pub reference: String,
    /// The manifest digest the container runs, when its annotations say.
    #[serde(default)]
    pub digest: Option<String>,
    /// The OCI layout the hook reads images from (`--image-layout`);
    /// without it, the image is read from its registry.
    #[serde(default)]
    pub layout: Option<PathBuf>,
    /// Talk plain HTTP to the registry (the hook's `--plain-http`).
    #[serde(default)]
    pub plain_http: bool,
    /// Extra registry CA certificates (the hook's `--registry-ca`).
    #[serde(default)]
    pub registry_ca: Vec<PathBuf>,
}

impl Entry {
    /// The queue key: the digest's hex for `sha256:` digests, else the
    /// SHA-256 of reference and layout.
    pub fn key(&self) -> String {
        if let Some(hex) = self.digest.as_deref().and_then(digest_hex) {
            return hex.to_owned();
        }
        let layout = self.layout.as_deref().unwrap_or(Path::new(""));
        let mut id = self.reference.as_bytes().to_vec();
        id.push(0);
        id.extend_from_slice(layout.as_os_str().as_encoded_bytes());
        let digest = bulwark_image::Digest::sha256(&id).to_string();
        digest.trim_start_matches("sha256:").to_owned()
    }
}

fn digest_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|h| is_key(h))
}

/// A queue key: 64 lowercase hex digits.
pub fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `D/scan-queue`.
pub fn dir(data: &Path) -> PathBuf {
    data.join("scan-queue")
}

/// Adds (or refreshes) the entry: one atomic file write. Returns its path.
/// An image already queued (same key) is refreshed in place; a new one
/// is refused once [`MAX_QUEUED`] images wait.
pub fn enqueue(queue: &Path, entry: &Entry) -> anyhow::Result<PathBuf> {
    enqueue_bounded(queue, entry, MAX_QUEUED)
}

fn enqueue_bounded(queue: &Path, entry: &Entry, max: usize) -> anyhow::Result<PathBuf> {
    let key = entry.key();
    let path = queue.join(format!("{key}.json"));
    if !path.is_file() {
        let waiting = keys(queue)?.len();
        anyhow::ensure!(
            waiting < max,
            "scan queue {} is full ({waiting} images wait, at most {max}): {} not queued",
            queue.display(),
            entry.reference.escape_debug()
        );
    }
    let body = serde_json::to_vec(entry).context("encoding the scan queue entry")?;
    write_atomic(&path, &body)?;
    Ok(path)
}

/// Replaces `path` atomically (a reader sees the old or the new content).
pub fn write_atomic(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.write_all(body)
        .with_context(|| format!("writing {}", path.display()))?;
    // On disk before the rename, so a crash never leaves an empty entry.
    tmp.as_file()
        .sync_data()
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Whether entry `key` waits in the queue.
pub fn is_queued(queue: &Path, key: &str) -> bool {
    is_key(key) && queue.join(format!("{key}.json")).is_file()
}

/// The keys queued now, sorted. Files that are not `KEY.json` regular
/// files (temporary files, symlinks, anything else) are not entries.
pub fn keys(queue: &Path) -> anyhow::Result<Vec<String>> {
    let list = match std::fs::read_dir(queue) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", queue.display())),
    };
    let mut keys = Vec::new();
    for item in list {
        let item = item.with_context(|| format!("listing {}", queue.display()))?;
        let name = item.file_name();
        let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if is_key(key) && item.file_type().is_ok_and(|t| t.is_file()) {
            keys.push(key.to_owned());
        }
    }
    keys.sort();
    Ok(keys)
}

/// Reads entry `key` (None if it is gone). Symlinks are refused.
pub fn read(queue: &Path, key: &str) -> anyhow::Result<Option<Entry>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    anyhow::ensure!(is_key(key), "scan queue: {key:?} is not a queue key");
    let path = queue.join(format!("{key}.json"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_ENTRY,
        "{}: larger than {MAX_ENTRY} bytes: not a scan queue entry",
        path.display()
    );
    let entry = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a scan queue entry", path.display()))?;
    Ok(Some(entry))
}

/// Removes entry `key` (done, or unreadable).
pub fn remove(queue: &Path, key: &str) -> anyhow::Result<()> {
    let path = queue.join(format!("{key}.json"));
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The vulndb build `key` was last pushed with.
pub fn pushed_with(queue: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(queue.join("pushed").join(key)).ok()?;
    Some(text.trim().to_owned())
}

/// Most push records kept.
pub const MAX_PUSHED: usize = 4096;

/// Records that `key` was pushed with vulndb build `built_at`, keeping the
/// newest [`MAX_PUSHED`] records.
pub fn mark_pushed(queue: &Path, key: &str, built_at: &str) -> anyhow::Result<()> {
    mark_pushed_bounded(queue, key, built_at, MAX_PUSHED)
}

fn mark_pushed_bounded(queue: &Path, key: &str, built_at: &str, max: usize) -> anyhow::Result<()> {
    let pushed = queue.join("pushed");
    write_atomic(&pushed.join(key), format!("{built_at}\n").as_bytes())?;
    let list =
        std::fs::read_dir(&pushed).with_context(|| format!("listing {}", pushed.display()))?;
    let mut records: Vec<(std::time::SystemTime, PathBuf)> = list
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_key))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if records.len() > max {
        records.sort();
        for (_, old) in &records[..records.len() - max] {
            std::fs::remove_file(old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(reference: &str, digest: Option<&str>) -> Entry {
        Entry {
            reference: reference.into(),
            digest: digest.map(str::to_owned),
            layout: None,
            plain_http: false,
            registry_ca: Vec::new(),
        }
    }

    #[test]
    fn an_entry_round_trips_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let d = format!("sha256:{}", "ab".repeat(32));
        let e = entry("reg.example/web:1", Some(&d));
        let path = enqueue(dir.path(), &e).unwrap();
        assert_eq!(path, dir.path().join(format!("{}.json", "ab".repeat(32))));
        assert_eq!(keys(dir.path()).unwrap(), vec!["ab".repeat(32)]);
        assert_eq!(read(dir.path(), &"ab".repeat(32)).unwrap(), Some(e));
    }

    #[test]
    fn path_traversal_in_an_image_name_or_digest_stays_in_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let queue = dir.path().join("q");
        let e = entry("../../../etc/passwd", Some("sha256:../../../etc/shadow"));
        let path = enqueue(&queue, &e).unwrap();
        assert_eq!(path.parent(), Some(queue.as_path()));
        let key = keys(&queue).unwrap();
        assert_eq!(key.len(), 1);
        assert!(is_key(&key[0]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(read(&queue, "../x").is_err());
    }

    #[test]
    fn symlinks_and_stray_files_are_not_entries() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("secret");
        std::fs::write(&outside, "{}").unwrap();
        let queue = dir.path().join("q");
        std::fs::create_dir(&queue).unwrap();
        let key = "cd".repeat(32);
        std::os::unix::fs::symlink(&outside, queue.join(format!("{key}.json"))).unwrap();
        std::fs::write(queue.join("notes.json"), "{}").unwrap();
        std::fs::write(queue.join(".tmpXYZ"), "{}").unwrap();
        assert!(keys(&queue).unwrap().is_empty());
        assert!(read(&queue, &key).is_err(), "a symlinked entry is refused");
    }

    #[test]
    fn a_huge_or_malformed_entry_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let key = "ef".repeat(32);
        let path = dir.path().join(format!("{key}.json"));
        std::fs::write(&path, vec![b' '; (MAX_ENTRY + 10) as usize]).unwrap();
        let err = read(dir.path(), &key).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
        std::fs::write(&path, "not json").unwrap();
        let err = format!("{:#}", read(dir.path(), &key).unwrap_err());
        assert!(err.contains("not a scan queue entry"), "{err}");
    }

    #[test]
    fn without_a_digest_the_key_depends_on_reference_and_layout() {
        let a = entry("reg.example/web:1", None);
        let mut b = a.clone();
        b.layout = Some("/srv/oci".into());
        assert!(is_key(&a.key()));
        assert_ne!(a.key(), b.key());
        assert_ne!(a.key(), entry("reg.example/web:2", None).key());
    }

    #[test]
    fn the_same_digest_is_queued_once_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = format!("sha256:{}", "ab".repeat(32));
        enqueue(dir.path(), &entry("reg.example/web:1", Some(&d))).unwrap();
        enqueue(dir.path(), &entry("reg.example/web:latest", Some(&d))).unwrap();
        enqueue(dir.path(), &entry("reg.example/web:1", Some(&d))).unwrap();
        assert_eq!(keys(dir.path()).unwrap(), vec!["ab".repeat(32)]);
        let kept = read(dir.path(), &"ab".repeat(32)).unwrap().unwrap();
        assert_eq!(
            kept.reference, "reg.example/web:1",
            "the latest start's name"
        );
    }

    #[test]
    fn a_full_queue_refuses_new_images_but_refreshes_queued_ones() {
        let dir = tempfile::tempdir().unwrap();
        let digest = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
        for n in 0..3 {
            enqueue_bounded(dir.path(), &entry("a", Some(&digest(n))), 3).unwrap();
        }
        let err = enqueue_bounded(dir.path(), &entry("new\n", Some(&digest(9))), 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is full (3 images wait, at most 3)"), "{err}");
        assert_eq!(keys(dir.path()).unwrap().len(), 3);
        enqueue_bounded(dir.path(), &entry("b", Some(&digest(1))), 3).unwrap();
        remove(dir.path(), &"00".repeat(32)).unwrap();
        enqueue_bounded(dir.path(), &entry("new", Some(&digest(9))), 3).unwrap();
        assert_eq!(keys(dir.path()).unwrap().len(), 3);
    }

    #[test]
    fn push_records_are_bounded_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let key = |n: u8| format!("{n:02x}").repeat(32);
        for n in 0..4 {
            mark_pushed_bounded(dir.path(), &key(n), "b", 3).unwrap();
            let old =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(n));
            std::fs::File::options()
                .write(true)
                .open(dir.path().join("pushed").join(key(n)))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        mark_pushed_bounded(dir.path(), &key(9), "b", 3).unwrap();
        for (n, kept) in [(0, false), (1, false), (2, true), (3, true), (9, true)] {
            assert_eq!(pushed_with(dir.path(), &key(n)).is_some(), kept, "{n}");
        }
    }

    #[test]
    fn the_pushed_marker_keeps_the_vulndb_build() {
        let dir = tempfile::tempdir().unwrap();
        let key = "12".repeat(32);
        assert_eq!(pushed_with(dir.path(), &key), None);
        mark_pushed(dir.path(), &key, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            pushed_with(dir.path(), &key).as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
    }
}
