//! Polling files for changes (size, mtime, inode), for the SVID files and
//! the AccessPolicy files a running proxy re-reads.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Calls `reload(owner)` whenever one of `paths` changed since this call,
/// checking every `every`, until `owner` is held by nobody else.
pub(crate) fn on_change<T, F>(paths: Vec<PathBuf>, every: Duration, owner: Arc<T>, reload: F)
where
    T: Send + Sync + 'static,
    F: FnMut(&T) + Send + 'static,
{
    // Stamped now, not when the task first runs: an edit made right after
    // this call must count as a change.
    let last = stamps(&paths);
    tokio::spawn(poll(paths, last, every, owner, reload));
}

/// `on_change` for callers without a Tokio runtime: the polling runs on its
/// own thread.
pub(crate) fn on_change_in_thread<T, F>(
    paths: Vec<PathBuf>,
    every: Duration,
    owner: Arc<T>,
    reload: F,
) -> std::io::Result<()>
where
    T: Send + Sync + 'static,
    F: FnMut(&T) + Send + 'static,
{
    let last = stamps(&paths);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("file-watch".into())
        .spawn(move || rt.block_on(poll(paths, last, every, owner, reload)))?;
    Ok(())
}

async fn poll<T, F>(
    paths: Vec<PathBuf>,
    mut last: Vec<Stamp>,
    every: Duration,
    owner: Arc<T>,
    mut reload: F,
) where
    F: FnMut(&T),
{
    loop {
        tokio::time::sleep(every).await;
        if Arc::strong_count(&owner) == 1 {
            return;
        }
        let now = stamps(&paths);
        if now != last {
            last = now;
            reload(&owner);
        }
    }
}

type Stamp = Option<(SystemTime, u64, u64)>;

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    paths.iter().map(|p| stamp(p)).collect()
}

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}
