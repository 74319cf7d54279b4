/* Process lifecycle: exec (with exe path, argv, cwd, stdio), fork, exit. */
#ifndef BULWARK_PROCESS_H
#define BULWARK_PROCESS_H

#include "path.h"
#include "pending.h"

#define ARGV_MAX 4095

/* tgid -> 1 while an execveat() is in progress */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} execveat_tgids SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execveat")
int sys_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!traced(task))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;
	bpf_map_update_elem(&execveat_tgids, &tgid, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int sys_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&execveat_tgids, &tgid);
	return 0;
}

static __always_inline __u8 fd_kind(struct task_struct *task, __u32 fd)
{
	struct file *f = fd_file(task, fd);
	if (!f)
		return FD_CLOSED;
	switch (file_mode(f) & S_IFMT_) {
	case S_IFREG_:
		return FD_FILE;
	case S_IFIFO_:
		return FD_PIPE;
	case S_IFSOCK_:
		return FD_SOCKET;
	case S_IFCHR_:
		return FD_CHR;
	default:
		return FD_OTHER;
	}
}

static __always_inline __u8 exec_via(struct file *exe, __u32 tgid)
{
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	char prefix[6] = {};
	const unsigned char *name = BPF_CORE_READ(exe, f_path.dentry, d_name.name);
	bpf_probe_read_kernel(prefix, sizeof(prefix), name);
	if (BPF_CORE_READ(inode, __i_nlink) == 0 && prefix[0] == 'm' && prefix[1] == 'e' &&
	    prefix[2] == 'm' && prefix[3] == 'f' && prefix[4] == 'd' && prefix[5] == ':')
		return VIA_MEMFD;
	if (bpf_map_lookup_elem(&execveat_tgids, &tgid))
		return VIA_EXECVEAT;
	return VIA_EXECVE;
}

static __always_inline __u16 append_argv(struct evbuf *b, __u32 *off, struct task_struct *task,
					 __u16 *flags)
{
	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u64 n = end - start;
	__u32 o = *off;
	if (end <= start || o > STR_LIMIT)
		return 0;
	if (n > ARGV_MAX) {
		n = ARGV_MAX;
		*flags |= F_TRUNC_2;
	}
	n &= STR_MAX - 1;
	if (bpf_probe_read_user(&b->data[o], n, (void *)start) < 0)
		return 0;
	*off = o + n;
	return n;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!traced(task))
		return 0;
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct exec_fixed *x = (struct exec_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_EXEC);
	__u32 off = sizeof(struct hdr) + sizeof(struct exec_fixed);

	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct path exe_path = BPF_CORE_READ(exe, f_path);
	x->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
	x->exe_dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
	x->via = exec_via(exe, h->tgid);
	x->stdio[0] = fd_kind(task, 0);
	x->stdio[1] = fd_kind(task, 1);
	x->stdio[2] = fd_kind(task, 2);
	if (BPF_CORE_READ(exe, f_inode, __i_nlink) == 0)
		h->flags |= F_DELETED;

	__u16 flags = 0;
	x->exe_len = append_path(b, &off, &exe_path, &flags, F_TRUNC_0);
	/* the exe's F_OUTSIDE_ROOT is what matters; the cwd walk must not set it */
	__u16 exe_flags = flags;

	__u32 loc = ctx->__data_loc_filename & 0xFFFF;
	__u32 o = off;
	x->filename_len = 0;
	if (o <= STR_LIMIT) {
		long n = bpf_probe_read_kernel_str(&b->data[o], STR_MAX, (char *)ctx + loc);
		if (n > 0) {
			x->filename_len = (n - 1) & (STR_MAX - 1);
			off = o + x->filename_len;
		}
		if (n >= STR_MAX)
			flags |= F_TRUNC_1;
	}
	x->argv_len = append_argv(b, &off, task, &flags);
	struct path pwd = BPF_CORE_READ(task, fs, pwd);
	x->cwd_len = append_path(b, &off, &pwd, &flags, F_TRUNC_3);
	h->flags |= (flags & ~F_OUTSIDE_ROOT) | (exe_flags & F_OUTSIDE_ROOT);
	submit(b, off);
	return 0;
}

/* raw tracepoint: args are (struct task_struct *parent, struct task_struct *child) */
SEC("raw_tracepoint/sched_process_fork")
int sched_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)((__u64 *)ctx)[1];
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 child_pid = BPF_CORE_READ(child, pid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	if (child_pid != child_tgid)
		return 0; /* a new thread, not a new process */
	if (!traced(task))
		return 0;
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct fork_fixed *f = (struct fork_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_FORK);
	f->child_pid = child_pid;
	f->child_tgid = child_tgid;
	submit(b, sizeof(struct hdr) + sizeof(struct fork_fixed));
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* a thread that dies inside a syscall never reaches its sys_exit */
	__u64 key = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&pending, &key);
	/* report the process, not each thread: only when the last thread exits */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!traced(task))
		return 0;
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct exit_fixed *e = (struct exit_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_EXIT);
	e->status = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	submit(b, sizeof(struct hdr) + sizeof(struct exit_fixed));
	return 0;
}

#endif
