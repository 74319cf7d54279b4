//! Discovery and resolution against host trees laid out in a temp dir, one
//! per runtime layout. The file contents mirror what each runtime writes
//! (runc 1.1 `state.json` as seen on this project's machines; crun, docker
//! and containers/storage field names from their documented formats).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bulwark_containers::{FsHost, Resolver, Runtime, discover};
use bulwark_core::ManualClock;
use serde_json::json;

const ID_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const V2: &str = "/sys/fs/cgroup/unified";

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        t.write(
            "/proc/self/mountinfo",
            &format!("31 30 0:27 / {V2} rw - cgroup2 cgroup2 rw\n"),
        );
        t
    }

    fn at(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    fn write(&self, p: &str, content: &str) {
        let path = self.at(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn mkdir(&self, p: &str) -> u64 {
        fs::create_dir_all(self.at(p)).unwrap();
        fs::metadata(self.at(p)).unwrap().ino()
    }

    /// A running process: stat with a start time, a pid namespace, cgroups.
    fn process(&self, pid: u32, start: u64, pid_ns: u64, cgroup: &str) {
        self.write(
            &format!("/proc/{pid}/stat"),
            &format!(
                "{pid} (sh) S 1 {pid} {pid} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 {start} 1 1"
            ),
        );
        self.write(
            &format!("/proc/{pid}/cgroup"),
            &format!("4:memory:{cgroup}\n0::{cgroup}\n"),
        );
        fs::create_dir_all(self.at(&format!("/proc/{pid}/ns"))).unwrap();
        symlink(
            format!("pid:[{pid_ns}]"),
            self.at(&format!("/proc/{pid}/ns/pid")),
        )
        .unwrap();
    }

    /// A runc-format state dir under `root`, with a bundle and annotations.
    fn runc_container(
        &self,
        root: &str,
        id: &str,
        pid: u32,
        cgroup: &str,
        bundle: &str,
        annotations: serde_json::Value,
    ) -> u64 {
        let state = json!({
            "id": id, "init_process_pid": pid, "init_process_start": 100,
            "created": "2026-01-01T00:00:00Z",
            "config": { "labels": [format!("bundle={bundle}")], "cgroups": { "path": cgroup } },
            "cgroup_paths": { "": format!("{V2}{cgroup}"), "memory": format!("/sys/fs/cgroup/memory{cgroup}") },
        });
        self.write(&format!("{root}/{id}/state.json"), &state.to_string());
        self.write(
            &format!("{bundle}/config.json"),
            &json!({ "annotations": annotations }).to_string(),
        );
        self.process(pid, 100, 4_026_532_000 + u64::from(pid), cgroup);
        self.mkdir(&format!("{V2}{cgroup}"))
    }

    fn host(&self) -> FsHost {
        FsHost::rooted_at(self.dir.path())
    }
}

fn clock() -> ManualClock {
    ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
}

#[test]
fn runc_container_is_found_with_image_cgroup_id_and_pid_namespace() {
    let t = Tree::new();
    let cg = t.runc_container(
        "/run/runc",
        "web-1",
        4242,
        "/bulwark-testkit/web-1",
        "/bundles/web-1",
        json!({"io.bulwark.image": "registry.test/web:1", "io.bulwark.image.digest": "sha256:abc"}),
    );
    let found = discover(&t.host());
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    let c = &found.containers[0];
    assert_eq!(c.id.as_str(), "web-1");
    assert_eq!(c.runtime, Some(Runtime::Runc));
    assert_eq!(c.image.as_deref(), Some("registry.test/web:1"));
    assert_eq!(c.image_digest.as_deref(), Some("sha256:abc"));
    assert_eq!(c.cgroup_path.as_deref(), Some("/bulwark-testkit/web-1"));
    assert_eq!(c.cgroup_id, Some(cg));
    assert_eq!(c.init_pid, Some(4242));
    assert_eq!(c.pid_ns, Some(4_026_532_000 + 4242));
    assert_eq!(c.bundle, Some(PathBuf::from("/bundles/web-1")));
    let r = c.to_ref();
    assert_eq!(
        (r.runtime.as_str(), r.image.as_deref()),
        ("runc", Some("registry.test/web:1"))
    );
}

#[test]
fn kubernetes_pod_under_containerd_has_pod_and_image() {
    let t = Tree::new();
    let bundle = format!("/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID_A}");
    let cgroup = format!("/kubepods/burstable/pod7f9c1e2a-3b4c/{ID_A}");
    t.runc_container(
        "/run/containerd/runc/k8s.io",
        ID_A,
        500,
        &cgroup,
        &bundle,
        json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-name": "web-7d9f",
            "io.kubernetes.cri.container-name": "nginx",
        }),
    );
    let c = &discover(&t.host()).containers[0];
    assert_eq!(c.runtime, Some(Runtime::Containerd));
    assert_eq!(c.name.as_deref(), Some("nginx"));
    let r = c.to_ref();
    assert_eq!(r.pod_namespace.as_deref(), Some("shop"));
    assert_eq!(r.pod_name.as_deref(), Some("web-7d9f"));
    assert_eq!(r.image.as_deref(), Some("docker.io/library/nginx:1.25"));
}

