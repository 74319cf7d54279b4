//! `bulwark run`: start a workload with the hardening its policy exports.
//!
//! - `bulwark run --policy FILE -- CMD [ARG...]`: a plain command. Landlock
//!   rules (exec allowlist, deny-by-default file classes) and the seccomp
//!   filter (seccompiler) are applied to this process, which then executes
//!   CMD in its place: CMD and everything it runs inherit them.
//! - `bulwark run --policy FILE --bundle DIR [--hooks] [--id ID]`: an OCI
//!   bundle. The seccomp filter is merged into `DIR/config.json` (runc
//!   installs it in the container), `--hooks` adds `bulwark hook` at
//!   `createRuntime`/`poststop`; with `--id` runc then runs the container.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bulwark_enforce::from_profile::Options;
use bulwark_enforce::hardening::{self, seccomp};
use bulwark_enforce::policy::EnforcePolicy;
use bulwark_enforce::store::load_document;
use serde_json::{Value, json};

use super::enforce::DEFAULT_SOCKET;

/// Largest `config.json` read.
const MAX_CONFIG: u64 = 4 << 20;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// EnforcementPolicy or WorkloadProfile document (YAML).
    #[arg(long)]
    policy: PathBuf,
    /// Which policy of the document, when it holds several (workload id).
    #[arg(long)]
    workload: Option<String>,
    /// An OCI bundle to harden instead of a command.
    #[arg(long, conflicts_with = "command")]
    bundle: Option<PathBuf>,
    /// With --bundle: also add the `bulwark hook` stages to config.json.
    #[arg(long, requires = "bundle")]
    hooks: bool,
    /// With --hooks: the enforcement service's control socket.
    #[arg(long, default_value = DEFAULT_SOCKET, requires = "hooks")]
    socket: PathBuf,
    /// With --bundle: run the container under this id (`runc run`).
    #[arg(long, requires = "bundle")]
    id: Option<String>,
    /// The command and its arguments.
    #[arg(last = true)]
    command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = policy(&args.policy, args.workload.as_deref())?;
    match &args.bundle {
        Some(bundle) => run_bundle(&args, bundle, &policy),
        None => run_command(&args.command, &policy),
    }
}

fn policy(path: &Path, workload: Option<&str>) -> anyhow::Result<EnforcePolicy> {
    let mut all = load_document(path, &Options::default())
        .with_context(|| format!("policy {}", path.display()))?;
    match workload {
        Some(w) => all
            .into_iter()
            .find(|p| p.workload.as_str() == w)
            .with_context(|| format!("policy {}: no policy for workload {w}", path.display())),
        None if all.len() == 1 => Ok(all.remove(0)),
        None => bail!(
            "policy {}: holds {} policies, choose one with --workload",
            path.display(),
            all.len()
        ),
    }
}

fn run_command(command: &[String], policy: &EnforcePolicy) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = command.split_first() else {
        bail!("nothing to run: give a command after `--`, or --bundle DIR");
    };
    let hardened = hardening::harden_self(policy).context("hardening")?;
    let landlock = match &hardened.landlock {
        Some(a) => format!("landlock {}", a.status),
        None => "landlock: no rule".to_owned(),
    };
    eprintln!(
        "bulwark run: {}: {landlock}; seccomp: {} syscalls denied",
        policy.workload,
        hardened.seccomp_denied.len()
    );
    for note in &hardened.notes {
        eprintln!("bulwark run: note: {note}");
    }
    // Only returns on failure.
    let err = std::process::Command::new(program).args(rest).exec();
    Err(err).with_context(|| format!("executing {program}"))
}

fn run_bundle(args: &Args, bundle: &Path, policy: &EnforcePolicy) -> anyhow::Result<ExitCode> {
    let path = bundle.join("config.json");
    let mut config = read_config(&path)?;
    seccomp::merge_oci(&mut config, &policy.hardening.seccomp)
        .with_context(|| format!("{}", path.display()))?;
    if args.hooks {
        add_hooks(&mut config, &args.socket).with_context(|| format!("{}", path.display()))?;
    }
    write_config(&path, &config)?;
    let Some(id) = &args.id else {
        return Ok(ExitCode::SUCCESS);
    };
    let status = std::process::Command::new("runc")
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .status()
        .context("running runc (install the Debian package runc)")?;
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

fn read_config(path: &Path) -> anyhow::Result<Value> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = Vec::new();
    file.take(MAX_CONFIG + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG {
        bail!("{}: larger than 4 MiB", path.display());
    }
    serde_json::from_slice(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// Replace `path` atomically (a temporary file in the same directory).
fn write_config(path: &Path, config: &Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.bulwark-tmp");
    let text = serde_json::to_vec_pretty(config)?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// Add `bulwark hook create-runtime` first and `poststop` last, unless a
/// `bulwark hook` is already there.
fn add_hooks(config: &mut Value, socket: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the bulwark binary")?;
    let exe = exe
        .to_str()
        .context("the bulwark binary's path is not UTF-8")?;
    let socket = socket.to_str().context("--socket is not UTF-8")?;
    let hooks = config
        .as_object_mut()
        .context("is not a JSON object")?
        .entry("hooks")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("hooks is not an object")?;
    for (point, arg, first) in [
        ("createRuntime", "create-runtime", true),
        ("poststop", "poststop", false),
    ] {
        let list = hooks
            .entry(point)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .with_context(|| format!("hooks.{point} is not a list"))?;
        let ours = |h: &Value| {
            h["args"].get(1).and_then(Value::as_str) == Some("hook")
                && h["args"].get(2).and_then(Value::as_str) == Some(arg)
        };
        if list.iter().any(ours) {
            continue;
        }
        let hook = json!({
            "path": exe,
            "args": ["bulwark", "hook", arg, "--socket", socket],
        });
        if first {
            list.insert(0, hook);
        } else {
            list.push(hook);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_added_once() {
        let mut c = json!({"hooks": {"poststop": [{"path": "/x"}]}});
        add_hooks(&mut c, Path::new("/run/b.sock")).unwrap();
        add_hooks(&mut c, Path::new("/run/b.sock")).unwrap();
        assert_eq!(c["hooks"]["createRuntime"].as_array().unwrap().len(), 1);
        let post = c["hooks"]["poststop"].as_array().unwrap();
        assert_eq!(post.len(), 2);
        assert_eq!(post[0]["path"], "/x", "existing hooks keep their order");
        assert_eq!(post[1]["args"][2], "poststop");
    }
}
