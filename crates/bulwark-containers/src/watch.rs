//! Catching containers the moment their runtime writes its state, with
//! inotify on the state directories, so that even a container that lives
//! for milliseconds between two scans is known (and stays resolvable after
//! it is deleted).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

use crate::Error;
use crate::discovery::{self, StateRoot};
use crate::host::{FsHost, Host};
use crate::info::ContainerInfo;

/// Containers learned but not yet taken, at most.
const QUEUE: usize = 1024;
/// How often state roots that did not exist yet are looked for again.
const ROOT_RECHECK: Duration = Duration::from_secs(1);
const CONTAINERD_RUNC: &str = "/run/containerd/runc";

/// A thread watching the runtimes' state directories; take what it found
/// with [`StateWatcher::drain`] (e.g. into [`crate::Resolver::learn`]).
pub struct StateWatcher {
    rx: Receiver<ContainerInfo>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StateWatcher {
    pub fn start(host: FsHost) -> Result<StateWatcher, Error> {
        let inotify =
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|e| {
                Error::Watch {
                    what: "inotify_init",
                    source: e.into(),
                }
            })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bulwark-state-watch".into())
            .spawn(move || Watch::new(host, inotify, tx).run(&thread_stop))
            .map_err(|source| Error::Watch {
                what: "starting its thread",
                source,
            })?;
        Ok(StateWatcher {
            rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Containers whose state appeared or changed since the last call.
    pub fn drain(&self) -> impl Iterator<Item = ContainerInfo> + '_ {
        self.rx.try_iter()
    }
}

impl Drop for StateWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Watched {
    /// A directory of containers.
    Root(StateRoot),
    /// One container's state directory.
    Container(StateRoot, String),
    /// containerd's directory of namespaces.
    Namespaces,
    /// A directory a state root may be created in (`/run`, ...).
    Parent,
}

/// Where state roots get created: a new directory here may be one.
const PARENTS: [&str; 4] = [
    "/run",
    "/run/containerd",
    "/run/docker",
    "/run/docker/runtime-runc",
];

struct Watch {
    host: FsHost,
    inotify: Inotify,
    tx: SyncSender<ContainerInfo>,
    watches: HashMap<WatchDescriptor, Watched>,
    roots: Vec<std::path::PathBuf>,
}

impl Watch {
    fn new(host: FsHost, inotify: Inotify, tx: SyncSender<ContainerInfo>) -> Watch {
        Watch {
            host,
            inotify,
            tx,
            watches: HashMap::new(),
            roots: Vec::new(),
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut next_check = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_check {
                self.watch_roots();
                next_check = Instant::now() + ROOT_RECHECK;
            }
            let readable = {
                let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) > 0
            };
            if readable {
                for event in self.inotify.read_events().unwrap_or_default() {
                    self.handle(event);
                }
            }
        }
    }

    /// Watches every state root that exists and is not watched yet (and the
    /// directories roots appear in, so a root created later is seen at once).
    fn watch_roots(&mut self) {
        for parent in PARENTS {
            if self.roots.iter().any(|r| r == Path::new(parent)) {
                continue;
            }
            let flags =
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
            if let Ok(wd) = self
                .inotify
                .add_watch(&self.host.at(Path::new(parent)), flags)
            {
                self.roots.push(parent.into());
                self.watches.insert(wd, Watched::Parent);
            }
        }
        for root in discovery::fixed_roots() {
            self.watch_root(root);
        }
        if !self.roots.iter().any(|r| r == Path::new(CONTAINERD_RUNC)) {
            const DIR: AddWatchFlags = AddWatchFlags::IN_CREATE.union(AddWatchFlags::IN_MOVED_TO);
            if let Ok(wd) = self
                .inotify
                .add_watch(&self.host.at(Path::new(CONTAINERD_RUNC)), DIR)
            {
                self.watches.insert(wd, Watched::Namespaces);
                self.roots.push(CONTAINERD_RUNC.into());
            }
        }
        for root in discovery::state_roots(&self.host) {
            self.watch_root(root);
        }
    }

    fn watch_root(&mut self, root: StateRoot) {
        if self.roots.contains(&root.path) {
            return;
        }
        let flags = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
        if let Ok(wd) = self.inotify.add_watch(&self.host.at(&root.path), flags) {
            self.roots.push(root.path.clone());
            self.watches.insert(wd, Watched::Root(root.clone()));
            // Containers created before the watch: catch them too.
            for id in self.host.subdirs(&root.path).unwrap_or_default() {
                self.watch_container(root.clone(), id);
            }
        }
    }

    fn handle(&mut self, event: InotifyEvent) {
        if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            // Events were lost: pick up roots that appeared meanwhile; the
            // resolver's scans find containers whose events were lost.
            self.watch_roots();
            return;
        }
        if event.mask.contains(AddWatchFlags::IN_IGNORED) {
            if let Some(Watched::Root(root)) = self.watches.remove(&event.wd) {
                self.roots.retain(|r| *r != root.path);
            }
            return;
        }
        let Some(name) = event
            .name
            .as_deref()
            .and_then(OsStr::to_str)
            .map(str::to_owned)
        else {
            return;
        };
        let is_dir = event.mask.contains(AddWatchFlags::IN_ISDIR);
        match self.watches.get(&event.wd) {
            Some(Watched::Root(root)) if is_dir => {
                let root = root.clone();
                self.watch_container(root, name);
            }
            Some(Watched::Container(root, id)) if name == "state.json" || name == "status" => {
                let (root, id) = (root.clone(), id.clone());
                self.load(&root, &id);
            }
            Some(Watched::Namespaces) if is_dir => {
                self.watch_root(discovery::containerd_root(&name))
            }
            _ => {}
        }
    }

    /// Watches a new container directory, then reads its state in case it
    /// was written before the watch existed.
    fn watch_container(&mut self, root: StateRoot, id: String) {
        let flags = AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO;
        if let Ok(wd) = self
            .inotify
            .add_watch(&self.host.at(&root.path.join(&id)), flags)
        {
            self.watches
                .insert(wd, Watched::Container(root.clone(), id.clone()));
        }
        self.load(&root, &id);
    }

    fn load(&self, root: &StateRoot, id: &str) {
        if let Ok(info) = discovery::load_one(&self.host, root, id) {
            match self.tx.try_send(info) {
                // Full: the consumer is behind; its next scan finds it anyway.
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}
