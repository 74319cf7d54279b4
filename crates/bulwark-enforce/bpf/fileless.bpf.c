/* Bulwark Protect mode, fileless execution: makes every attempt to run a
 * memory file (memfd_create) in a protected container visible, and stops
 * one that the kernel did not refuse.
 *
 * fanotify cannot mark the kernel's internal memfd mount, so the exec
 * permission events of src/guard.rs never see these files. The kernel
 * refuses them when vm.memfd_noexec = 2 in the container's pid namespace
 * (src/hardening/memfd.rs); these programs report what it refused:
 *
 *   sys_enter/exit_memfd_create  memfd_create(MFD_EXEC) that failed (EACCES)
 *   sys_enter/exit_execve(at)    an exec whose target is a memfd (by fd:
 *                                execveat(fd, "", AT_EMPTY_PATH), or the
 *                                paths /proc/self/fd/N, /proc/thread-self/fd/N,
 *                                /proc/OWN-PID/fd/N, /dev/fd/N) that failed
 *   raw sched_process_exec       a memfd that *was* executed, whatever path
 *                                led there (bprm->file or ->executable):
 *                                killed with SIGKILL before its first
 *                                instruction when the container is watched
 *                                with W_KILL (vm.memfd_noexec could not be
 *                                set), reported either way
 *
 * Only tasks in (or below) a watched cgroup v2 are considered. The
 * user-space side is src/fileless.rs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_EMPTY_PATH_ 0x1000
#define MFD_EXEC_ 0x0010U
#define MNT_INTERNAL_ 0x4000
#define EACCES_ 13
#define SIGKILL_ 9

#define W_KILL 1

#define K_CREATE_REFUSED 1 /* memfd_create(MFD_EXEC) refused */
#define K_EXEC_REFUSED 2   /* exec of a memfd failed */
#define K_EXEC_RAN 3       /* exec of a memfd succeeded (killed if W_KILL) */

#define NAME_LEN 64
#define PATH_LEN 64
#define WATCH_DEPTH 8

struct watch {
	__u32 policy;
	__u32 flags;
};

struct pending {
	__u32 policy;
	__u32 kind;
	char name[NAME_LEN];
};

struct memfd_event {
	__u64 cgroup_id;
	__u32 policy;
	__u32 tgid;
	__u32 tid;
	__s32 ret;
	__u8 kind;
	__u8 killed;
	__u16 pad;
	__u32 pad2;
	char comm[16];
	char name[NAME_LEN];
};

/* cgroup v2 id of a protected container -> its policy and flags */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct watch);
} bulwark_memfd_watch SEC(".maps");

/* between a syscall's enter and exit, per thread */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct pending);
} bulwark_memfd_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} bulwark_memfd_events SEC(".maps");

/* [0]: records that did not fit the ring buffer */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bulwark_memfd_lost SEC(".maps");

static __always_inline struct watch *watched(struct task_struct *task)
{
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	for (int i = 0; i < WATCH_DEPTH && cg; i++) {
		__u64 id = BPF_CORE_READ(cg, kn, id);
		struct watch *w = bpf_map_lookup_elem(&bulwark_memfd_watch, &id);
		if (w)
			return w;
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
	}
	return 0;
}

/* A memory file: on a kernel-internal mount (shmem's or hugetlbfs's) and
 * named "memfd:..." by memfd_create. Copies the name into `name`. */
static __always_inline bool memfd_file(struct file *f, char *name)
{
	if (!f)
		return false;
	struct vfsmount *mnt = BPF_CORE_READ(f, f_path.mnt);
	if (!(BPF_CORE_READ(mnt, mnt_flags) & MNT_INTERNAL_))
		return false;
	const unsigned char *dname = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(name, NAME_LEN, dname) < 6)
		return false;
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' &&
	       name[4] == 'd' && name[5] == ':';
}

static __always_inline struct file *fd_file(struct task_struct *task, __s64 fd)
{
	if (fd < 0 || fd > 1 << 20)
		return 0;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The task's thread-group id as its own pid namespace numbers it. */
static __always_inline __u32 ns_tgid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);
	__u64 off = bpf_core_field_offset(struct pid, numbers);
	__u64 size = bpf_core_type_size(struct upid);
	struct upid *up = (struct upid *)((char *)pid + off + (level & 31) * size);
	return BPF_CORE_READ(up, nr);
}

static __always_inline bool prefix(const char *s, int at, const char *p, int n)
{
#pragma unroll
	for (int i = 0; i < 24; i++) {
		if (i >= n)
			return true;
		if (s[(at + i) & (PATH_LEN - 1)] != p[i])
			return false;
	}
	return true;
}

/* Decimal number at s[*at..] up to `stop` (or the end of the string);
 * advances *at past it. -1 if there is none or it is not followed by `stop`. */
