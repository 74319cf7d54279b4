//! `bulwark run -- CMD`: a plain command under the hardening its policy
//! exports (Landlock, seccomp via seccompiler), on the real kernel. A denied
//! syscall fails with EPERM, an exec or write outside the policy with EACCES
//! (Landlock's answer); what the policy allows keeps working. Each case has
//! its control: the same call without `bulwark run` succeeds.
//! Needs root (for the unshare control), cc (the probe) and runc.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../bulwark-enforce/tests/support/probe.rs"]
mod probe;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

/// A temp dir with the probe, a policy, and `allowed/` + `other/` dirs.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(spec: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, probe::probe()).unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["allowed", "other"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let spec = spec.replace("DIR", dir.path().to_str().unwrap());
        let policy = format!(
            "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {{name: run}}\nspec:\n  workload: run-test\n{spec}"
        );
        std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
        Sandbox { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `bulwark run --policy P -- probe ARGS`: (exit ok, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(BIN)
            .arg("run")
            .arg("--policy")
            .arg(self.path("policy.yaml"))
            .arg("--")
            .arg(self.path("probe"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The probe alone, for the control.
    fn bare(&self, args: &[&str]) -> String {
        let out = Command::new(self.path("probe"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

const SECCOMP: &str = "  mode: protect
  exec: {enforce: false}
  hardening:
    seccomp:
      deny: [uname]
";

#[test]
fn denied_syscalls_fail_with_eperm_and_others_still_work() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root (unshare control)"
    );
    let s = Sandbox::new(SECCOMP);
    // Controls: both calls succeed without the filter.
    assert_eq!(s.bare(&["sys", "uname"]), "ok");
    assert_eq!(s.bare(&["sys", "unshare"]), "ok");
    let (_, out, err) = s.run(&["sys", "uname"]);
    assert_eq!(out, "errno 1", "policy deny list: {err}");
    assert!(err.contains("syscalls denied"), "{err}");
    // unshare is in the baseline every filter denies.
    assert_eq!(s.run(&["sys", "unshare"]).1, "errno 1");
    assert_eq!(s.run(&["sys", "getpid"]).1, "ok");
}

const LANDLOCK: &str = "  mode: protect
  exec:
    allow:
      - path: DIR/probe
  files:
    default_write: deny
    rules:
      - {path: DIR/allowed/, write: allow}
  hardening:
    seccomp: {enabled: false}
";

#[test]
fn exec_and_writes_outside_the_policy_fail_with_eacces() {
    let s = Sandbox::new(LANDLOCK);
    let other = s.path("other/x");
    let other = other.to_str().unwrap();
    let allowed = s.path("allowed/x");
    // Controls.
    assert_eq!(s.bare(&["write", other]), "ok");
    // A successful execveat runs /bin/true in the probe's place: no output.
    assert_eq!(s.bare(&["execveat", "/bin/true"]), "");
    std::fs::remove_file(other).unwrap();
    let (_, out, err) = s.run(&["write", allowed.to_str().unwrap()]);
    assert_eq!(out, "ok", "{err}");
    assert!(err.contains("landlock fully enforced"), "{err}");
    assert_eq!(s.run(&["write", other]).1, "errno 13");
    assert!(!Path::new(other).exists());
    assert_eq!(s.run(&["execveat", "/bin/true"]).1, "errno 13");
}

#[test]
fn command_not_in_the_exec_allowlist_does_not_start() {
    let s = Sandbox::new(LANDLOCK);
    let out = Command::new(BIN)
        .arg("run")
        .arg("--policy")
        .arg(s.path("policy.yaml"))
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("executing /bin/true") && err.contains("denied"),
        "{err}"
    );
}

#[test]
fn bad_policy_file_is_one_line_error_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: EnforcementPolicy\nspec: [\n").unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg("--policy")
        .arg(&bad)
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(!marker.exists(), "the command must not run");
}

/// `bulwark run --bundle DIR --id ID`: the bundle is hardened, then runc
/// runs it. The bundle is a copy of the `config.json` bulwark-testkit wrote
/// for a container it created (absolute rootfs path, in the template's
/// bundle), with its own cgroup.
#[test]
fn bundle_run_by_id_gets_the_filter_and_runc_runs_it() {
    use bulwark_testkit::Container;
    let s = Sandbox::new(SECCOMP);
    let template = Container::builder("run-template")
        .file("/usr/local/bin/probe", probe::probe(), 0o755)
        .args(["/usr/local/bin/probe", "sys", "uname"])
        .create()
        .unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let id = format!("bulwark-run-{}", std::process::id());
    let text = std::fs::read_to_string(template.bundle().join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["linux"]["cgroupsPath"] = format!("/bulwark-testkit/{id}").into();
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg("--policy")
        .arg(s.path("policy.yaml"))
        .arg("--bundle")
        .arg(bundle.path())
        .args(["--id", &id])
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .args(["delete", "--force", &id])
        .output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "errno 1", "{out:?}");
    // The container's exit code (the probe's 1 for a failed call) is ours.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let hardened = std::fs::read_to_string(bundle.path().join("config.json")).unwrap();
    assert!(hardened.contains("SCMP_ACT_ERRNO") && hardened.contains("uname"));
}

#[test]
fn bundle_with_a_broken_config_is_an_error_naming_it_and_left_unchanged() {
    let s = Sandbox::new(SECCOMP);
    let bundle = tempfile::tempdir().unwrap();
    let config = bundle.path().join("config.json");
    for broken in ["{not json", "[1, 2]", "{\"linux\": 3}"] {
        std::fs::write(&config, broken).unwrap();
        let out = Command::new(BIN)
            .arg("run")
            .arg("--policy")
            .arg(s.path("policy.yaml"))
            .arg("--bundle")
            .arg(bundle.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{broken}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("config.json"), "{broken}: {err}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
    }
}
