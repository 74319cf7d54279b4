/* Bulwark Protect mode, network: cgroup sock_addr programs that refuse
 * connect(2), unconnected sendmsg(2) and bind(2) outside a workload's allow
 * map. One instance of each program is loaded per protected container, with
 * that container's policy id baked in (`bulwark_policy`), and attached to the
 * container's cgroup v2; the maps are shared and pinned in bpffs, so
 * enforcement stays in place while the agent restarts.
 *
 * The user-space side is src/net/ (map layout in src/net/wire.rs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define OP_CONNECT 0
#define OP_BIND 1
#define OP_SENDMSG 2

#define F_EGRESS 1
#define F_LISTEN 2
#define F_MONITOR 4

#define V_DENIED 0
#define V_ALERT 1

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

/* The policy of the container this instance is attached to. */
volatile const __u32 bulwark_policy = 0;

/* LPM key: policy, direction, protocol, port (network order, 0 = any),
 * then the address as IPv6 (IPv4 as ::ffff:a.b.c.d). The prefix length
 * counts bits from `policy` on: 64 fixed bits + address prefix. */
struct rule_key {
	__u32 prefixlen;
	__u32 policy;
	__u8 op;
	__u8 proto;
	__u16 port;
	__u8 addr[16];
};

struct policy_cfg {
	__u32 flags;
};

struct counters {
	__u64 allowed; /* unused: kept for layout */
	__u64 denied;
	__u64 alerted;
	__u64 lost;
};

struct deny_event {
	__u64 cgroup_id;
	__u32 policy;
	__u32 tgid;
	__u32 tid;
	__u8 op;
	__u8 proto;
	__u8 family;
	__u8 verdict;
	__u16 port; /* host order */
	__u16 pad;
	__u8 addr[16];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct rule_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bulwark_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct policy_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bulwark_policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bulwark_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bulwark_net_events SEC(".maps");

static __always_inline void count(__u32 policy, int which)
{
	struct counters *c = bpf_map_lookup_elem(&bulwark_counters, &policy);
	if (!c)
		return;
	if (which == 0)
		__sync_fetch_and_add(&c->allowed, 1);
	else if (which == 1)
		__sync_fetch_and_add(&c->denied, 1);
	else if (which == 2)
		__sync_fetch_and_add(&c->alerted, 1);
	else
		__sync_fetch_and_add(&c->lost, 1);
}

static __always_inline void report(struct rule_key *key, __u8 op, __u8 family,
				   __u8 verdict)
{
	struct deny_event *e = bpf_ringbuf_reserve(&bulwark_net_events, sizeof(*e), 0);
	if (!e) {
		count(key->policy, 3);
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->policy = key->policy;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->op = op;
	e->proto = key->proto;
	e->family = family;
	e->verdict = verdict;
	e->port = bpf_ntohs(key->port);
	e->pad = 0;
	__builtin_memcpy(e->addr, key->addr, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/* 1 lets the call proceed, 0 makes it fail with EPERM. */
static __always_inline int decide(struct bpf_sock_addr *ctx, struct rule_key *key,
				  __u8 op, __u8 family)
{
	__u32 policy = bulwark_policy;
	struct policy_cfg *cfg = bpf_map_lookup_elem(&bulwark_policies, &policy);
	/* Attached but without a policy is an agent bug; refuse. */
	__u32 flags = cfg ? cfg->flags : F_EGRESS | F_LISTEN;
	__u32 needed = op == OP_BIND ? F_LISTEN : F_EGRESS;
	if (!(flags & needed))
		return 1;
	__u8 proto = ctx->protocol;
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return 1;
	key->prefixlen = 64 + 128;
	key->policy = policy;
	key->op = op == OP_BIND ? OP_BIND : OP_CONNECT;
	key->proto = proto;
	key->port = (__u16)ctx->user_port;
	/* bind(port 0) asks the kernel to pick a port: not a listener choice. */
	if (op == OP_BIND && key->port == 0)
		return 1;
	if (bpf_map_lookup_elem(&bulwark_rules, key))
		goto allowed;
	__u16 port = key->port;
	key->port = 0;
	if (bpf_map_lookup_elem(&bulwark_rules, key))
		goto allowed;
	key->port = port;
	if (flags & F_MONITOR) {
		count(policy, 2);
		report(key, op, family, V_ALERT);
		return 1;
	}
	count(policy, 1);
	report(key, op, family, V_DENIED);
	return 0;
allowed:
	/* Allowed calls are not counted: this is the hot path of every
	 * permitted connect and datagram. */
	return 1;
}

static __always_inline int v4(struct bpf_sock_addr *ctx, __u8 op)
{
	struct rule_key key = {};
	__u32 ip = ctx->user_ip4;
	key.addr[10] = 0xff;
	key.addr[11] = 0xff;
	__builtin_memcpy(&key.addr[12], &ip, 4);
	return decide(ctx, &key, op, 4);
}

static __always_inline int v6(struct bpf_sock_addr *ctx, __u8 op)
{
	struct rule_key key = {};
	__u32 w0 = ctx->user_ip6[0];
	__u32 w1 = ctx->user_ip6[1];
	__u32 w2 = ctx->user_ip6[2];
	__u32 w3 = ctx->user_ip6[3];
	__builtin_memcpy(&key.addr[0], &w0, 4);
	__builtin_memcpy(&key.addr[4], &w1, 4);
	__builtin_memcpy(&key.addr[8], &w2, 4);
	__builtin_memcpy(&key.addr[12], &w3, 4);
	return decide(ctx, &key, op, 6);
}

SEC("cgroup/connect4")
int bulwark_connect4(struct bpf_sock_addr *ctx) { return v4(ctx, OP_CONNECT); }

SEC("cgroup/connect6")
int bulwark_connect6(struct bpf_sock_addr *ctx) { return v6(ctx, OP_CONNECT); }

SEC("cgroup/sendmsg4")
int bulwark_sendmsg4(struct bpf_sock_addr *ctx) { return v4(ctx, OP_SENDMSG); }

SEC("cgroup/sendmsg6")
int bulwark_sendmsg6(struct bpf_sock_addr *ctx) { return v6(ctx, OP_SENDMSG); }

SEC("cgroup/bind4")
int bulwark_bind4(struct bpf_sock_addr *ctx) { return v4(ctx, OP_BIND); }

SEC("cgroup/bind6")
int bulwark_bind6(struct bpf_sock_addr *ctx) { return v6(ctx, OP_BIND); }
