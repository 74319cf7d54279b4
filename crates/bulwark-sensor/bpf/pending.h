/* Syscall arguments kept from sys_enter to sys_exit, keyed by thread. */
#ifndef BULWARK_PENDING_H
#define BULWARK_PENDING_H

#include "common.h"

#define SOCKADDR_MAX 112 /* sockaddr_un: family + 108-byte path, rounded up */

struct pending {
	__u64 args[6];
	__u64 old;        /* previous euid/egid/capabilities for privilege changes */
	__u32 type;       /* EV_* the exit will report */
	__u32 addrlen;
	__u8 addr[SOCKADDR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending);
} pending SEC(".maps");

/* scratch for building a `struct pending` (too big for the stack with the rest) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} pending_scratch SEC(".maps");

/* A zeroed pending entry for this CPU holding the syscall's first `nargs`
 * arguments, or NULL. Reading past the tracepoint's own arguments would
 * make the kernel refuse to attach the program (EACCES). */
static __always_inline struct pending *pending_new(__u32 type, struct trace_event_raw_sys_enter *ctx,
						   int nargs)
{
	__u32 zero = 0;
	struct pending *p = bpf_map_lookup_elem(&pending_scratch, &zero);
	if (!p)
		return NULL;
	__builtin_memset(p, 0, sizeof(*p));
	p->type = type;
	/* constant offsets: the verifier refuses a moved ctx pointer */
	if (nargs > 0)
		p->args[0] = ctx->args[0];
	if (nargs > 1)
		p->args[1] = ctx->args[1];
	if (nargs > 2)
		p->args[2] = ctx->args[2];
	if (nargs > 3)
		p->args[3] = ctx->args[3];
	if (nargs > 4)
		p->args[4] = ctx->args[4];
	if (nargs > 5)
		p->args[5] = ctx->args[5];
	return p;
}

/* Stores the entry; a full map is a counted loss for that event type. */
static __always_inline void pending_save(struct pending *p)
{
	__u64 key = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pending, &key, p, BPF_ANY) < 0) {
		count(p->type, C_EMITTED);
		count(p->type, C_STATE_FULL);
	}
}

/* The syscall's return value. Read once, through a helper: the compiler
 * would otherwise form a moved ctx pointer, which the verifier refuses. */
static __always_inline __s64 sys_ret(struct trace_event_raw_sys_exit *ctx)
{
	__s64 ret = 0;
	bpf_probe_read_kernel(&ret, sizeof(ret), &ctx->ret);
	return ret;
}

/* Copies out and removes this thread's entry. A traced thread without one
 * lost its entry (map full at enter, or the syscall began before the sensor
 * attached): that is counted, so the exit is never dropped silently. */
static __always_inline bool pending_take(struct pending **out, __u32 type, struct task_struct *task)
{
	__u64 key = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &key);
	if (!p) {
		if (traced(task)) {
			count(type, C_EMITTED);
			count(type, C_STATE_FULL);
		}
		return false;
	}
	__u32 zero = 0;
	struct pending *copy = bpf_map_lookup_elem(&pending_scratch, &zero);
	if (!copy)
		return false;
	__builtin_memcpy(copy, p, sizeof(*copy));
	bpf_map_delete_elem(&pending, &key);
	*out = copy;
	return copy->type == type;
}

#endif