#[test]
fn docker_container_gets_image_and_labels_from_config_v2() {
    let t = Tree::new();
    t.runc_container(
        "/run/docker/runtime-runc/moby",
        ID_B,
        600,
        &format!("/docker/{ID_B}"),
        &format!("/run/containerd/io.containerd.runtime.v2.task/moby/{ID_B}"),
        json!({}),
    );
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    t.write(
        &format!("/var/lib/docker/containers/{ID_B}/config.v2.json"),
        &json!({"Name": "/shop-db", "Config": {"Image": format!("postgres@{digest}"), "Labels": {"tier": "db"}}})
            .to_string(),
    );
    let c = &discover(&t.host()).containers[0];
    assert_eq!(c.runtime, Some(Runtime::Docker));
    assert_eq!(c.name.as_deref(), Some("shop-db"));
    assert_eq!(c.image_digest.as_deref(), Some(digest));
    assert_eq!(c.labels.get("tier").map(String::as_str), Some("db"));
}

#[test]
fn podman_container_under_crun_gets_image_from_storage() {
    let t = Tree::new();
    let cgroup = format!("/machine.slice/libpod-{ID_A}.scope");
    let bundle = format!("/var/lib/containers/storage/overlay-containers/{ID_A}/userdata");
    t.write(
        &format!("/run/crun/{ID_A}/status"),
        &json!({"pid": 700, "process-start-time": 100, "cgroup-path": cgroup, "bundle": bundle, "created": "x"})
            .to_string(),
    );
    t.write(
        &format!("{bundle}/config.json"),
        &json!({"annotations": {"io.container.manager": "libpod"}}).to_string(),
    );
    t.write(
        "/var/lib/containers/storage/overlay-containers/containers.json",
        &json!([{"id": ID_A, "names": ["happy_turing"],
                 "metadata": json!({"image-name": "docker.io/library/alpine:3.20", "name": "happy_turing"}).to_string()}])
        .to_string(),
    );
    t.process(700, 100, 4_026_532_700, &cgroup);
    let cg = t.mkdir(&format!("{V2}{cgroup}"));
    let c = &discover(&t.host()).containers[0];
    assert_eq!(c.runtime, Some(Runtime::Podman));
    assert_eq!(c.image.as_deref(), Some("docker.io/library/alpine:3.20"));
    assert_eq!(c.name.as_deref(), Some("happy_turing"));
    assert_eq!(c.cgroup_path.as_deref(), Some(cgroup.as_str()));
    assert_eq!(c.cgroup_id, Some(cg));
}

