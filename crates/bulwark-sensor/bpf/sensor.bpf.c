/* Bulwark's runtime sensor: one object, every program and map.
 * The record format is in wire.h; the user-space decoder is src/wire.rs. */
#include "common.h"
#include "path.h"
#include "pending.h"
#include "process.h"
#include "net.h"
#include "file.h"
#include "admin.h"

/* cgroup creation in the v2 hierarchy (hierarchy id 0): lets user space map
 * a cgroup id to its path before the first event from it arrives, even for
 * containers gone before the runtime state could be read. Never filtered. */
SEC("tracepoint/cgroup/cgroup_mkdir")
int cgroup_mkdir(struct trace_event_raw_cgroup *ctx)
{
	if (ctx->root != 0)
		return 0;
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct hdr *h = (struct hdr *)b->data;
	struct cgroup_fixed *c = (struct cgroup_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, EV_CGROUP_MKDIR);
	c->id = ctx->id;
	c->level = ctx->level;
	c->pad = 0;
	__u32 off = sizeof(struct hdr) + sizeof(struct cgroup_fixed);
	__u32 o = off;
	c->path_len = 0;
	if (o <= STR_LIMIT) {
		__u32 loc = ctx->__data_loc_path & 0xFFFF;
		long n = bpf_probe_read_kernel_str(&b->data[o], STR_MAX, (char *)ctx + loc);
		if (n > 0) {
			c->path_len = (n - 1) & (STR_MAX - 1);
			off = o + c->path_len;
		}
	}
	submit(b, off);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
