//! Compiles Bulwark's eBPF programs (C) for a crate's `build.rs`.
//!
//! Every `*.bpf.c` file in a directory (by convention `bpf/` next to the
//! crate's `Cargo.toml`) is compiled by clang with `-target bpf -O2 -g` into
//! `$OUT_DIR/NAME.bpf.o`, a CO-RE object that aya loads and relocates against
//! the running kernel's BTF:
//!
//! ```no_run
//! // in build.rs's `main`:
//! if let Err(err) = bulwark_bpf_build::Build::new("bpf").compile_all() {
//!     eprintln!("error: {err}");
//!     std::process::exit(1);
//! }
//! // then in src/lib.rs:
//! // static OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/exec.bpf.o"));
//! ```
//!
//! The programs include `vmlinux.h` (kernel types, for CO-RE field access)
//! and libbpf's `bpf/bpf_helpers.h`, `bpf/bpf_core_read.h`,
//! `bpf/bpf_tracing.h`. **`vmlinux.h` is generated at build time**, by
//! `bpftool btf dump file /sys/kernel/btf/vmlinux format c`, into `$OUT_DIR`,
//! rather than committed: it is a 2.8 MB generated file that would be stale
//! the day it is committed, and with CO-RE its exact kernel does not matter
//! (field offsets are relocated at load time against the target kernel, so
//! an object built on one kernel loads on another that has the fields).
//! Builders without kernel BTF can point `BULWARK_VMLINUX_H` at a header
//! produced elsewhere, or `BULWARK_BTF` at another BTF file.
//!
//! Loading with aya 0.14 (checked on the project's machines): tracepoint,
//! raw tracepoint and `tp_btf` programs, ring buffers and cgroup programs
//! load; fentry and BPF-LSM are refused. aya's CO-RE relocator rejects
//! indices into flexible arrays, so read `bpf_raw_tracepoint_args` as
//! `((u64 *)ctx)[i]`, not `ctx->args[i]`. Attaching tracepoints needs tracefs
//! mounted (`bulwark-sensor` mounts it when missing).
//!
//! Needs the Debian packages `clang` (14 or later), `libbpf-dev` and
//! `bpftool`; a missing one is a build error naming the package. The crate
//! does not load programs (aya does, at run time) and has no Rust types for
//! the programs' structs (each crate declares its `#[repr(C)]` mirrors).

mod build;
mod error;
mod tools;

pub use build::Build;
pub use error::Error;
