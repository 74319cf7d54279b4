//! Compiles `bpf/*.bpf.c` into `$OUT_DIR/*.bpf.o` (see bulwark-bpf-build).

fn main() {
    if let Err(err) = bulwark_bpf_build::Build::new("bpf").compile_all() {
        eprintln!("error: building the eBPF programs: {err}");
        std::process::exit(1);
    }
}