#[test]
fn reused_init_pid_is_not_trusted() {
    let t = Tree::new();
    t.runc_container("/run/runc", "old", 4242, "/x/old", "/b/old", json!({}));
    // pid 4242 now belongs to another process, started later.
    t.write(
        "/proc/4242/stat",
        "4242 (other) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 999 1 1",
    );
    let c = &discover(&t.host()).containers[0];
    assert_eq!(c.init_pid, None);
    assert_eq!(c.pid_ns, None);
}

#[test]
fn malformed_or_forged_state_is_skipped_and_others_still_found() {
    let t = Tree::new();
    t.runc_container("/run/runc", "good", 10, "/x/good", "/b/good", json!({}));
    t.write("/run/runc/truncated/state.json", "{\"id\": \"truncated\", ");
    t.write(
        "/run/runc/forged/state.json",
        &json!({"id": "forged\n{\"injected\":1}"}).to_string(),
    );
    let found = discover(&t.host());
    let ids: Vec<&str> = found.containers.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["good"]);
    let msgs: Vec<String> = found.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("/run/runc/truncated/state.json")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("invalid container id")),
        "{msgs:?}"
    );
}

#[test]
fn resolver_finds_containers_by_cgroup_id_including_sub_cgroups() {
    let t = Tree::new();
    let cg = t.runc_container("/run/runc", "web", 10, "/k/web", "/b/web", json!({}));
    let sub = t.mkdir(&format!("{V2}/k/web/init.scope"));
    let mut r = Resolver::new(t.host(), clock());
    r.scan();
    assert_eq!(
        r.by_cgroup_id(cg).map(|c| c.id.to_string()).as_deref(),
        Some("web")
    );
    assert_eq!(
        r.by_cgroup_id(sub).map(|c| c.id.to_string()).as_deref(),
        Some("web")
    );
    assert_eq!(
        r.by_pid_ns(4_026_532_010)
            .map(|c| c.id.to_string())
            .as_deref(),
        Some("web")
    );
}

#[test]
fn unknown_cgroup_id_rescans_once_then_waits() {
    let t = Tree::new();
    let c = clock();
    let mut r = Resolver::new(t.host(), &c);
    r.scan();
    let cg = t.runc_container("/run/runc", "late", 11, "/k/late", "/b/late", json!({}));
    c.advance(Duration::from_millis(50));
    assert!(
        r.by_cgroup_id(cg).is_some(),
        "a new cgroup id triggers a scan"
    );
    let scans = r.stats().scans;
    let host_cg = t.mkdir(&format!("{V2}/system.slice/cron.service"));
    c.advance(Duration::from_millis(50));
    assert!(r.by_cgroup_id(host_cg).is_none());
    assert_eq!(r.stats().scans, scans + 1);
    c.advance(Duration::from_millis(50));
    assert!(r.by_cgroup_id(host_cg).is_none());
    assert_eq!(
        r.stats().scans,
        scans + 1,
        "a repeated miss within a second does not rescan"
    );
    c.advance(Duration::from_secs(2));
    assert!(r.by_cgroup_id(host_cg).is_none());
    assert_eq!(r.stats().scans, scans + 2);
}

#[test]
fn deleted_container_stays_resolvable_for_late_events() {
    let t = Tree::new();
    let c = clock();
    let cg = t.runc_container("/run/runc", "brief", 12, "/k/brief", "/b/brief", json!({}));
    let mut r = Resolver::new(t.host(), &c);
    r.scan();
    fs::remove_dir_all(t.at("/run/runc/brief")).unwrap();
    c.advance(Duration::from_secs(1));
    r.scan();
    assert_eq!(r.containers().count(), 0);
    assert_eq!(
        r.by_cgroup_id(cg).map(|c| c.id.to_string()).as_deref(),
        Some("brief")
    );
}

