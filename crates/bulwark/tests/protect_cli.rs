//! Protect mode end to end: `bulwark enforce serve` as a separate process,
//! `bulwark hook` in the container's `config.json` run by runc at
//! `createRuntime`, real containers (bulwark-testkit). Pins the start-up
//! window: a container whose very first action is denied is already
//! enforced; and the hook's image stage (bulwark-trust, images and
//! signatures made by `trust_support`): a refused image never starts. Needs root, runc, busybox-static, cc and bpffs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../bulwark-enforce/tests/support/probe.rs"]
mod probe;
mod trust_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::{Container, ContainerBuilder, Hook, HookPoint, Network};

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

const POLICY: &str = "apiVersion: bulwark.dev/v1alpha1
kind: EnforcementPolicy
metadata: {name: cli}
spec:
  workload: image:cli-test
  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
  network:
    egress: []
";

/// A running `bulwark enforce serve`, stopped (and uninstalled) on drop.
struct Service {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    instance: String,
    extra: Vec<String>,
}

impl Service {
    fn start() -> Service {
        Service::start_with(POLICY, &[])
    }

    fn start_with(policy: &str, extra: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        std::fs::write(policies.join("cli.yaml"), policy).unwrap();
        let instance = format!("cli-{}-{}", std::process::id(), rand_suffix());
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let child = spawn(dir.path(), &instance, &extra);
        let socket = dir.path().join("enforce.sock");
        Service {
            child,
            dir,
            socket,
            instance,
            extra,
        }
    }

    /// Kill the service without any cleanup (as a crash would).
    fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same instance, state and policies.
    fn restart(&mut self) {
        self.child = spawn(self.dir.path(), &self.instance, &self.extra);
    }
}

