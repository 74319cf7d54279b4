//! The fanotify engine against the real kernel, without containers: a
//! private tmpfs mount stands in for a container root, processes started
//! from it are judged by a real fanotify group. Needs root.
//!
//! Fixture origin: programs are copies of the host's `busybox` (Debian
//! `busybox-static`) and shell scripts written by the tests.

// Test code: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use bulwark_core::{Alert, ContainerId, Decision, Mode, WorkloadId};
use bulwark_enforce::arm::{MountTarget, Target, arm};
use bulwark_enforce::denial::{Class, Denial, DenialSink};
use bulwark_enforce::guard::Guard;
use bulwark_enforce::policy::{EnforcePolicy, PolicyDocument};
use bulwark_enforce::rootfs::Root;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode as FileMode;

const BUSYBOX: &str = "/usr/bin/busybox";

#[derive(Default)]
struct Collect {
    denials: Mutex<Vec<Denial>>,
    health: Mutex<Vec<Alert>>,
}

impl DenialSink for Collect {
    fn record(&self, denial: &Denial) {
        self.denials.lock().unwrap().push(denial.clone());
    }
    fn health(&self, alert: &Alert) {
        self.health.lock().unwrap().push(alert.clone());
    }
    fn start_refused(&self, refusal: &bulwark_enforce::denial::StartRefusal) {
        self.health.lock().unwrap().push(refusal.to_alert());
    }
}

