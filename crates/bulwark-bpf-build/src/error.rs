use std::io;
use std::path::PathBuf;

/// Why the eBPF programs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`{tool}` not found: install the Debian package `{package}` (scripts/apt-packages.txt)"
    )]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error(
        "{header} not found: install the Debian package `libbpf-dev` (scripts/apt-packages.txt)"
    )]
    MissingLibbpfHeaders { header: PathBuf },
    #[error("clang {found} is too old for CO-RE eBPF programs; need clang {need} or later")]
    ClangTooOld { found: u32, need: u32 },
    #[error(
        "no kernel BTF at {path} to generate vmlinux.h from (set BULWARK_VMLINUX_H to a prebuilt header, or BULWARK_BTF to a BTF file)"
    )]
    NoKernelBtf { path: PathBuf },
    #[error("no *.bpf.c programs in {dir}")]
    NoPrograms { dir: PathBuf },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("environment variable {name} is not set (is this running from build.rs?)")]
    MissingEnv { name: &'static str },
    #[error("unsupported target architecture {arch} for eBPF programs")]
    UnsupportedArch { arch: String },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
