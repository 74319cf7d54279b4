/* Network: connect, accept, bind, listen, with addresses from the kernel's
 * socket (what really happened) and, where the socket has none yet (a
 * failed connect or bind), from the caller's sockaddr. */
#ifndef BULWARK_NET_H
#define BULWARK_NET_H

#include "path.h"
#include "pending.h"

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline struct sock *fd_sock(struct task_struct *task, __u64 fd)
{
	struct file *f = fd_file(task, fd);
	if (!f || (file_mode(f) & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(s, sk);
}

static __always_inline bool is_zero16(const __u8 *a)
{
	__u64 lo = 0, hi = 0;
	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&hi, a + 8, 8);
	return lo == 0 && hi == 0;
}

static __always_inline void sock_state(struct sock_fixed *s, struct sock *sk)
{
	if (!sk)
		return;
	s->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	s->type = BPF_CORE_READ(sk, sk_type);
	s->protocol = BPF_CORE_READ(sk, sk_protocol);
	s->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	s->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (s->family == AF_INET_) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(s->laddr, &l, 4);
		__builtin_memcpy(s->raddr, &r, 4);
	} else if (s->family == AF_INET6_) {
		BPF_CORE_READ_INTO(&s->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&s->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* Fills the remote (connect) or local (bind) side from the caller's
 * sockaddr when the socket does not have it; returns the unix path length
 * appended. */
static __always_inline __u16 sockaddr_fallback(struct evbuf *b, __u32 *off, struct sock_fixed *s,
					       struct pending *p, bool remote)
{
	__u16 family = 0;
	__builtin_memcpy(&family, p->addr, 2);
	if (!s->family)
		s->family = family;
	if (family == AF_INET_ || family == AF_INET6_) {
		__u16 port_be = 0;
		__builtin_memcpy(&port_be, p->addr + 2, 2);
		__u8 *addr = remote ? s->raddr : s->laddr;
		__u16 *port = remote ? &s->rport : &s->lport;
		if (!*port)
			*port = bpf_ntohs(port_be);
		if (is_zero16(addr)) {
			if (family == AF_INET_)
				__builtin_memcpy(addr, p->addr + 4, 4);
			else
				__builtin_memcpy(addr, p->addr + 8, 16);
		}
		return 0;
	}
	if (family == AF_UNIX_ && p->addrlen > 2) {
		__u32 len = p->addrlen - 2;
		if (len > SOCKADDR_MAX - 2)
			len = SOCKADDR_MAX - 2;
		/* abstract names start with NUL; the decoder shows them as @name */
		return append_kernel(b, off, p->addr + 2, len);
	}
	return 0;
}

static __always_inline int save_sock_enter(struct trace_event_raw_sys_enter *ctx, __u32 type, bool has_addr,
					   int nargs)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!traced(task))
		return 0;
	struct pending *p = pending_new(type, ctx, nargs);
	if (!p)
		return 0;
	if (has_addr) {
		__u64 len = ctx->args[2];
		if (len > SOCKADDR_MAX)
			len = SOCKADDR_MAX;
		p->addrlen = len;
		bpf_probe_read_user(p->addr, len & 0xff, (void *)ctx->args[1]);
	}
	pending_save(p);
	return 0;
}

static __always_inline int emit_sock_exit(struct trace_event_raw_sys_exit *ctx, __u32 type)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pending *p;
	if (!pending_take(&p, type, task))
		return 0;
	__s64 ret = sys_ret(ctx);
	struct evbuf *b = evbuf();
	if (!b)
		return 0;
	struct hdr *h = (struct hdr *)b->data;
	struct sock_fixed *s = (struct sock_fixed *)(b->data + sizeof(struct hdr));
	fill_hdr(h, task, type);
	__builtin_memset(s, 0, sizeof(*s));
	s->result = ret;
	__u64 fd = (__u32)p->args[0]; /* an int: only the low half is defined */
	if (type == EV_ACCEPT)
		fd = ret >= 0 ? (__u64)ret : fd;
	s->fd = fd;
	sock_state(s, fd_sock(task, fd));
	__u32 off = sizeof(struct hdr) + sizeof(struct sock_fixed);
	if (type == EV_CONNECT)
		s->path_len = sockaddr_fallback(b, &off, s, p, true);
	else if (type == EV_BIND)
		s->path_len = sockaddr_fallback(b, &off, s, p, false);
	submit(b, off);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return save_sock_enter(ctx, EV_CONNECT, true, 3);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return emit_sock_exit(ctx, EV_CONNECT);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int sys_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return save_sock_enter(ctx, EV_BIND, true, 3);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int sys_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return emit_sock_exit(ctx, EV_BIND);
}

SEC("tracepoint/syscalls/sys_enter_listen")
int sys_enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	return save_sock_enter(ctx, EV_LISTEN, false, 2);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int sys_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	return emit_sock_exit(ctx, EV_LISTEN);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int sys_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return save_sock_enter(ctx, EV_ACCEPT, false, 3);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return emit_sock_exit(ctx, EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int sys_enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return save_sock_enter(ctx, EV_ACCEPT, false, 4);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return emit_sock_exit(ctx, EV_ACCEPT);
}

#endif
