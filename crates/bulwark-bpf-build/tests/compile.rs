//! Compiles a real program with clang against a generated vmlinux.h.
//! Needs clang, libbpf-dev, bpftool and kernel BTF (all in scripts/apt-packages.txt).

use std::process::Command;

const PROGRAM: &str = r#"
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    u32 *slot = bpf_ringbuf_reserve(&events, sizeof(u32), 0);
    if (!slot)
        return 0;
    *slot = BPF_CORE_READ(task, tgid) + ANSWER;
    bpf_ringbuf_submit(slot, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn compiles_a_core_program_with_btf_and_named_sections() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("probe.bpf.c"), PROGRAM).unwrap();
    let objects = bulwark_bpf_build::Build::new(src.path())
        .out_dir(out.path())
        .define("ANSWER", "42")
        .cargo_metadata(false)
        .compile_all()
        .unwrap();
    assert_eq!(objects, [out.path().join("probe.bpf.o")]);
    assert!(out.path().join("vmlinux-include/vmlinux.h").is_file());
    let sections = Command::new("readelf")
        .arg("-SW")
        .arg(&objects[0])
        .output()
        .unwrap();
    let sections = String::from_utf8_lossy(&sections.stdout);
    for want in [
        ".BTF",
        ".BTF.ext",
        "tracepoint/sched/sched_process_exec",
        ".maps",
        "license",
    ] {
        assert!(sections.contains(want), "{want} missing from\n{sections}");
    }
}

#[test]
fn c_errors_fail_the_build_with_clangs_message() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("broken.bpf.c"),
        "int f(void) { return undefined_name; }\n",
    )
    .unwrap();
    let err = bulwark_bpf_build::Build::new(src.path())
        .out_dir(out.path())
        .cargo_metadata(false)
        .compile_all()
        .unwrap_err()
        .to_string();
    assert!(err.contains("undefined_name"), "{err}");
    assert!(err.contains("broken.bpf.c"), "{err}");
}
