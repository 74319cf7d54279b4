//! The container handle and its builder.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::bundle::Bundle;
use crate::net::VethNet;
use crate::spec::{Access, BindMount, ExtraFile, Hook, HookPoint, Network, Spec};
use crate::{ANNOTATION_IMAGE, ANNOTATION_IMAGE_DIGEST, Error, Rootfs, cgroup, runc};

/// How long [`ContainerBuilder::run`] waits for the container to exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished process printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn prepare(command: &[String], bundle: &Path) -> Result<(), Error> {
    let failed = |status: String, stderr: String| Error::Prepare {
        command: command.join(" "),
        status,
        stderr,
    };
    let Some((program, args)) = command.split_first() else {
        return Err(failed("not run".into(), "empty command".into()));
    };
    let out = std::process::Command::new(program)
        .args(args)
        .arg(bundle)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed("not started".into(), e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            out.status.to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Describes a test container; see the crate documentation.
#[derive(Debug)]
#[must_use]
pub struct ContainerBuilder {
    name: String,
    spec: Spec,
    rootfs: Option<Rootfs>,
}

impl ContainerBuilder {
    /// The program and its arguments (default: `sleep 3600`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.args = args.into_iter().map(Into::into).collect();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.spec.env.push(format!("{key}={value}"));
        self
    }

    pub fn cwd(mut self, cwd: &str) -> Self {
        self.spec.cwd = cwd.to_owned();
        self
    }

    /// Run as this uid/gid (default root inside the container).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.spec.uid = uid;
        self.spec.gid = gid;
        self
    }

    /// Add a capability (e.g. `CAP_SYS_ADMIN`) to runc's default set
    /// (`CAP_AUDIT_WRITE`, `CAP_KILL`, `CAP_NET_BIND_SERVICE`).
    pub fn capability(mut self, cap: &str) -> Self {
        self.spec.capabilities.push(cap.to_owned());
        self
    }

    /// `noNewPrivileges` (default true).
    pub fn no_new_privileges(mut self, on: bool) -> Self {
        self.spec.no_new_privileges = on;
        self
    }

    /// Give the container a private, writable copy of its root filesystem.
    pub fn writable_rootfs(mut self) -> Self {
        self.spec.writable_rootfs = true;
        self
    }

    /// Put a file at `path` into the container's root filesystem before it
    /// is created, as if the image had it (parent directories are made).
    /// Implies [`writable_rootfs`](Self::writable_rootfs).
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.spec.writable_rootfs = true;
        self.spec.files.push(ExtraFile {
            path: path.to_owned(),
            contents: contents.into(),
            mode,
        });
        self
    }

    /// A root filesystem other than [`Rootfs::busybox`].
    pub fn rootfs(mut self, rootfs: Rootfs) -> Self {
        self.rootfs = Some(rootfs);
        self
    }

    pub fn network(mut self, network: Network) -> Self {
        self.spec.network = network;
        self
    }

    /// Share the host's pid namespace (as `docker run --pid=host`).
    pub fn host_pid_namespace(mut self) -> Self {
        self.spec.host_pid = true;
        self
    }

    /// Bind-mount host `source` at `destination` in the container.
    pub fn bind(mut self, source: impl Into<PathBuf>, destination: &str, access: Access) -> Self {
        self.spec.mounts.push(BindMount {
            source: source.into(),
            destination: destination.to_owned(),
            access,
        });
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.spec
            .annotations
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Record the image the container claims to run, as the annotations
    /// [`ANNOTATION_IMAGE`] and [`ANNOTATION_IMAGE_DIGEST`].
    pub fn image(self, reference: &str, digest: Option<&str>) -> Self {
        let this = self.annotation(ANNOTATION_IMAGE, reference);
        match digest {
            Some(d) => this.annotation(ANNOTATION_IMAGE_DIGEST, d),
            None => this,
        }
    }

    /// Run `command` (program first) with the bundle directory appended as
    /// its last argument after `config.json` is written and before `runc
    /// create`: a tool that edits the bundle, as a node's tooling would.
    pub fn prepare<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec
            .prepare
            .push(command.into_iter().map(Into::into).collect());
        self
    }

    /// The cgroups path given to runc's cgroupfs driver
    /// (default `/bulwark-testkit/ID`).
    pub fn cgroups_path(mut self, path: &str) -> Self {
        self.spec.cgroups_path = Some(path.to_owned());
        self
    }

    /// Add an OCI hook to `config.json`.
    pub fn hook(mut self, point: HookPoint, hook: Hook) -> Self {
        self.spec.hooks.push((point, hook));
        self
    }

    /// `runc create`: the container exists (namespaces, cgroup, hooks up to
    /// `createContainer` have run) and its init waits for [`Container::start`].
    pub fn create(self) -> Result<Container, Error> {
        self.spec.validate()?;
        require_root()?;
        // Orphaned container inits re-parent to us, so we can reap them.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Error::io("becoming a child subreaper", "/", e.into()))?;
        let id = unique_id(&self.name);
        let cgroups_path = self
            .spec
            .cgroups_path
            .clone()
            .unwrap_or_else(|| format!("/bulwark-testkit/{id}"));
        let rootfs = match self.rootfs {
            Some(r) => r,
            None => Rootfs::busybox()?,
        };
        let net = match self.spec.network {
            Network::Veth => Some(VethNet::create(&id)?),
            Network::Isolated | Network::Host => None,
        };
        let bundle = Bundle::write(&id, &self.spec, &rootfs, net.as_ref(), &cgroups_path)?;
        for command in &self.spec.prepare {
            prepare(command, bundle.path())?;
        }
        runc::create(
            &id,
            bundle.path(),
            &bundle.pid_file(),
            &bundle.stdout_log(),
            &bundle.stderr_log(),
        )?;
        let pid = bundle.read_pid(&id)?;
        Ok(Container {
            id,
            pid,
            cgroups_path,
            bundle,
            net,
            status: None,
        })
    }

    /// [`create`](Self::create), then [`start`](Container::start).
    pub fn start(self) -> Result<Container, Error> {
        let container = self.create()?;
        container.start()?;
        Ok(container)
    }

    /// Start the container, wait for it to exit (at most 60 s) and return
    /// what it printed.
    pub fn run(self) -> Result<Output, Error> {
        let mut container = self.start()?;
        let status = container.wait(RUN_TIMEOUT)?;
        Ok(Output {
            status,
            stdout: container.stdout(),
            stderr: container.stderr(),
        })
    }
}

