//! An enforcement service in the test process, with its own bpffs
//! directory and state, and helpers to protect testkit containers with it.
//! Containers are registered between `runc create` and `runc start`: their
//! init is parked before exec, so the first instruction of the workload runs
//! under the policy (the OCI-hook path is tested by the `bulwark` CLI tests).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bulwark_enforce::container::{OciState, Registration};
use bulwark_enforce::enforcer::{Config, Enforcer, Protection};
use bulwark_enforce::from_profile::Options;
use bulwark_enforce::net::resolve::{NameLookup, SystemLookup};
use bulwark_enforce::store::PolicyDir;
use bulwark_testkit::{Container, ContainerBuilder};

use super::collect::Collect;

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Harness {
    pub enforcer: Arc<Enforcer>,
    pub sink: Arc<Collect>,
    pub config: Config,
    pub dir: tempfile::TempDir,
    keep: bool,
}

/// A policy document for workload `image:test` with `body` as the rest of
/// its spec (indented two spaces).
pub fn policy(body: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: EnforcementPolicy\nmetadata: {{name: t}}\nspec:\n  workload: image:test\n{body}"
    )
}

impl Harness {
    pub fn new(body: &str) -> Harness {
        Harness::with_dns(body, Arc::new(SystemLookup))
    }

    pub fn with_dns(body: &str, dns: Arc<dyn NameLookup>) -> Harness {
        assert!(
            nix::unistd::geteuid().is_root(),
            "Protect-mode tests need root"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("policies/t.yaml"), policy(body)).unwrap();
        let instance = format!(
            "test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let config = Config {
            instance,
            bpffs: "/sys/fs/bpf".into(),
            state_dir: dir.path().join("state"),
            holder: None,
            canary_every: None,
        };
        Harness::start(config, dir, dns)
    }

    fn start(config: Config, dir: tempfile::TempDir, dns: Arc<dyn NameLookup>) -> Harness {
        let sink = Arc::new(Collect::default());
        let source = Arc::new(PolicyDir::new(
            dir.path().join("policies"),
            Options::default(),
        ));
        let enforcer = Enforcer::start(config.clone(), source, sink.clone(), dns).unwrap();
        Harness {
            enforcer: Arc::new(enforcer),
            sink,
            config,
            dir,
            keep: false,
        }
    }

    /// Stop this service as a crash would (no teardown: pins stay), and
    /// start a new one on the same instance and state.
    pub fn restart(mut self) -> Harness {
        self.keep = true;
        let config = self.config.clone();
        let dir = tempfile::tempdir().unwrap();
        let old = std::mem::replace(&mut self.dir, dir);
        drop(self);
        Harness::start(config, old, Arc::new(SystemLookup))
    }

    /// `runc create`, register, `runc start`.
    pub fn protect(&self, builder: ContainerBuilder) -> (Container, Protection) {
        let c = builder.image("test:1", None).create().unwrap();
        let p = self.register(&c);
        c.start().unwrap();
        (c, p)
    }

    pub fn register(&self, c: &Container) -> Protection {
        self.enforcer.register(registration(c)).unwrap()
    }
}

pub fn registration(c: &Container) -> Registration {
    let config = std::fs::read_to_string(c.bundle().join("config.json")).unwrap();
    let state = OciState {
        oci_version: "1.0.2".into(),
        id: c.id().into(),
        status: "created".into(),
        pid: Some(c.pid()),
        bundle: c.bundle().to_path_buf(),
        annotations: Default::default(),
    };
    Registration::from_oci(&state, &config).unwrap()
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !self.keep {
            self.enforcer.uninstall();
            assert!(
                !Path::new("/sys/fs/bpf/bulwark")
                    .join(&self.config.instance)
                    .exists()
            );
        }
    }
}