fn spawn(dir: &Path, instance: &str, extra: &[String]) -> Child {
    let socket = dir.join("enforce.sock");
    let _ = std::fs::remove_file(&socket);
    let child = Command::new(BIN)
        .args([
            "enforce",
            "serve",
            "--uninstall-on-exit",
            "--instance",
            instance,
        ])
        .args(extra)
        .arg("--socket")
        .arg(&socket)
        .arg("--policies")
        .arg(dir.join("policies"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--alerts")
        .arg(dir.join("alerts.jsonl"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "bulwark enforce did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Service {
    fn hooks(&self, b: ContainerBuilder, on_error: &str) -> ContainerBuilder {
        let hook = |point: &str| {
            Hook::new(BIN).args([
                "bulwark",
                "hook",
                point,
                "--on-error",
                on_error,
                "--socket",
                self.socket.to_str().unwrap(),
            ])
        };
        b.image("cli-test:1", None)
            .hook(HookPoint::CreateRuntime, hook("create-runtime"))
            .hook(HookPoint::Poststop, hook("poststop"))
    }

    fn alerts(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("alerts.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn wait_alerts(&self, needle: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found: Vec<_> = self
                .alerts()
                .into_iter()
                .filter(|a| a["message"].as_str().unwrap_or("").contains(needle))
                .collect();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn audit_log(&self) -> PathBuf {
        self.dir.path().join("data/audit/audit.log")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        // A service that crashed and was not restarted leaves its canary
        // tmpfs mounted (the next start would reuse it): take it down so
        // the temporary directory can be removed.
        let canary = self.dir.path().join("state").join("canary");
        let _ = nix::mount::umount2(&canary, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn image(name: &str) -> ContainerBuilder {
    Container::builder(name)
        .file("/usr/local/bin/evil", "#!/bin/sh\necho evil-ran\n", 0o755)
        .file("/usr/local/bin/probe", probe::probe(), 0o755)
}

#[test]
fn container_whose_first_instruction_is_denied_never_runs_it() {
    let svc = Service::start();
    let out = svc
        .hooks(image("first-exec").args(["/usr/local/bin/evil"]), "closed")
        .run();
    // runc itself reports the refused exec of the entrypoint.
    let failed = match &out {
        Ok(o) => !o.status.success() && !o.stdout.contains("evil-ran"),
        Err(e) => e.to_string().contains("permission") || e.to_string().contains("not permitted"),
    };
    assert!(failed, "{out:?}");
    let alerts = svc.wait_alerts("exec /usr/local/bin/evil", 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["decision"], "deny");
}

#[test]
fn job_living_50ms_is_enforced_from_its_first_action() {
    let svc = Service::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let started = Instant::now();
    let out = svc
        .hooks(
            image("short").network(Network::Host).args([
                "/usr/local/bin/probe",
                "connect",
                "127.0.0.1",
                &port,
            ]),
            "closed",
        )
        .run()
        .unwrap();
    assert_eq!(out.stdout.trim(), "errno 1", "{out:?}");
    let alerts = svc.wait_alerts(&format!("connect tcp 127.0.0.1:{port}"), 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    eprintln!("short job: create to exit in {:?}", started.elapsed());
    // The audit log holds the refusal and verifies.
    let verify = Command::new(BIN)
        .args(["audit", "verify", "--json"])
        .arg(svc.audit_log())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    let log = std::fs::read_to_string(svc.audit_log()).unwrap();
    assert!(log.contains("enforce.deny") && log.contains(&port));
}

#[test]
fn memfd_exec_attempt_is_one_alert_and_one_audit_record() {
    // fanotify cannot see memory files; the kernel refuses them
    // (vm.memfd_noexec=2) and the service's tracepoints report it.
    let svc = Service::start();
    let out = svc
        .hooks(
            image("memfd").args(["/usr/local/bin/probe", "memfd-path", "self", "/bin/busybox"]),
            "closed",
        )
        .run()
        .unwrap();
    assert_eq!(out.stdout.trim(), "errno 13", "{out:?}");
    let alerts = svc.wait_alerts("exec memfd:probe-self", 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["decision"], "deny");
    assert!(
        alerts[0]["reason"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("kernel refused"),
        "{alerts:?}"
    );
    let log = std::fs::read_to_string(svc.audit_log()).unwrap();
    let records: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("enforce.deny") && l.contains("memfd:probe-self"))
        .collect();
    assert_eq!(records.len(), 1, "{log}");
    let verify = Command::new(BIN)
        .args(["audit", "verify", "--json"])
        .arg(svc.audit_log())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn hook_refuses_the_container_when_the_service_is_down_fail_closed() {
    let svc = Service::start();
    let socket = svc.socket.clone();
    drop(svc);
    let gone = Service {
        child: Command::new("true").spawn().unwrap(),
        dir: tempfile::tempdir().unwrap(),
        socket,
        instance: String::new(),
        extra: Vec::new(),
    };
    let refused = gone.hooks(image("down").args(["true"]), "closed").run();
    assert!(
        refused.is_err() || !refused.as_ref().unwrap().status.success(),
        "{refused:?}"
    );
    let open = gone
        .hooks(image("down-open").args(["true"]), "open")
        .run()
        .unwrap();
    assert!(open.status.success(), "{open:?}");
}

#[test]
fn status_reports_backends_and_protected_containers() {
    let svc = Service::start();
    let c = svc
        .hooks(image("status").args(["sleep", "30"]), "closed")
        .start()
        .unwrap();
    let out = Command::new(BIN)
        .args(["enforce", "status", "--socket"])
        .arg(&svc.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backends"]["exec"], "fanotify");
    assert!(
        v["backends"]["bpf_lsm"]
            .as_str()
            .unwrap()
            .starts_with("refused")
            || v["backends"]["bpf_lsm"]
                .as_str()
                .unwrap()
                .starts_with("available")
    );
    let ids: Vec<&str> = v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["container"].as_str())
        .collect();
    assert!(ids.contains(&c.id()), "{v}");
    // Its init's exec of sleep was decided by the agent, and timed.
    let ours = v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["container"] == c.id())
        .unwrap();
    let latency = &ours["decision_latency"];
    assert!(latency["count"].as_u64().unwrap() >= 1, "{ours}");
    assert!(latency["p99_ns"].as_u64().unwrap() >= latency["p50_ns"].as_u64().unwrap());
    let _ = Path::new("/");
}

/// A running `bulwark enforce hold`.
struct Holder {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Holder {
    fn start() -> Holder {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("hold.sock");
        let child = Command::new(BIN)
            .args(["enforce", "hold", "--socket"])
            .arg(&socket)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "bulwark enforce hold did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Holder {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runs(c: &Container, args: &[&str]) -> bool {
    c.exec(args.to_vec()).is_ok_and(|o| o.status.success())
}

#[test]
fn while_the_service_is_down_the_holder_refuses_fail_closed_then_a_restart_takes_over() {
    let holder = Holder::start();
    let mut svc = Service::start_with(POLICY, &["--holder", holder.socket.to_str().unwrap()]);
    let c = svc
        .hooks(image("held").args(["sleep", "60"]), "closed")
        .start()
        .unwrap();
    assert!(runs(&c, &["true"]));
    svc.crash();
    // Fail-closed: with nobody deciding, every exec that needs a decision is
    // refused at once. A program already decided (and unchanged) stays
    // allowed by the kernel's cache.
    let started = Instant::now();
    let probe = ["/usr/local/bin/probe", "read", "/etc/hosts"];
    assert!(
        !runs(&c, &probe),
        "an undecided exec ran while the service was down"
    );
    assert!(!runs(&c, &["/usr/local/bin/evil"]));
    assert!(runs(&c, &["true"]), "the cached allow of busybox was lost");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals waited"
    );
    svc.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runs(&c, &["true"]) {
        assert!(
            Instant::now() < deadline,
            "the restarted service did not take over"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!runs(&c, &["/usr/local/bin/evil"]));
    assert!(!svc.wait_alerts("exec /usr/local/bin/evil", 1).is_empty());
}

#[test]
fn while_the_service_is_down_a_fail_open_policy_lets_things_run() {
    let holder = Holder::start();
    let policy = format!("{POLICY}  failure:\n    on_agent_gone: open\n");
    let mut svc = Service::start_with(&policy, &["--holder", holder.socket.to_str().unwrap()]);
    let c = svc
        .hooks(image("held-open").args(["sleep", "60"]), "closed")
        .start()
        .unwrap();
    assert!(!runs(&c, &["/usr/local/bin/evil"]));
    svc.crash();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runs(&c, &["/usr/local/bin/evil"]) {
        assert!(Instant::now() < deadline, "fail-open did not open");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bundle_hardened_by_bulwark_run_gets_eperm_for_denied_syscalls_and_is_protected() {
    let policy = format!("{POLICY}  hardening:\n    seccomp:\n      deny: [uname]\n");
    let svc = Service::start_with(&policy, &[]);
    let file = svc.dir.path().join("policies/cli.yaml");
    let prepare = [
        BIN,
        "run",
        "--policy",
        file.to_str().unwrap(),
        "--hooks",
        "--socket",
        svc.socket.to_str().unwrap(),
        "--bundle",
    ];
    let hardened = |name: &str, args: &[&str]| {
        image(name)
            .image("cli-test:1", None)
            .args(args.to_vec())
            .prepare(prepare)
            .run()
            .unwrap()
    };
    // Control: runc without the exported filter lets uname through.
    let plain = image("unhardened")
        .args(["/usr/local/bin/probe", "sys", "uname"])
        .run()
        .unwrap();
    assert_eq!(plain.stdout.trim(), "ok", "{plain:?}");
    let uname = hardened("hardened", &["/usr/local/bin/probe", "sys", "uname"]);
    assert_eq!(uname.stdout.trim(), "errno 1", "{uname:?}");
    let getpid = hardened("hardened-ok", &["/usr/local/bin/probe", "sys", "getpid"]);
    assert_eq!(getpid.stdout.trim(), "ok", "{getpid:?}");
    // The hooks `--hooks` added registered it: the first exec is judged.
    let evil = image("hardened-evil")
        .image("cli-test:1", None)
        .args(["/usr/local/bin/evil"])
        .prepare(prepare)
        .run();
    assert!(
        evil.as_ref()
            .map_or(true, |o| !o.stdout.contains("evil-ran")),
        "{evil:?}"
    );
    assert_eq!(svc.wait_alerts("exec /usr/local/bin/evil", 1).len(), 1);
}

#[test]
fn container_refused_for_lack_of_policy_is_one_alert_and_one_audit_record() {
    let svc = Service::start();
    let hook = Hook::new(BIN).args([
        "bulwark",
        "hook",
        "create-runtime",
        "--require-policy",
        "--socket",
        svc.socket.to_str().unwrap(),
    ]);
    let refused = image("no-policy")
        .image("unknown-image:1", None)
        .args(["echo", "started"])
        .hook(HookPoint::CreateRuntime, hook)
        .run();
    let text = format!("{refused:?}");
    assert!(refused.is_err(), "{text}");
    assert!(text.contains("no enforcement policy"), "{text}");
    let alerts = svc.wait_alerts("container not started", 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["reason"]["kind"], "start_refused");
    assert_eq!(alerts[0]["reason"]["stage"], "protect");
    assert_eq!(alerts[0]["decision"], "deny");
    let log = std::fs::read_to_string(svc.audit_log()).unwrap();
    assert_eq!(log.matches("enforce.start-refused").count(), 1, "{log}");
    assert!(log.contains("unknown-image:1"));
}

/// `bulwark hook` with both stages: the image under an ImagePolicy (our
/// own signed/unsigned images in an OCI layout), then Protect.
fn image_and_protect_hook(svc: &Service, trust_dir: &Path) -> Hook {
    let p = |x: &str| trust_dir.join(x).to_str().unwrap().to_owned();
    Hook::new(BIN).args([
        "bulwark".to_owned(),
        "hook".into(),
        "create-runtime".into(),
        "--socket".into(),
        svc.socket.to_str().unwrap().into(),
        "--image-policy".into(),
        p("images.yaml"),
        "--image-layout".into(),
        p("layout"),
    ])
}

#[test]
fn image_stage_refuses_an_unsigned_image_before_its_first_instruction() {
    use trust_support::{SIGNED, UNSIGNED, policy, world, write_layout};
    let svc = Service::start();
    let trust = tempfile::tempdir().unwrap();
    let w = world();
    write_layout(&w.store, &trust.path().join("layout"));
    std::fs::write(trust.path().join("images.yaml"), policy(&w.key, "enforce")).unwrap();
    let marker = tempfile::tempdir().unwrap();
    // The unsigned image: runc aborts at createRuntime, the entrypoint (which
    // would write the marker through a bind mount) never runs.
    let refused = image("unsigned")
        .image(UNSIGNED, None)
        .annotation("io.bulwark.policy", "cli")
        .bind(marker.path(), "/marker", bulwark_testkit::Access::ReadWrite)
        .args(["sh", "-c", "echo ran > /marker/ran"])
        .hook(
            HookPoint::CreateRuntime,
            image_and_protect_hook(&svc, trust.path()),
        )
        .run();
    let text = format!("{refused:?}");
    assert!(refused.is_err(), "{text}");
    assert!(text.contains("image: refused"), "{text}");
    assert!(
        !marker.path().join("ran").exists(),
        "the refused container ran"
    );
    let alerts = svc.wait_alerts("container not started", 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["reason"]["stage"], "image");
    assert!(
        alerts[0]["message"].as_str().unwrap().contains(UNSIGNED),
        "{alerts:?}"
    );
    let log = std::fs::read_to_string(svc.audit_log()).unwrap();
    assert_eq!(log.matches("enforce.start-refused").count(), 1);
    // Nothing registered: the protect stage never ran.
    assert!(!log.contains("enforce.deny"));

    // The signed image passes the image stage and is then protected.
    let signed = image("signed")
        .image(SIGNED, Some(&w.signed_digest.to_string()))
        .annotation("io.bulwark.policy", "cli")
        .args(["/usr/local/bin/evil"])
        .hook(
            HookPoint::CreateRuntime,
            image_and_protect_hook(&svc, trust.path()),
        )
        .run();
    assert!(
        signed
            .as_ref()
            .map_or(true, |o| !o.stdout.contains("evil-ran")),
        "{signed:?}"
    );
    assert_eq!(svc.wait_alerts("exec /usr/local/bin/evil", 1).len(), 1);
    assert_eq!(
        svc.alerts()
            .iter()
            .filter(|a| a["reason"]["kind"] == "start_refused")
            .count(),
        1
    );
}

#[test]
fn unreadable_image_policy_refuses_fail_closed_and_names_the_file() {
    let svc = Service::start();
    let missing = svc.dir.path().join("no-such-images.yaml");
    let hook = Hook::new(BIN).args([
        "bulwark",
        "hook",
        "create-runtime",
        "--socket",
        svc.socket.to_str().unwrap(),
        "--image-policy",
        missing.to_str().unwrap(),
    ]);
    let refused = image("bad-image-policy")
        .image("cli-test:1", None)
        .args(["echo", "started"])
        .hook(HookPoint::CreateRuntime, hook)
        .run();
    let text = format!("{refused:?}");
    assert!(refused.is_err(), "{text}");
    assert!(
        text.contains("fail-closed") && text.contains("no-such-images.yaml"),
        "{text}"
    );
    assert_eq!(svc.wait_alerts("container not started", 1).len(), 1);
}