/// A runc container owned by the test. Dropping it kills and deletes it.
#[derive(Debug)]
pub struct Container {
    id: String,
    pid: u32,
    cgroups_path: String,
    bundle: Bundle,
    net: Option<VethNet>,
    status: Option<ExitStatus>,
}

impl Container {
    /// A builder for a container whose id starts with `bwt-NAME-`.
    pub fn builder(name: &str) -> ContainerBuilder {
        ContainerBuilder {
            name: name.to_owned(),
            spec: Spec::default(),
            rootfs: None,
        }
    }

    /// The runc container id (unique per test run).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the container's init process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn bundle(&self) -> &Path {
        self.bundle.path()
    }

    /// The cgroups path runc was given, e.g. `/bulwark-testkit/ID`.
    pub fn cgroups_path(&self) -> &str {
        &self.cgroups_path
    }

    /// The container's directory in the cgroup v2 hierarchy.
    pub fn cgroup_v2_dir(&self) -> Result<PathBuf, Error> {
        cgroup::v2_dir(&self.cgroups_path)
    }

    /// The container's cgroup v2 id, as `bpf_get_current_cgroup_id()` reports it.
    pub fn cgroup_v2_id(&self) -> Result<u64, Error> {
        cgroup::v2_id(&self.cgroups_path)
    }

    /// The veth network, for [`Network::Veth`] containers.
    pub fn network(&self) -> Option<&VethNet> {
        self.net.as_ref()
    }

    /// `runc start`: the init runs its program.
    pub fn start(&self) -> Result<(), Error> {
        runc::run("start", &self.id, &["start", &self.id]).map(drop)
    }

    /// `runc exec`: run a process in the container and wait for it.
    pub fn exec<I, S>(&self, args: I) -> Result<Output, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = runc::command()
            .arg("exec")
            .arg(&self.id)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(runc::spawn_error)?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `runc kill ID SIGNAL` (e.g. `"TERM"`, `"KILL"`).
    pub fn kill(&self, signal: &str) -> Result<(), Error> {
        runc::run("kill", &self.id, &["kill", &self.id, signal]).map(drop)
    }

    /// Wait until the container's init exits and return how it ended.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_reap()? {
                self.status = Some(status);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    id: self.id.clone(),
                    secs: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn try_reap(&self) -> Result<Option<ExitStatus>, Error> {
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::from_raw((code & 0xff) << 8))),
            Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(ExitStatus::from_raw(sig as i32))),
            Ok(_) => Ok(None),
            Err(source) => Err(Error::Wait {
                id: self.id.clone(),
                source,
            }),
        }
    }

    /// What the container's init wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.bundle.stdout_log()).unwrap_or_default()
    }

    /// What the container's init wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.bundle.stderr_log()).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.kill("KILL");
            let _ = self.wait(Duration::from_secs(10));
        }
        let _ = runc::run("delete", &self.id, &["delete", "--force", &self.id]);
        // The bundle (and a private rootfs) and the network go with the fields.
    }
}

fn require_root() -> Result<(), Error> {
    let uid = nix::unistd::geteuid().as_raw();
    if uid == 0 {
        Ok(())
    } else {
        Err(Error::NotRoot { uid })
    }
}

/// `bwt-NAME-PID-N`: unique across the test processes sharing the machine.
fn unique_id(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("bwt-{clean}-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_runc_safe() {
        let a = unique_id("my test/../x");
        let b = unique_id("my test/../x");
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert!(a.starts_with("bwt-my-test----x-"));
    }
}