impl Collect {
    fn denials(&self) -> Vec<Denial> {
        self.denials.lock().unwrap().clone()
    }
}

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn new(tag: &str) -> Tmpfs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "engine tests need root (fanotify, mount)"
        );
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} missing: install busybox-static"
        );
        let dir =
            std::env::temp_dir().join(format!("bulwark-enforce-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=256m,mode=755"),
        )
        .unwrap();
        for d in ["bin", "etc", "tmp", "data"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
        Tmpfs { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel.trim_start_matches('/'))
    }

    fn script(&self, rel: &str, body: &str) {
        let p = self.path(rel);
        std::fs::write(
            &p,
            format!("#!{}/bin/busybox sh\n{body}\n", self.dir.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn arm(&self, policy_yaml: &str, sink: Arc<Collect>) -> Guard {
        let text = format!(
            "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {{name: t}}\nspec:\n  workload: image:test\n{policy_yaml}"
        );
        let doc = PolicyDocument::parse("test policy", &text).unwrap();
        let fd = nix::fcntl::open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            FileMode::empty(),
        )
        .unwrap();
        let target = Target {
            container: ContainerId::new(format!("engine-{}", std::process::id())).unwrap(),
            workload: WorkloadId::new("image:test").unwrap(),
            root: Root::open(&self.dir).unwrap(),
            mounts: vec![MountTarget {
                mount_point: self.dir.display().to_string(),
                fs_type: "tmpfs".into(),
                fd,
            }],
            pre_pivot_root: Some(self.dir.display().to_string()),
        };
        let policy: EnforcePolicy = doc.spec;
        let (guard, _report) = arm(target, &policy, sink, None).unwrap();
        guard
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn run(path: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(path).args(args).output()
}

fn is_eperm(r: &std::io::Result<std::process::Output>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EPERM) || e.kind() == ErrorKind::PermissionDenied)
}

const EXEC_POLICY: &str = "  mode: protect\n  exec:\n    allow:\n      - path: /bin/busybox\n";

#[test]
fn denied_exec_fails_with_eperm_and_is_one_alert() {
    let fs = Tmpfs::new("deny");
    fs.script("/bin/evil", "echo ran");
    let sink = Arc::new(Collect::default());
    let guard = fs.arm(EXEC_POLICY, sink.clone());

    let ok = run(&fs.path("/bin/busybox"), &["true"]).unwrap();
    assert!(ok.status.success());
    let denied = run(&fs.path("/bin/evil"), &[]);
    assert!(is_eperm(&denied), "{denied:?}");

    let denials = sink.denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].decision, Decision::Deny);
    assert_eq!(denials[0].class, Class::Process);
    assert_eq!(denials[0].action, "exec /bin/evil");
    assert!(
        guard
            .stats()
            .cached
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn denied_binary_retried_1000_times_runs_0_times() {
    let fs = Tmpfs::new("race");
    let marker = fs.path("/data/ran");
    fs.script("/bin/evil", &format!("echo x >> {}", marker.display()));
    let sink = Arc::new(Collect::default());
    let _guard = fs.arm(EXEC_POLICY, sink.clone());
    // The loop runs in an allowed shell, as fast as it can.
    let loop_script = format!(
        "i=0; while [ $i -lt 1000 ]; do {} 2>/dev/null; i=$((i+1)); done",
        fs.path("/bin/evil").display()
    );
    let out = run(&fs.path("/bin/busybox"), &["sh", "-c", &loop_script]).unwrap();
    assert!(out.status.success());
    assert!(!marker.exists(), "the denied binary ran");
    assert_eq!(sink.denials().len(), 1000);
}

#[test]
fn bypass_by_copy_link_rename_and_modification_is_denied() {
    let fs = Tmpfs::new("bypass");
    fs.script("/bin/evil", "echo ran");
    let sink = Arc::new(Collect::default());
    let _guard = fs.arm(EXEC_POLICY, sink.clone());

    std::fs::copy(fs.path("/bin/evil"), fs.path("/tmp/copy")).unwrap();
    std::fs::hard_link(fs.path("/bin/evil"), fs.path("/tmp/hard")).unwrap();
    std::os::unix::fs::symlink(fs.path("/bin/evil"), fs.path("/tmp/soft")).unwrap();
    for p in ["/tmp/copy", "/tmp/hard", "/tmp/soft"] {
        assert!(is_eperm(&run(&fs.path(p), &[])), "{p} ran");
    }
    // Replacing the allowed binary's content is drift, not the program.
    std::fs::copy(fs.path("/bin/evil"), fs.path("/bin/busybox")).unwrap();
    assert!(
        is_eperm(&run(&fs.path("/bin/busybox"), &[])),
        "modified busybox ran"
    );
    assert_eq!(sink.denials().len(), 4);
}

#[test]
fn copy_of_allowed_program_runs() {
    let fs = Tmpfs::new("copyok");
    let sink = Arc::new(Collect::default());
    let _guard = fs.arm(EXEC_POLICY, sink.clone());
    std::fs::copy(fs.path("/bin/busybox"), fs.path("/tmp/busybox")).unwrap();
    let out = run(&fs.path("/tmp/busybox"), &["true"]).unwrap();
    assert!(out.status.success());
    assert!(sink.denials().is_empty());
}

#[test]
fn monitor_mode_alerts_but_lets_it_run() {
    let fs = Tmpfs::new("monitor");
    fs.script("/bin/evil", "echo ran");
    let sink = Arc::new(Collect::default());
    let _guard = fs.arm(&EXEC_POLICY.replace("protect", "monitor"), sink.clone());
    let out = run(&fs.path("/bin/evil"), &[]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let denials = sink.denials();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].decision, Decision::Alert);
    assert_eq!(denials[0].mode, Mode::Monitor);
}

const FILE_POLICY: &str = "  mode: protect
  exec:
    allow:
      - path: /bin/busybox
  files:
    rules:
      - path: /etc/secret
        read: deny
        write: deny
      - path: /etc/
        write: deny
";

