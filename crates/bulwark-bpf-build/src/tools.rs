//! The external tools: clang, bpftool, llvm-strip.

use std::path::Path;
use std::process::{Command, Output};

use crate::Error;

/// Oldest clang whose BPF backend emits the CO-RE relocations we rely on.
pub(crate) const MIN_CLANG: u32 = 11;

/// Runs `cmd`; a missing program becomes [`Error::MissingTool`].
pub(crate) fn run(
    mut cmd: Command,
    tool: &'static str,
    package: &'static str,
) -> Result<Output, Error> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingTool { tool, package }
        } else {
            Error::io("running", tool, e)
        }
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: describe(&cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that clang exists and is new enough.
pub(crate) fn check_clang(clang: &str) -> Result<(), Error> {
    let mut cmd = Command::new(clang);
    cmd.arg("--version");
    let out = run(cmd, "clang", "clang")?;
    let found = clang_major(&String::from_utf8_lossy(&out.stdout)).unwrap_or(0);
    if found < MIN_CLANG {
        return Err(Error::ClangTooOld {
            found,
            need: MIN_CLANG,
        });
    }
    Ok(())
}

/// The major version from `clang --version` output
/// (`Debian clang version 14.0.6`, `clang version 17.0.1 (...)`).
pub(crate) fn clang_major(version_output: &str) -> Option<u32> {
    let first = version_output.lines().next()?;
    let rest = first.split("clang version ").nth(1)?;
    rest.split(['.', ' ', '-']).next()?.parse().ok()
}

/// `__TARGET_ARCH_*` name libbpf's headers expect for a Rust target arch.
pub(crate) fn bpf_arch(rust_arch: &str) -> Result<&'static str, Error> {
    match rust_arch {
        "x86_64" => Ok("x86"),
        "aarch64" => Ok("arm64"),
        "riscv64" => Ok("riscv"),
        "s390x" => Ok("s390"),
        "powerpc64" => Ok("powerpc"),
        "loongarch64" => Ok("loongarch"),
        other => Err(Error::UnsupportedArch {
            arch: other.to_owned(),
        }),
    }
}

/// Writes `vmlinux.h` for the kernel BTF at `btf` with bpftool.
pub(crate) fn dump_vmlinux_h(btf: &Path, out: &Path) -> Result<(), Error> {
    if !btf.exists() {
        return Err(Error::NoKernelBtf {
            path: btf.to_owned(),
        });
    }
    let mut cmd = Command::new("bpftool");
    cmd.args(["btf", "dump", "file"])
        .arg(btf)
        .args(["format", "c"]);
    let dumped = run(cmd, "bpftool", "bpftool")?;
    std::fs::write(out, dumped.stdout).map_err(|e| Error::io("writing", out, e))
}

/// Removes DWARF (keeps BTF and BTF.ext) when llvm-strip is installed;
/// aya needs only the BTF sections.
pub(crate) fn strip_debug(object: &Path) -> Result<(), Error> {
    let mut cmd = Command::new("llvm-strip");
    cmd.arg("-g").arg(object);
    match run(cmd, "llvm-strip", "llvm") {
        Ok(_) | Err(Error::MissingTool { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clang_major_reads_debian_and_upstream_banners() {
        assert_eq!(
            clang_major("Debian clang version 14.0.6\nTarget: x86_64"),
            Some(14)
        );
        assert_eq!(
            clang_major("clang version 17.0.1 (https://github.com/llvm)"),
            Some(17)
        );
        assert_eq!(
            clang_major("Ubuntu clang version 18.1.3 (1ubuntu1)"),
            Some(18)
        );
        assert_eq!(clang_major("gcc (Debian 12.2.0)"), None);
    }

    #[test]
    fn unknown_arch_is_an_error_naming_it() {
        assert_eq!(bpf_arch("x86_64").ok(), Some("x86"));
        let err = bpf_arch("sparc64").err().map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("sparc64")));
    }

    #[test]
    fn missing_tool_names_the_debian_package() {
        let cmd = Command::new("/nonexistent/clang-for-test");
        let err = run(cmd, "clang", "clang").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "`clang` not found: install the Debian package `clang` (scripts/apt-packages.txt)"
            )
        );
    }

    #[test]
    fn missing_kernel_btf_says_how_to_build_without_it() {
        let out = std::env::temp_dir().join("bulwark-bpf-build-never-written.h");
        let err = dump_vmlinux_h(Path::new("/nonexistent/btf"), &out).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("/nonexistent/btf") && msg.contains("BULWARK_VMLINUX_H"),
            "{msg}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn failing_command_reports_its_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 4"]);
        let err = run(cmd, "sh", "dash").err().map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("boom") && m.contains("exit status: 4")));
    }
}
