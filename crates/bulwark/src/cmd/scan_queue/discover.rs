//! The images of the containers this node's runtimes run, queued for the
//! scanner even when they were started without the OCI hook: the runtimes'
//! state directories, read by `bulwark-containers` as the agent's inventory
//! reads them. Each container is queued once per scanner process (a set of
//! the ids seen, pruned to the running ones); an image the hook already
//! queued keeps the hook's entry (it names the OCI layout to read it from),
//! and one already pushed with the current DB build is dropped by the
//! scanner without a scan. Without a layout the image is read from its
//! registry, pinned to the digest the runtime recorded.

use std::collections::HashSet;
use std::path::Path;

use bulwark_containers::FsHost;

use super::queue::{self, Entry};

pub struct Discovery {
    host: FsHost,
    seen: HashSet<String>,
}

impl Discovery {
    pub fn new(host: FsHost) -> Discovery {
        Discovery {
            host,
            seen: HashSet::new(),
        }
    }

    /// Queues the image of every container not seen before; returns how
    /// many entries were written. A queue that cannot be written is one
    /// log line per container (tried again when the scanner restarts).
    pub fn queue_new(&mut self, dir: &Path) -> usize {
        let found = bulwark_containers::discover(&self.host);
        let listed: HashSet<&str> = found.containers.iter().map(|c| c.id.as_str()).collect();
        self.seen.retain(|id| listed.contains(id.as_str()));
        let mut queued = 0;
        let running = found
            .containers
            .iter()
            .filter(|c| !c.sandbox && c.init_pid.is_some());
        for c in running {
            if !self.seen.insert(c.id.as_str().to_owned()) {
                continue;
            }
            let Some(reference) = c.image.clone() else {
                continue;
            };
            let entry = Entry {
                reference,
                digest: c.image_digest.clone(),
                layout: None,
                plain_http: false,
                registry_ca: Vec::new(),
            };
            if queue::is_queued(dir, &entry.key()) {
                continue;
            }
            match queue::enqueue(dir, &entry) {
                Ok(_) => queued += 1,
                Err(e) => eprintln!("bulwark scan-queue: container {}: {e:#}", c.id.as_str()),
            }
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host tree with one runc container `id` running `image` (all share
    /// one running init).
    fn container(root: &Path, id: &str, image: &str, digest: Option<&str>) {
        let write = |p: &str, text: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let state = serde_json::json!({
            "id": id, "init_process_pid": 4242, "init_process_start": 100,
            "config": {"labels": [format!("bundle=/bundles/{id}")]},
        });
        write(&format!("run/runc/{id}/state.json"), &state.to_string());
        let mut annotations = serde_json::json!({"io.bulwark.image": image});
        if let Some(d) = digest {
            annotations["io.bulwark.image.digest"] = d.into();
        }
        let config = serde_json::json!({"annotations": annotations});
        write(&format!("bundles/{id}/config.json"), &config.to_string());
        write(
            "proc/4242/stat",
            "4242 (sh) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 100 1 1",
        );
    }

    #[test]
    fn each_container_is_queued_once_and_the_hooks_entry_wins() {
        let host = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let dir = queue::dir(data.path());
        let d1 = format!("sha256:{}", "ab".repeat(32));
        container(host.path(), "web-1", "registry.test/web:1", Some(&d1));
        container(host.path(), "web-2", "registry.test/web:1", Some(&d1));
        let mut discovery = Discovery::new(FsHost::rooted_at(host.path()));
        assert_eq!(discovery.queue_new(&dir), 1, "one image, two containers");
        let entry = queue::read(&dir, &"ab".repeat(32)).unwrap().unwrap();
        assert_eq!(
            (entry.reference.as_str(), entry.layout),
            ("registry.test/web:1", None)
        );
        // Scanned and removed: a container seen before is not queued again.
        queue::remove(&dir, &"ab".repeat(32)).unwrap();
        assert_eq!(discovery.queue_new(&dir), 0);
        // The hook queued a new container's image with its layout first:
        // that entry stays.
        let d2 = format!("sha256:{}", "cd".repeat(32));
        let hooked = Entry {
            reference: "registry.test/api:2".into(),
            digest: Some(d2.clone()),
            layout: Some("/srv/oci".into()),
            plain_http: false,
            registry_ca: Vec::new(),
        };
        queue::enqueue(&dir, &hooked).unwrap();
        container(host.path(), "api-1", "registry.test/api:2", Some(&d2));
        assert_eq!(discovery.queue_new(&dir), 0);
        assert_eq!(queue::read(&dir, &"cd".repeat(32)).unwrap(), Some(hooked));
    }

    #[test]
    fn a_traversing_image_name_from_a_runtime_stays_in_the_queue() {
        let host = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let dir = queue::dir(data.path());
        container(host.path(), "evil", "../../../../etc/passwd", None);
        let mut discovery = Discovery::new(FsHost::rooted_at(host.path()));
        assert_eq!(discovery.queue_new(&dir), 1);
        let keys = queue::keys(&dir).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(queue::is_key(&keys[0]));
        assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_stopped_container_is_not_queued() {
        let host = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let dir = queue::dir(data.path());
        container(host.path(), "old", "registry.test/old:1", None);
        std::fs::remove_file(host.path().join("proc/4242/stat")).unwrap();
        let mut discovery = Discovery::new(FsHost::rooted_at(host.path()));
        assert_eq!(discovery.queue_new(&dir), 0);
        assert!(queue::keys(&dir).unwrap().is_empty());
    }
}