#[test]
fn file_rules_refuse_reads_of_secrets_and_writes_to_protected_dirs() {
    let fs = Tmpfs::new("files");
    std::fs::write(fs.path("/etc/secret"), "s3cret").unwrap();
    std::fs::write(fs.path("/etc/hosts"), "127.0.0.1 localhost").unwrap();
    let sink = Arc::new(Collect::default());
    let _guard = fs.arm(FILE_POLICY, sink.clone());
    let bb = fs.path("/bin/busybox");

    let read_hosts = run(&bb, &["cat", fs.path("/etc/hosts").to_str().unwrap()]).unwrap();
    assert!(read_hosts.status.success());
    let read_secret = run(&bb, &["cat", fs.path("/etc/secret").to_str().unwrap()]).unwrap();
    assert!(!read_secret.status.success());
    assert!(String::from_utf8_lossy(&read_secret.stderr).contains("Operation not permitted"));
    // A hardlink elsewhere is still the secret.
    std::fs::hard_link(fs.path("/etc/secret"), fs.path("/tmp/alias")).unwrap();
    let via_link = run(&bb, &["cat", fs.path("/tmp/alias").to_str().unwrap()]).unwrap();
    assert!(!via_link.status.success());
    // Writing into /etc, existing file or new one, is refused.
    let script = format!("echo x >> {}", fs.path("/etc/hosts").display());
    assert!(!run(&bb, &["sh", "-c", &script]).unwrap().status.success());
    let script = format!("echo x > {}", fs.path("/etc/new").display());
    assert!(!run(&bb, &["sh", "-c", &script]).unwrap().status.success());
    // ... while writing elsewhere works.
    let script = format!("echo x > {}", fs.path("/data/out").display());
    assert!(run(&bb, &["sh", "-c", &script]).unwrap().status.success());

    let denials = sink.denials();
    assert_eq!(denials.len(), 4, "{denials:#?}");
    assert!(denials.iter().all(|d| d.class == Class::File));
    assert!(
        denials[1].reason.contains("reached as /tmp/alias"),
        "{}",
        denials[1].reason
    );
}

#[test]
fn decision_that_cannot_finish_in_time_falls_back_to_fail_closed() {
    let fs = Tmpfs::new("timeout");
    // Large enough that hashing it takes longer than 1 ms.
    // Named busybox: the multi-call binary picks its applet from argv[0].
    let big = fs.path("/data/busybox");
    let mut bytes = std::fs::read(BUSYBOX).unwrap();
    bytes.resize(96 << 20, 0);
    std::fs::write(&big, &bytes).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sink = Arc::new(Collect::default());
    let policy = format!("{EXEC_POLICY}  failure:\n    decision_timeout_ms: 1\n");
    let guard = fs.arm(&policy, sink.clone());
    assert!(is_eperm(&run(&big, &["true"])));
    let denials = sink.denials();
    assert_eq!(denials.len(), 1);
    assert!(
        denials[0].reason.contains("fail-closed"),
        "{}",
        denials[0].reason
    );
    assert_eq!(
        guard
            .stats()
            .fallbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn decision_that_cannot_finish_in_time_falls_back_to_fail_open_when_configured() {
    let fs = Tmpfs::new("timeout-open");
    // Named busybox: the multi-call binary picks its applet from argv[0].
    let big = fs.path("/data/busybox");
    let mut bytes = std::fs::read(BUSYBOX).unwrap();
    bytes.resize(96 << 20, 0);
    std::fs::write(&big, &bytes).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sink = Arc::new(Collect::default());
    let policy =
        format!("{EXEC_POLICY}  failure:\n    decision_timeout_ms: 1\n    on_timeout: open\n");
    let _guard = fs.arm(&policy, sink.clone());
    let out = run(&big, &["true"]).unwrap();
    assert!(out.status.success());
    let denials = sink.denials();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].decision, Decision::Alert);
    assert!(denials[0].reason.contains("fail-open"));
}

#[test]
fn allowed_program_is_decided_once_then_answered_by_the_kernel_cache() {
    let fs = Tmpfs::new("cache");
    let sink = Arc::new(Collect::default());
    let guard = fs.arm(EXEC_POLICY, sink.clone());
    for _ in 0..20 {
        assert!(
            run(&fs.path("/bin/busybox"), &["true"])
                .unwrap()
                .status
                .success()
        );
    }
    let events = guard
        .stats()
        .events
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(events, 1, "every exec went to user space");
    // Modifying the file clears the cache: the next exec is decided again.
    let bytes = std::fs::read(fs.path("/bin/busybox")).unwrap();
    std::fs::write(fs.path("/bin/busybox"), &bytes).unwrap();
    assert!(
        run(&fs.path("/bin/busybox"), &["true"])
            .unwrap()
            .status
            .success()
    );
    let events = guard
        .stats()
        .events
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(events, 2);
    assert!(sink.denials().is_empty());
}
