/* File opens: open, openat, openat2, creat. A successful open reports the
 * canonical path of the file the kernel opened; a failed one reports the
 * name asked for, plus the directory it was relative to. */
#ifndef BULWARK_FILE_H
#define BULWARK_FILE_H

#include "path.h"
#include "pending.h"

#define O_WRONLY_ 01
#define O_RDWR_ 02
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define AT_FDCWD_ -100

static __always_inline bool open_wanted(__u64 flags)
{
	if (cfg_open_mode == OPEN_ALL)
		return true;
	return flags & (O_WRONLY_ | O_RDWR_ | O_CREAT_ | O_TRUNC_);
}

/* dfd in args[0], filename in args[1], flags in `old` */
static __always_inline int open_enter(struct trace_event_raw_sys_enter *ctx, __s64 dfd,
				      const char *name, __u64 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!open_wanted(flags) || !traced(task))
		return 0;
	struct pending *p = pending_new(EV_OPEN, ctx, 0);
	if (!p)
		return 0;
	p->args[0] = dfd;
	p->args[1] = (__u64)name;
	p->old = flags;
	pending_save(p);
	return 0;
}

static __always_inline int open_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, EV_OPEN, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct open_fixed *o = (struct open_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_OPEN);
	__builtin_memset(o, 0, sizeof(*o));
	o->result = ret;
	o->flags = p->old;
	__u32 off = sizeof(struct hdr) + sizeof(struct open_fixed);
	__u16 flags = 0;
	struct file *f = ret >= 0 ? fd_file(task, ret) : NULL;
	if (f) {
		struct path fp = BPF_CORE_READ(f, f_path);
		o->resolved = 1;
		o->path_len = append_path(b, &off, &fp, &flags, F_TRUNC_0);
		if (BPF_CORE_READ(f, f_inode, __i_nlink) == 0)
			flags |= F_DELETED;
	} else {
		const char *name = (const char *)p->args[1];
		char first = 0;
		bpf_probe_read_user(&first, 1, name);
		o->path_len = append_user_str(b, &off, name, &flags, F_TRUNC_0);
		__u16 base_flags = 0;
		if (first != '/') {
			/* an int in a 64-bit register: only the low half is defined */
			__s32 dfd = (__s32)p->args[0];
			struct path base = {};
			if (dfd == AT_FDCWD_) {
				BPF_CORE_READ_INTO(&base, task, fs, pwd);
			} else {
				struct file *df = dfd >= 0 ? fd_file(task, dfd) : NULL;
				if (df)
					BPF_CORE_READ_INTO(&base, df, f_path);
			}
			o->base_len = append_path(b, &off, &base, &base_flags, F_TRUNC_1);
		}
		flags |= base_flags & F_TRUNC_1;
	}
	h->flags |= flags;
	submit(b, off);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx, (__s64)ctx->args[0], (const char *)ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int sys_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	/* struct open_how starts with `__u64 flags` */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	return open_enter(ctx, (__s64)ctx->args[0], (const char *)ctx->args[1], flags);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_open")
int sys_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx, AT_FDCWD_, (const char *)ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int sys_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx, AT_FDCWD_, (const char *)ctx->args[0], O_CREAT_ | O_WRONLY_ | O_TRUNC_);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx);
}

#endif