#[test]
fn container_gone_before_any_scan_is_named_by_its_noted_cgroup_path() {
    let t = Tree::new();
    let mut r = Resolver::new(t.host(), clock());
    let path = format!("/system.slice/docker-{ID_A}.scope");
    r.note_cgroup(777, &path);
    let c = r.by_cgroup_id(777).unwrap();
    assert_eq!(c.id.as_str(), ID_A);
    assert_eq!(c.runtime, Some(Runtime::Docker));
    assert_eq!(c.cgroup_path.as_deref(), Some(path.as_str()));
}

#[test]
fn freshly_created_cgroup_is_rescanned_for_until_its_state_appears() {
    let t = Tree::new();
    let c = clock();
    let mut r = Resolver::new(t.host(), &c);
    r.scan();
    let cg = t.mkdir(&format!("{V2}/k/starting"));
    r.note_cgroup(cg, "/k/starting");
    assert!(r.is_fresh(cg));
    c.advance(Duration::from_millis(50));
    assert!(
        r.by_cgroup_id(cg).is_none(),
        "runc has not written its state yet"
    );
    t.runc_container(
        "/run/runc",
        "starting",
        40,
        "/k/starting",
        "/b/starting",
        json!({}),
    );
    c.advance(Duration::from_millis(50));
    let found = r.by_cgroup_id(cg).map(|i| i.id.to_string());
    assert_eq!(
        found.as_deref(),
        Some("starting"),
        "no one-second wait for a fresh cgroup"
    );
    c.advance(bulwark_containers::FRESH);
    assert!(!r.is_fresh(cg));
}

#[test]
fn watcher_reports_containers_even_when_the_state_root_appears_later() {
    let t = Tree::new();
    std::fs::create_dir_all(t.at("/run")).unwrap();
    let watcher = bulwark_containers::StateWatcher::start(t.host()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // /run/runc does not exist until the first container is created.
    t.runc_container(
        "/run/runc",
        "first",
        50,
        "/k/first",
        "/b/first",
        json!({"io.bulwark.image": "img:1"}),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while seen.is_empty() && std::time::Instant::now() < deadline {
        seen.extend(watcher.drain().map(|i| (i.id.to_string(), i.image)));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        seen.first(),
        Some(&("first".to_owned(), Some("img:1".to_owned())))
    );
}

#[test]
fn by_pid_reads_proc_cgroup_and_tells_host_processes_apart() {
    let t = Tree::new();
    t.runc_container(
        "/run/runc",
        "app",
        20,
        "/k/app",
        "/b/app",
        json!({"io.bulwark.image": "app:1"}),
    );
    t.process(21, 5, 4_026_532_020, "/k/app"); // exec'd into the container
    t.process(1, 1, 4_026_531_836, "/");
    let mut r = Resolver::new(t.host(), clock());
    let app = r.by_pid(21).unwrap().unwrap();
    assert_eq!(
        (app.id.as_str(), app.image.as_deref()),
        ("app", Some("app:1"))
    );
    assert!(r.by_pid(1).unwrap().is_none());
    let err = r.by_pid(99).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn pid_namespace_shared_by_a_pod_names_no_single_container() {
    let t = Tree::new();
    t.runc_container("/run/runc", "one", 30, "/k/one", "/b/one", json!({}));
    t.runc_container("/run/runc", "two", 31, "/k/two", "/b/two", json!({}));
    // Both inits in one pid namespace (shareProcessNamespace).
    fs::remove_file(t.at("/proc/31/ns/pid")).unwrap();
    symlink("pid:[4026532030]", t.at("/proc/31/ns/pid")).unwrap();
    let mut r = Resolver::new(t.host(), clock());
    r.scan();
    assert!(r.by_pid_ns(4_026_532_030).is_none());
}

#[test]
fn no_runtime_installed_is_an_empty_result_not_an_error() {
    let t = Tree::new();
    let found = discover(&t.host());
    assert!(found.containers.is_empty() && found.skipped.is_empty());
}
