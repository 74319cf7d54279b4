//! The build: find programs, make `vmlinux.h`, run clang.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, tools};

const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
const LIBBPF_HEADER: &str = "bpf/bpf_helpers.h";
const INCLUDE_DIRS: [&str; 2] = ["/usr/include", "/usr/local/include"];

/// A set of eBPF C programs to compile; see the crate documentation.
#[derive(Clone, Debug)]
#[must_use]
pub struct Build {
    src_dir: PathBuf,
    out_dir: Option<PathBuf>,
    target_arch: Option<String>,
    defines: Vec<(String, String)>,
    cargo_metadata: bool,
}

impl Build {
    /// Programs in `src_dir`, relative to `CARGO_MANIFEST_DIR` when relative.
    pub fn new(src_dir: impl Into<PathBuf>) -> Build {
        Build {
            src_dir: src_dir.into(),
            out_dir: None,
            target_arch: None,
            defines: Vec::new(),
            cargo_metadata: true,
        }
    }

    /// Where objects and `vmlinux.h` go (default `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Build {
        self.out_dir = Some(dir.into());
        self
    }

    /// Rust target arch (default `$CARGO_CFG_TARGET_ARCH`, else the host's).
    pub fn target_arch(mut self, arch: &str) -> Build {
        self.target_arch = Some(arch.to_owned());
        self
    }

    /// Passes `-DNAME=VALUE` to clang.
    pub fn define(mut self, name: &str, value: &str) -> Build {
        self.defines.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Whether to print `cargo:rerun-if-*` lines (default true).
    pub fn cargo_metadata(mut self, on: bool) -> Build {
        self.cargo_metadata = on;
        self
    }

    /// Compiles every `*.bpf.c` in the source directory into
    /// `OUT/NAME.bpf.o` and returns the object paths, sorted.
    pub fn compile_all(&self) -> Result<Vec<PathBuf>, Error> {
        let src_dir = self.resolved_src_dir()?;
        let out_dir = self.resolved_out_dir()?;
        let arch = tools::bpf_arch(&self.resolved_arch())?;
        let programs = find_programs(&src_dir)?;
        self.emit_rerun(&src_dir);
        tools::check_clang("clang")?;
        check_libbpf_headers()?;
        let vmlinux_dir = prepare_vmlinux_h(&out_dir)?;
        let mut objects = Vec::with_capacity(programs.len());
        for program in &programs {
            let object = out_dir.join(object_name(program));
            let mut cmd = Command::new("clang");
            cmd.args(clang_args(arch, &vmlinux_dir, &src_dir, &self.defines))
                .arg("-c")
                .arg(program)
                .arg("-o")
                .arg(&object);
            tools::run(cmd, "clang", "clang")?;
            tools::strip_debug(&object)?;
            objects.push(object);
        }
        Ok(objects)
    }

    fn resolved_src_dir(&self) -> Result<PathBuf, Error> {
        if self.src_dir.is_absolute() {
            return Ok(self.src_dir.clone());
        }
        let manifest = env::var_os("CARGO_MANIFEST_DIR").ok_or(Error::MissingEnv {
            name: "CARGO_MANIFEST_DIR",
        })?;
        Ok(PathBuf::from(manifest).join(&self.src_dir))
    }

    fn resolved_out_dir(&self) -> Result<PathBuf, Error> {
        match &self.out_dir {
            Some(d) => Ok(d.clone()),
            None => env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::MissingEnv { name: "OUT_DIR" }),
        }
    }

    fn resolved_arch(&self) -> String {
        self.target_arch
            .clone()
            .or_else(|| env::var("CARGO_CFG_TARGET_ARCH").ok())
            .unwrap_or_else(|| env::consts::ARCH.to_owned())
    }

    fn emit_rerun(&self, src_dir: &Path) {
        if !self.cargo_metadata {
            return;
        }
        println!("cargo:rerun-if-changed={}", src_dir.display());
        println!("cargo:rerun-if-changed={KERNEL_BTF}");
        println!("cargo:rerun-if-env-changed=BULWARK_VMLINUX_H");
        println!("cargo:rerun-if-env-changed=BULWARK_BTF");
    }
}

/// The clang command line, minus input and output.
fn clang_args(
    arch: &str,
    vmlinux_dir: &Path,
    src_dir: &Path,
    defines: &[(String, String)],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-target",
        "bpf",
        "-mcpu=v3",
        "-O2",
        "-g",
        "-Wall",
        "-Werror",
        // Programs are self-contained: no libc headers, only vmlinux.h and libbpf.
        "-fno-stack-protector",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("-D__TARGET_ARCH_{arch}"));
    for (name, value) in defines {
        args.push(format!("-D{name}={value}"));
    }
    args.push(format!("-I{}", vmlinux_dir.display()));
    args.push(format!("-I{}", src_dir.display()));
    args
}

/// `exec.bpf.c` -> `exec.bpf.o`.
fn object_name(program: &Path) -> String {
    let stem = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}.o", stem.trim_end_matches(".c"))
}

fn find_programs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))?;
    let mut programs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    programs.sort();
    if programs.is_empty() {
        return Err(Error::NoPrograms {
            dir: dir.to_owned(),
        });
    }
    Ok(programs)
}

fn check_libbpf_headers() -> Result<(), Error> {
    let found = INCLUDE_DIRS
        .iter()
        .any(|d| Path::new(d).join(LIBBPF_HEADER).is_file());
    if found {
        Ok(())
    } else {
        Err(Error::MissingLibbpfHeaders {
            header: Path::new(INCLUDE_DIRS[0]).join(LIBBPF_HEADER),
        })
    }
}

/// A directory holding `vmlinux.h`: `BULWARK_VMLINUX_H`'s, or one generated
/// into `out_dir` from `BULWARK_BTF` (default the running kernel's BTF).
fn prepare_vmlinux_h(out_dir: &Path) -> Result<PathBuf, Error> {
    let include = out_dir.join("vmlinux-include");
    fs::create_dir_all(&include).map_err(|e| Error::io("creating", &include, e))?;
    let header = include.join("vmlinux.h");
    if let Some(given) = env::var_os("BULWARK_VMLINUX_H") {
        fs::copy(&given, &header).map_err(|e| Error::io("copying", PathBuf::from(given), e))?;
        return Ok(include);
    }
    let btf = env::var_os("BULWARK_BTF").map_or_else(|| PathBuf::from(KERNEL_BTF), PathBuf::from);
    tools::dump_vmlinux_h(&btf, &header)?;
    Ok(include)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_keep_the_bpf_infix() {
        assert_eq!(object_name(Path::new("/x/bpf/exec.bpf.c")), "exec.bpf.o");
    }

    #[test]
    fn clang_args_target_bpf_with_btf_and_arch() {
        let args = clang_args(
            "x86",
            Path::new("/o"),
            Path::new("/s"),
            &[("A".into(), "1".into())],
        );
        for want in [
            "-target",
            "bpf",
            "-g",
            "-O2",
            "-D__TARGET_ARCH_x86",
            "-DA=1",
            "-I/o",
            "-I/s",
        ] {
            assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
        }
    }

    #[test]
    fn empty_source_dir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_programs(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()));
    }

    #[test]
    fn only_bpf_c_files_are_programs() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.bpf.c", "a.bpf.c", "common.h", "notes.c"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> = find_programs(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.bpf.c", "b.bpf.c"]);
    }
}
