/* Maps, configuration, the record header, the in-kernel filter and the
 * loss counters shared by every program of the sensor. */
#ifndef BULWARK_COMMON_H
#define BULWARK_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "wire.h"

/* ---- configuration (read-only globals, set by the loader) ---- */

#define FILTER_ALL 0        /* every task */
#define FILTER_CONTAINERS 1 /* tasks outside the host pid namespace, or in a watched cgroup */
#define FILTER_WATCHED 2    /* only tasks in (or below) a watched cgroup */

#define OPEN_ALL 0          /* report every open */
#define OPEN_WRITES 1       /* only opens that may modify: write, create, truncate */

const volatile __u32 cfg_filter = FILTER_CONTAINERS;
const volatile __u32 cfg_host_pidns = 0;
const volatile __u32 cfg_agent_tgid = 0;
const volatile __u32 cfg_open_mode = OPEN_ALL;
/* Wake the reader only once this many bytes wait in the ring buffer; it
 * polls on a short timer for the rest. Waking it per record costs the
 * traced task an IPI and a context switch every time. */
const volatile __u64 cfg_wakeup_bytes = 256 << 10;

/* ---- maps ---- */

/* Two lanes. The bulk lane carries the high-volume types (file opens,
 * connects, accepts); the priority lane everything that is rare and
 * decides detections (exec, fork, exit, privilege changes, ptrace, mount,
 * module load, bind, listen, cgroup creation). A flood of opens can fill
 * the bulk lane, never the priority one (see lane_priority). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader may resize */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* the loader may resize */
} events_priority SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX * C_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* [0]: how many cgroups are watched; the cgroup walk is skipped at 0 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} watched_count SEC(".maps");

/* cgroup v2 ids whose tasks (and descendants' tasks) are traced */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} watched_cgroups SEC(".maps");

#define EVBUF 16384
#define STR_LIMIT 8192  /* a string starts at or before this offset */
#define STR_MAX 4096    /* and is shorter than this */
#define PATH_BUF 4096
#define NAME_MAX_ 255

struct evbuf {
	__u8 data[EVBUF];
};

struct pathbuf {
	char buf[PATH_BUF + NAME_MAX_ + 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct evbuf);
} evbufs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pathbuf);
} pathbufs SEC(".maps");

/* ---- loss counters ---- */

static __always_inline void count(__u32 type, __u32 kind)
{
	__u32 key = type * C_KINDS + kind;
	__u64 *c = bpf_map_lookup_elem(&counters, &key);
	if (c)
		*c += 1;
}

/* ---- filter ---- */

static __always_inline __u32 task_pid_ns(struct task_struct *task)
{
	/* pid->numbers[pid->level].ns, without a CO-RE access into the
	 * flexible array (aya rejects those) */
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);
	__u64 off = bpf_core_field_offset(struct pid, numbers);
	__u64 size = bpf_core_type_size(struct upid);
	struct upid *up = (struct upid *)((char *)pid + off + (level & 31) * size);
	return BPF_CORE_READ(up, ns, ns.inum);
}

#define WATCH_DEPTH 8

static __always_inline bool in_watched_cgroup(struct task_struct *task)
{
	__u32 zero = 0;
	__u32 *n = bpf_map_lookup_elem(&watched_count, &zero);
	if (!n || *n == 0)
		return false;
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	for (int i = 0; i < WATCH_DEPTH && cg; i++) {
		__u64 id = BPF_CORE_READ(cg, kn, id);
		if (bpf_map_lookup_elem(&watched_cgroups, &id))
			return true;
		/* cgroup.self is the first member: its parent css is the parent cgroup */
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
	}
	return false;
}

/* Decides in the kernel whether the current task is reported at all,
 * cheapest test first: it runs on every traced syscall of every task. */
static __always_inline bool traced(struct task_struct *task)
{
	if (cfg_agent_tgid && (bpf_get_current_pid_tgid() >> 32) == cfg_agent_tgid)
		return false;
	if (cfg_filter == FILTER_ALL)
		return true;
	if (cfg_filter == FILTER_CONTAINERS && task_pid_ns(task) != cfg_host_pidns)
		return true;
	return in_watched_cgroup(task);
}

/* ---- records ---- */

static __always_inline struct evbuf *evbuf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&evbufs, &zero);
}

static __always_inline void fill_hdr(struct hdr *h, struct task_struct *task, __u16 type)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	h->type = type;
	h->flags = 0;
	h->size = 0;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = (__u32)pid_tgid;
	h->tgid = pid_tgid >> 32;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	h->pid_ns = task_pid_ns(task);
	h->net_ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Keep in step with wire::priority_lane (Rust). */
static __always_inline bool lane_priority(__u32 type)
{
	return type != EV_OPEN && type != EV_CONNECT && type != EV_ACCEPT;
}

/* Sends `size` bytes of the event buffer on its type's lane and counts the
 * attempt and any loss. */
static __always_inline void submit(struct evbuf *b, __u32 size)
{
	struct hdr *h = (struct hdr *)b->data;
	__u32 type = h->type;
	if (size < sizeof(struct hdr) || size > EVBUF)
		return;
	h->size = size;
	count(type, C_EMITTED);
	long err;
	if (lane_priority(type)) {
		__u64 waiting = bpf_ringbuf_query(&events_priority, BPF_RB_AVAIL_DATA);
		__u64 wake = waiting >= cfg_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
		err = bpf_ringbuf_output(&events_priority, b->data, size, wake);
	} else {
		__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		__u64 wake = waiting >= cfg_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
		err = bpf_ringbuf_output(&events, b->data, size, wake);
	}
	if (err < 0)
		count(type, C_RINGBUF_FULL);
}

/* Appends a user-space string (at most STR_MAX - 1 bytes, without its NUL)
 * at *off; returns its length. */
static __always_inline __u16 append_user_str(struct evbuf *b, __u32 *off, const char *src,
					     __u16 *flags, __u16 trunc_bit)
{
	__u32 o = *off;
	if (!src || o > STR_LIMIT)
		return 0;
	long n = bpf_probe_read_user_str(&b->data[o], STR_MAX, src);
	if (n <= 0)
		return 0;
	if (n >= STR_MAX)
		*flags |= trunc_bit;
	__u32 len = (n - 1) & (STR_MAX - 1); /* drop the NUL */
	*off = o + len;
	return len;
}

/* Appends `len` bytes of kernel memory at *off. */
static __always_inline __u16 append_kernel(struct evbuf *b, __u32 *off, const void *src, __u32 len)
{
	__u32 o = *off;
	if (o > STR_LIMIT)
		return 0;
	len &= (STR_MAX - 1);
	if (bpf_probe_read_kernel(&b->data[o], len, src) < 0)
		return 0;
	*off = o + len;
	return len;
}

#endif
