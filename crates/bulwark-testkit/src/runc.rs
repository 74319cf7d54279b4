//! Invoking the `runc` binary.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use crate::Error;

pub(crate) const RUNC: &str = "runc";

/// Runs `runc ARGS...` for container `id`, returning its stdout.
pub(crate) fn run(action: &'static str, id: &str, args: &[&str]) -> Result<Vec<u8>, Error> {
    let out = command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(spawn_error)?;
    check(action, id, out.status, &out.stderr)?;
    Ok(out.stdout)
}

/// `runc create`. The container inherits the stdio we give runc, so runc's
/// own error messages land in the same stderr file; it is read back on failure.
pub(crate) fn create(
    id: &str,
    bundle: &Path,
    pid_file: &Path,
    stdout_log: &Path,
    stderr_log: &Path,
) -> Result<(), Error> {
    let open = |p: &Path| File::create(p).map_err(|e| Error::io("creating", p, e));
    let status = command()
        .arg("create")
        .arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(pid_file)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(open(stdout_log)?)
        .stderr(open(stderr_log)?)
        .status()
        .map_err(spawn_error)?;
    let stderr = if status.success() {
        Vec::new()
    } else {
        std::fs::read(stderr_log).unwrap_or_default()
    };
    check("create", id, status, &stderr)
}

pub(crate) fn command() -> Command {
    Command::new(RUNC)
}

pub(crate) fn spawn_error(source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::MissingTool {
            tool: RUNC,
            package: "runc",
        }
    } else {
        Error::Spawn {
            program: RUNC,
            source,
        }
    }
}

pub(crate) fn check(
    action: &'static str,
    id: &str,
    status: ExitStatus,
    stderr: &[u8],
) -> Result<(), Error> {
    if status.success() {
        return Ok(());
    }
    Err(Error::Runc {
        action,
        id: id.to_owned(),
        status: status.to_string(),
        stderr: String::from_utf8_lossy(stderr).trim().to_owned(),
    })
}
