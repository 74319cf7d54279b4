/* The record format shared by the eBPF programs and src/wire.rs.
 *
 * Every record is a `struct hdr`, a fixed part chosen by `hdr.type`, then a
 * string area holding the strings the fixed part counts, back to back, not
 * NUL-terminated. All integers are little-endian (host order on the
 * supported targets). Offsets are pinned by _Static_assert below and by the
 * decoder's tests; change both together.
 */
#ifndef BULWARK_WIRE_H
#define BULWARK_WIRE_H

#define EV_EXEC 1
#define EV_FORK 2
#define EV_EXIT 3
#define EV_CONNECT 4
#define EV_ACCEPT 5
#define EV_BIND 6
#define EV_LISTEN 7
#define EV_OPEN 8
#define EV_PRIV 9
#define EV_PTRACE 10
#define EV_MOUNT 11
#define EV_MODULE 12
#define EV_CGROUP_MKDIR 13
#define EV_MAX 14

/* hdr.flags */
#define F_TRUNC_0 (1 << 0)        /* first string truncated */
#define F_TRUNC_1 (1 << 1)
#define F_TRUNC_2 (1 << 2)
#define F_TRUNC_3 (1 << 3)
#define F_OUTSIDE_ROOT (1 << 4)   /* the main path is not below the task's root */
#define F_DELETED (1 << 5)        /* the file has no links (deleted or anonymous) */

/* loss counters: index = type * C_KINDS + kind */
#define C_EMITTED 0       /* records the programs tried to send */
#define C_RINGBUF_FULL 1  /* of those, refused by a full ring buffer */
#define C_STATE_FULL 2    /* syscall entries not tracked: enter->exit map full */
#define C_KINDS 3

/* exec via */
#define VIA_EXECVE 0
#define VIA_EXECVEAT 1
#define VIA_MEMFD 2

/* stdio kinds */
#define FD_CLOSED 0
#define FD_FILE 1
#define FD_PIPE 2
#define FD_SOCKET 3
#define FD_CHR 4
#define FD_OTHER 5

/* privilege change kinds */
#define PRIV_SETUID 0
#define PRIV_SETGID 1
#define PRIV_CAPSET 2

struct hdr {
	__u16 type;
	__u16 flags;
	__u32 size;       /* whole record, header included */
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;  /* cgroup v2 id of the task */
	__u32 pid;        /* thread id */
	__u32 tgid;       /* process id */
	__u32 ppid;       /* tgid of real_parent */
	__u32 uid;
	__u32 gid;
	__u32 mnt_ns;
	__u32 pid_ns;
	__u32 net_ns;
	char comm[16];
};

struct exec_fixed {
	__u64 exe_ino;
	__u32 exe_dev;    /* kernel dev_t: major << 20 | minor */
	__u8 via;
	__u8 stdio[3];
	__u16 exe_len;    /* strings: exe, filename, argv (NUL-separated), cwd */
	__u16 filename_len;
	__u16 argv_len;
	__u16 cwd_len;
};

struct fork_fixed {
	__u32 child_pid;
	__u32 child_tgid;
};

struct exit_fixed {
	__u32 status;     /* wait status: exit code << 8 | signal */
	__u32 pad;
};

struct sock_fixed {
	__s64 result;
	__u16 family;
	__u16 type;       /* SOCK_STREAM, SOCK_DGRAM, ... (0 when unknown) */
	__u16 protocol;   /* IPPROTO_* (0 when unknown) */
	__u16 lport;      /* host order */
	__u16 rport;      /* host order */
	__u16 path_len;   /* string: unix socket path */
	__u32 fd;
	__u8 laddr[16];   /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
};

struct open_fixed {
	__s64 result;
	__u32 flags;
	__u16 path_len;   /* strings: path, base */
	__u16 base_len;   /* for failed relative opens: cwd or the dirfd's path */
	__u8 resolved;    /* 1: path is the opened file's canonical path */
	__u8 pad[7];
};

struct priv_fixed {
	__s64 result;
	__u64 old;
	__u64 new;
	__u8 kind;
	__u8 pad[7];
};

struct ptrace_fixed {
	__s64 result;
	__s64 request;
	__u32 target;
	__u32 pad;
};

struct mount_fixed {
	__s64 result;
	__u64 flags;
	__u16 source_len; /* strings: source, target, fs type */
	__u16 target_len;
	__u16 type_len;
	__u16 pad;
};

struct module_fixed {
	__s64 result;
	__u16 name_len;   /* string: the module file's path ("" for init_module) */
	__u8 pad[6];
};

struct cgroup_fixed {
	__u64 id;
	__u32 level;
	__u16 path_len;   /* string: path relative to the v2 hierarchy root */
	__u16 pad;
};

_Static_assert(sizeof(struct hdr) == 72, "hdr layout");
_Static_assert(sizeof(struct exec_fixed) == 24, "exec layout");
_Static_assert(sizeof(struct sock_fixed) == 56, "sock layout");
_Static_assert(sizeof(struct open_fixed) == 24, "open layout");
_Static_assert(sizeof(struct priv_fixed) == 32, "priv layout");
_Static_assert(sizeof(struct ptrace_fixed) == 24, "ptrace layout");
_Static_assert(sizeof(struct mount_fixed) == 24, "mount layout");
_Static_assert(sizeof(struct module_fixed) == 16, "module layout");
_Static_assert(sizeof(struct cgroup_fixed) == 16, "cgroup layout");

#endif
