//! Every program in `bpf/sensor.bpf.c` and where it attaches.

/// Where a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A tracepoint: category and name under tracefs `events/`.
    Tracepoint(&'static str, &'static str),
    /// A raw tracepoint by name.
    Raw(&'static str),
}

/// One eBPF program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The C function name (the program's name in the object).
    pub program: &'static str,
    pub attach: Attach,
    /// A required hook failing to load or attach stops the sensor; an
    /// optional one (a syscall this architecture or kernel lacks) is
    /// reported as a degraded hook and the sensor runs without it.
    pub required: bool,
}

const fn tp(program: &'static str, category: &'static str, required: bool) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint(category, program),
        required,
    }
}

/// The sensor's programs, enter hooks before exit hooks so that no exit
/// runs without its enter having had the chance to record state.
pub const HOOKS: &[Hook] = &[
    tp("sched_process_exec", "sched", true),
    tp("sched_process_exit", "sched", true),
    Hook {
        program: "sched_process_fork",
        attach: Attach::Raw("sched_process_fork"),
        required: true,
    },
    tp("cgroup_mkdir", "cgroup", true),
    tp("sys_enter_execveat", "syscalls", false),
    tp("sys_exit_execveat", "syscalls", false),
    tp("sys_enter_openat", "syscalls", true),
    tp("sys_exit_openat", "syscalls", true),
    tp("sys_enter_openat2", "syscalls", false),
    tp("sys_exit_openat2", "syscalls", false),
    tp("sys_enter_open", "syscalls", false),
    tp("sys_exit_open", "syscalls", false),
    tp("sys_enter_creat", "syscalls", false),
    tp("sys_exit_creat", "syscalls", false),
    tp("sys_enter_connect", "syscalls", true),
    tp("sys_exit_connect", "syscalls", true),
    tp("sys_enter_bind", "syscalls", true),
    tp("sys_exit_bind", "syscalls", true),
    tp("sys_enter_listen", "syscalls", true),
    tp("sys_exit_listen", "syscalls", true),
    tp("sys_enter_accept", "syscalls", false),
    tp("sys_exit_accept", "syscalls", false),
    tp("sys_enter_accept4", "syscalls", true),
    tp("sys_exit_accept4", "syscalls", true),
    tp("sys_enter_setuid", "syscalls", false),
    tp("sys_exit_setuid", "syscalls", false),
    tp("sys_enter_setreuid", "syscalls", false),
    tp("sys_exit_setreuid", "syscalls", false),
    tp("sys_enter_setresuid", "syscalls", false),
    tp("sys_exit_setresuid", "syscalls", false),
    tp("sys_enter_setfsuid", "syscalls", false),
    tp("sys_exit_setfsuid", "syscalls", false),
    tp("sys_enter_setgid", "syscalls", false),
    tp("sys_exit_setgid", "syscalls", false),
    tp("sys_enter_setregid", "syscalls", false),
    tp("sys_exit_setregid", "syscalls", false),
    tp("sys_enter_setresgid", "syscalls", false),
    tp("sys_exit_setresgid", "syscalls", false),
    tp("sys_enter_setfsgid", "syscalls", false),
    tp("sys_exit_setfsgid", "syscalls", false),
    tp("sys_enter_capset", "syscalls", false),
    tp("sys_exit_capset", "syscalls", false),
    tp("sys_enter_ptrace", "syscalls", false),
    tp("sys_exit_ptrace", "syscalls", false),
    tp("sys_enter_mount", "syscalls", false),
    tp("sys_exit_mount", "syscalls", false),
    tp("sys_enter_move_mount", "syscalls", false),
    tp("sys_exit_move_mount", "syscalls", false),
    tp("sys_enter_init_module", "syscalls", false),
    tp("sys_exit_init_module", "syscalls", false),
    tp("sys_enter_finit_module", "syscalls", false),
    tp("sys_exit_finit_module", "syscalls", false),
];
