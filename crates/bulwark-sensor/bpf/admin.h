/* Privilege changes (setuid family, setgid family, capset), ptrace, mount
 * (mount and move_mount) and kernel module loading. */
#ifndef BULWARK_ADMIN_H
#define BULWARK_ADMIN_H

#include "path.h"
#include "pending.h"

/* kernels before 6.3 kept capabilities as two 32-bit words */
struct kernel_cap_struct___old {
	__u32 cap[2];
};

static __always_inline __u64 effective_caps(struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	if (bpf_core_field_exists(cred->cap_effective.val))
		return BPF_CORE_READ(cred, cap_effective.val);
	struct kernel_cap_struct___old old = {};
	bpf_probe_read_kernel(&old, sizeof(old), &cred->cap_effective);
	return (__u64)old.cap[1] << 32 | old.cap[0];
}

static __always_inline __u64 priv_value(struct task_struct *task, __u8 kind)
{
	switch (kind) {
	case PRIV_SETUID:
		return BPF_CORE_READ(task, real_cred, euid.val);
	case PRIV_SETGID:
		return BPF_CORE_READ(task, real_cred, egid.val);
	default:
		return effective_caps(task);
	}
}

static __always_inline int priv_enter(struct trace_event_raw_sys_enter *ctx, __u8 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!traced(task))
		return 0;
	struct pending *p = pending_new(EV_PRIV, ctx, 0);
	if (!p)
		return 0;
	p->old = priv_value(task, kind);
	p->addrlen = kind;
	pending_save(p);
	return 0;
}

static __always_inline int priv_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, EV_PRIV, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct priv_fixed *x = (struct priv_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_PRIV);
	__builtin_memset(x, 0, sizeof(*x));
	x->kind = p->addrlen;
	x->result = ret;
	x->old = p->old;
	x->new = priv_value(task, x->kind);
	submit(b, sizeof(struct hdr) + sizeof(struct priv_fixed));
	return 0;
}

#define PRIV_HOOKS(sys, kind)                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                              \
	int sys_enter_##sys(struct trace_event_raw_sys_enter *ctx)              \
	{                                                                       \
		return priv_enter(ctx, kind);                                   \
	}                                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                               \
	int sys_exit_##sys(struct trace_event_raw_sys_exit *ctx)                \
	{                                                                       \
		return priv_exit(ctx);                                          \
	}

PRIV_HOOKS(setuid, PRIV_SETUID)
PRIV_HOOKS(setreuid, PRIV_SETUID)
PRIV_HOOKS(setresuid, PRIV_SETUID)
PRIV_HOOKS(setfsuid, PRIV_SETUID)
PRIV_HOOKS(setgid, PRIV_SETGID)
PRIV_HOOKS(setregid, PRIV_SETGID)
PRIV_HOOKS(setresgid, PRIV_SETGID)
PRIV_HOOKS(setfsgid, PRIV_SETGID)
PRIV_HOOKS(capset, PRIV_CAPSET)

static __always_inline int save_enter(struct trace_event_raw_sys_enter *ctx, __u32 type, int nargs)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!traced(task))
		return 0;
	struct pending *p = pending_new(type, ctx, nargs);
	if (p)
		pending_save(p);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	return save_enter(ctx, EV_PTRACE, 2);
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int sys_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, EV_PTRACE, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct ptrace_fixed *x = (struct ptrace_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_PTRACE);
	x->result = ret;
	x->request = p->args[0];
	x->target = p->args[1];
	x->pad = 0;
	submit(b, sizeof(struct hdr) + sizeof(struct ptrace_fixed));
	return 0;
}

/* mount(source, target, type, flags, data); move_mount(from_dfd,
 * from_path, to_dfd, to_path, flags) is reported as a mount with an empty
 * type and the move flags. */
static __always_inline int mount_exit(struct trace_event_raw_sys_exit *ctx, bool move)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, EV_MOUNT, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct mount_fixed *x = (struct mount_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_MOUNT);
	__builtin_memset(x, 0, sizeof(*x));
	x->result = ret;
	__u32 off = sizeof(struct hdr) + sizeof(struct mount_fixed);
	__u16 flags = 0;
	if (move) {
		x->flags = p->args[4];
		x->source_len = append_user_str(b, &off, (const char *)p->args[1], &flags, F_TRUNC_0);
		x->target_len = append_user_str(b, &off, (const char *)p->args[3], &flags, F_TRUNC_1);
	} else {
		x->flags = p->args[3];
		x->source_len = append_user_str(b, &off, (const char *)p->args[0], &flags, F_TRUNC_0);
		x->target_len = append_user_str(b, &off, (const char *)p->args[1], &flags, F_TRUNC_1);
		x->type_len = append_user_str(b, &off, (const char *)p->args[2], &flags, F_TRUNC_2);
	}
	h->flags |= flags;
	submit(b, off);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mount")
int sys_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	return save_enter(ctx, EV_MOUNT, 4);
}

SEC("tracepoint/syscalls/sys_exit_mount")
int sys_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mount_exit(ctx, false);
}

SEC("tracepoint/syscalls/sys_enter_move_mount")
int sys_enter_move_mount(struct trace_event_raw_sys_enter *ctx)
{
	return save_enter(ctx, EV_MOUNT, 5);
}

SEC("tracepoint/syscalls/sys_exit_move_mount")
int sys_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mount_exit(ctx, true);
}

static __always_inline int module_exit(struct trace_event_raw_sys_exit *ctx, bool from_fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, EV_MODULE, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct module_fixed *x = (struct module_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_MODULE);
	__builtin_memset(x, 0, sizeof(*x));
	x->result = ret;
	__u32 off = sizeof(struct hdr) + sizeof(struct module_fixed);
	if (from_fd) {
		struct file *f = fd_file(task, (__u32)p->args[0]);
		struct path fp = {};
		if (f)
			BPF_CORE_READ_INTO(&fp, f, f_path);
		__u16 flags = 0;
		x->name_len = append_path(b, &off, &fp, &flags, F_TRUNC_0);
		h->flags |= flags;
	}
	submit(b, off);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	return save_enter(ctx, EV_MODULE, 0);
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int sys_exit_init_module(struct trace_event_raw_sys_exit *ctx)
{
	return module_exit(ctx, false);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	return save_enter(ctx, EV_MODULE, 1);
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int sys_exit_finit_module(struct trace_event_raw_sys_exit *ctx)
{
	return module_exit(ctx, true);
}

#endif