static __always_inline __s64 number(const char *s, int *at, char stop)
{
	__s64 v = -1;
#pragma unroll
	for (int i = 0; i < 10; i++) {
		char c = s[(*at + i) & (PATH_LEN - 1)];
		if (c >= '0' && c <= '9') {
			v = (v < 0 ? 0 : v * 10) + (c - '0');
			continue;
		}
		*at += i;
		return c == stop ? v : -1;
	}
	return -1;
}

/* The fd a path names in the calling process's own fd table, or -1. */
static __always_inline __s64 fd_of_path(struct task_struct *task, const char *user_path)
{
	char s[PATH_LEN] = {};
	if (bpf_probe_read_user_str(s, sizeof(s), user_path) <= 0)
		return -1;
	int at = 0;
	if (prefix(s, 0, "/dev/fd/", 8))
		at = 8;
	else if (prefix(s, 0, "/proc/self/fd/", 14))
		at = 14;
	else if (prefix(s, 0, "/proc/thread-self/fd/", 21))
		at = 21;
	else if (prefix(s, 0, "/proc/", 6)) {
		at = 6;
		__s64 pid = number(s, &at, '/');
		if (pid < 0 || pid != ns_tgid(task) || !prefix(s, at, "/fd/", 4))
			return -1;
		at += 4;
	} else
		return -1;
	return number(s, &at, 0);
}

static __always_inline void emit(struct task_struct *task, __u32 policy, __u8 kind, __s32 ret,
				 __u8 killed, const char *name)
{
	struct memfd_event *e = bpf_ringbuf_reserve(&bulwark_memfd_events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&bulwark_memfd_lost, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->policy = policy;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->ret = ret;
	e->kind = kind;
	e->killed = killed;
	e->pad = 0;
	e->pad2 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->name, name, NAME_LEN);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void exec_enter(struct task_struct *task, struct watch *w, __s64 fd)
{
	if (fd < 0)
		return;
	struct pending p = {.policy = w->policy, .kind = K_EXEC_REFUSED};
	if (!memfd_file(fd_file(task, fd), p.name))
		return;
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&bulwark_memfd_pending, &id, &p, BPF_ANY);
}

static __always_inline void syscall_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&bulwark_memfd_pending, &id);
	if (!p)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* A successful exec is reported by sched_process_exec. */
	if (p->kind == K_EXEC_REFUSED && ret < 0)
		emit(task, p->policy, K_EXEC_REFUSED, ret, 0, p->name);
	if (p->kind == K_CREATE_REFUSED && ret == -EACCES_)
		emit(task, p->policy, K_CREATE_REFUSED, ret, 0, p->name);
	bpf_map_delete_elem(&bulwark_memfd_pending, &id);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int bulwark_memfd_execve(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct watch *w = watched(task);
	if (w)
		exec_enter(task, w, fd_of_path(task, (const char *)ctx->args[0]));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int bulwark_memfd_execveat(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct watch *w = watched(task);
	if (!w)
		return 0;
	const char *path = (const char *)ctx->args[1];
	char first = 0;
	bpf_probe_read_user(&first, 1, path);
	if (first == 0 && (ctx->args[4] & AT_EMPTY_PATH_))
		exec_enter(task, w, (__s32)ctx->args[0]);
	else
		exec_enter(task, w, fd_of_path(task, path));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int bulwark_memfd_execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	syscall_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int bulwark_memfd_execveat_exit(struct trace_event_raw_sys_exit *ctx)
{
	syscall_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int bulwark_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[1] & MFD_EXEC_))
		return 0;
	struct watch *w = watched((struct task_struct *)bpf_get_current_task());
	if (!w)
		return 0;
	struct pending p = {.policy = w->policy, .kind = K_CREATE_REFUSED};
	__builtin_memcpy(p.name, "memfd:", 6);
	bpf_probe_read_user_str(&p.name[6], NAME_LEN - 6, (const char *)ctx->args[0]);
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&bulwark_memfd_pending, &id, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int bulwark_memfd_create_exit(struct trace_event_raw_sys_exit *ctx)
{
	syscall_exit(ctx->ret);
	return 0;
}

/* raw: args are (task, old_pid, bprm); read as ((u64 *)ctx)[i] (see
 * bulwark-bpf-build). Runs before the new program's first instruction. */
SEC("raw_tracepoint/sched_process_exec")
int bulwark_memfd_ran(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct watch *w = watched(task);
	if (!w)
		return 0;
	struct linux_binprm *bprm = (struct linux_binprm *)((__u64 *)ctx)[2];
	char name[NAME_LEN] = {};
	bool memfd = memfd_file(BPF_CORE_READ(bprm, file), name);
	if (!memfd && bpf_core_field_exists(bprm->executable))
		memfd = memfd_file(BPF_CORE_READ(bprm, executable), name);
	if (!memfd)
		return 0;
	__u8 killed = 0;
	if ((w->flags & W_KILL) && bpf_send_signal(SIGKILL_) == 0)
		killed = 1;
	emit(task, w->policy, K_EXEC_RAN, 0, killed, name);
	return 0;
}
