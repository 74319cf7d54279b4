//! Discovery and resolution of real runc containers (bulwark-testkit).
//! Needs root, runc and busybox-static. Other tests run containers at the
//! same time, so every assertion is about this test's own container.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::os::unix::fs::MetadataExt;

use bulwark_containers::{Runtime, discover, system_resolver};
use bulwark_testkit::Container;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn pid_ns_of(pid: u32) -> Result<u64> {
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/pid"))?.ino())
}

#[test]
fn running_runc_container_is_discovered_with_its_metadata() -> Result {
    let c = Container::builder("discover")
        .image("registry.test/discover:1", Some("sha256:feed"))
        .annotation("org.example/team", "blue")
        .start()?;
    let found = discover(&bulwark_containers::FsHost::real());
    let info = found
        .containers
        .iter()
        .find(|i| i.id.as_str() == c.id())
        .ok_or("container not discovered")?;
    assert_eq!(info.runtime, Some(Runtime::Runc));
    assert_eq!(info.image.as_deref(), Some("registry.test/discover:1"));
    assert_eq!(info.image_digest.as_deref(), Some("sha256:feed"));
    assert_eq!(
        info.annotations.get("org.example/team").map(String::as_str),
        Some("blue")
    );
    assert_eq!(info.init_pid, Some(c.pid()));
    assert_eq!(info.cgroup_path.as_deref(), Some(c.cgroups_path()));
    assert_eq!(info.cgroup_id, Some(c.cgroup_v2_id()?));
    assert_eq!(info.pid_ns, Some(pid_ns_of(c.pid())?));
    assert_eq!(info.bundle.as_deref(), Some(c.bundle()));
    Ok(())
}

#[test]
fn exec_and_child_processes_resolve_to_their_container() -> Result {
    let c = Container::builder("bypid")
        .args(["sh", "-c", "sleep 30 & wait"])
        .image("registry.test/bypid:2", None)
        .start()?;
    let mut r = system_resolver();
    let init = r.by_pid(c.pid())?.ok_or("init not attributed")?;
    assert_eq!(init.id.as_str(), c.id());
    // Every process in the container's cgroup, children included.
    // `sh` forks `sleep` right after starting: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pids = loop {
        let procs = std::fs::read_to_string(c.cgroup_v2_dir()?.join("cgroup.procs"))?;
        let pids: Vec<u32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
        if pids.len() >= 2 || std::time::Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(pids.len() >= 2, "expected init and sleep, got {pids:?}");
    for pid in pids {
        let info = r.by_pid(pid)?.ok_or("child not attributed")?;
        assert_eq!(info.id.as_str(), c.id());
        assert_eq!(info.image.as_deref(), Some("registry.test/bypid:2"));
    }
    assert!(
        r.by_pid(std::process::id())?.is_none(),
        "the test itself is a host process"
    );
    Ok(())
}

#[test]
fn cgroup_id_of_a_container_created_after_the_first_scan_resolves() -> Result {
    let mut r = system_resolver();
    r.scan();
    let c = Container::builder("late").create()?;
    std::thread::sleep(std::time::Duration::from_millis(30)); // past the scan rate limit
    let info = r.by_cgroup_id(c.cgroup_v2_id()?).ok_or("not attributed")?;
    assert_eq!(info.id.as_str(), c.id());
    assert_eq!(
        r.by_pid_ns(pid_ns_of(c.pid())?).map(|i| i.id.to_string()),
        Some(c.id().to_owned())
    );
    Ok(())
}

#[test]
fn deleted_container_still_attributes_late_events() -> Result {
    let c = Container::builder("deleted").start()?;
    let (id, cgroup_id) = (c.id().to_owned(), c.cgroup_v2_id()?);
    let mut r = system_resolver();
    r.scan();
    drop(c);
    std::thread::sleep(std::time::Duration::from_millis(30));
    r.scan();
    assert!(r.containers().all(|i| i.id.as_str() != id));
    assert_eq!(
        r.by_cgroup_id(cgroup_id).map(|i| i.id.to_string()),
        Some(id)
    );
    Ok(())
}

#[test]
fn watcher_catches_a_container_that_lives_between_two_scans() {
    let watcher =
        bulwark_containers::StateWatcher::start(bulwark_containers::FsHost::real()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300)); // its root watches are in place
    let mut r = system_resolver();
    r.scan();
    let c = Container::builder("blink")
        .image("registry.test/blink:1", None)
        .args(["true"])
        .create()
        .unwrap();
    let (id, cgroup_id) = (c.id().to_owned(), c.cgroup_v2_id().unwrap());
    drop(c); // deleted before any scan saw it
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut learned = None;
    while learned.is_none() && std::time::Instant::now() < deadline {
        learned = watcher.drain().filter(|i| i.id.as_str() == id).last();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info = learned.expect("the watcher never reported the container");
    assert_eq!(info.image.as_deref(), Some("registry.test/blink:1"));
    r.learn(info);
    r.scan(); // it is gone now, and stays resolvable
    let found = r.by_cgroup_id(cgroup_id).map(|i| i.id.to_string());
    assert_eq!(found.as_deref(), Some(id.as_str()));
}
