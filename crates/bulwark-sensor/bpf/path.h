/* Canonical paths: walk a (dentry, vfsmount) pair up to the task's root,
 * crossing mount points, the way the kernel's d_path does. What comes out is
 * what was really opened or executed: symlinks, `..`, `/proc/self/root/...`
 * and dirfd-relative names are already resolved by the kernel. */
#ifndef BULWARK_PATH_H
#define BULWARK_PATH_H

#include "common.h"

#define PATH_DEPTH 64

static __always_inline struct pathbuf *pathbuf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pathbufs, &zero);
}

/* Field offsets, resolved by CO-RE in the calling program and handed to
 * the bpf_loop callback (aya does not relocate CO-RE accesses inside
 * callbacks, so the callback reads memory at these offsets). */
struct walk_offsets {
	__u64 vfsmount_mnt_root;
	__u64 mount_mnt_parent;
	__u64 mount_mnt_mountpoint;
	__u64 mount_mnt;
	__u64 dentry_d_parent;
	__u64 dentry_d_name;
};

struct walk {
	struct walk_offsets off;
	void *d;
	void *vm;
	void *m;
	void *root_d;
	void *root_m;
	__u32 pos;
	bool done;
	bool at_root;
	bool truncated;
};

static __always_inline void *read_ptr(void *base, __u64 off)
{
	void *p = NULL;
	bpf_probe_read_kernel(&p, sizeof(p), (char *)base + off);
	return p;
}

/* One step up: a name component, or a mount crossing. Runs under
 * bpf_loop, so the verifier checks it once rather than per iteration. */
static long walk_step(__u32 i, void *data)
{
	struct walk *w = data;
	__u32 zero = 0;
	struct pathbuf *pb = bpf_map_lookup_elem(&pathbufs, &zero);
	if (!pb)
		return 1;
	if (w->d == w->root_d && w->vm == w->root_m) {
		w->done = w->at_root = true;
		return 1;
	}
	if (w->d == read_ptr(w->vm, w->off.vfsmount_mnt_root)) {
		void *parent = read_ptr(w->m, w->off.mount_mnt_parent);
		if (!parent || parent == w->m) {
			w->done = true;
			return 1;
		}
		w->d = read_ptr(w->m, w->off.mount_mnt_mountpoint);
		w->m = parent;
		w->vm = (char *)parent + w->off.mount_mnt;
		return 0;
	}
	void *up = read_ptr(w->d, w->off.dentry_d_parent);
	if (!up) {
		w->done = true;
		return 1;
	}
	/* A dentry that is its own parent without being a mount root is a
	 * pseudo file (memfd, anonymous inode) or a disconnected one: its name
	 * is all there is, like d_path's "/memfd:name". */
	bool last = up == w->d;
	struct qstr name = {};
	bpf_probe_read_kernel(&name, sizeof(name), (char *)w->d + w->off.dentry_d_name);
	__u32 len = name.len;
	if (len > NAME_MAX_)
		len = NAME_MAX_;
	__u32 pos = w->pos;
	if (pos < len + 1 || pos > PATH_BUF) {
		w->truncated = true;
		w->done = true;
		return 1;
	}
	pos = (pos - len - 1) & (PATH_BUF - 1);
	pb->buf[pos] = '/';
	bpf_probe_read_kernel(&pb->buf[pos + 1], len, name.name);
	w->pos = pos;
	w->d = up;
	if (last) {
		w->done = true;
		return 1;
	}
	return 0;
}

/* Writes the path of `path` into pb->buf ending at PATH_BUF - 1 (not
 * NUL-terminated there) and returns where it starts. Sets F_OUTSIDE_ROOT
 * when the walk reached the top of a mount tree other than the task's root
 * (another mount namespace's file, or an internal mount such as memfd's),
 * and `trunc_bit` when the path was longer than the buffer or deeper than
 * PATH_DEPTH. */
static __always_inline __u32 walk_path(struct pathbuf *pb, struct path *path, __u16 *flags, __u16 trunc_bit)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct walk w = {};
	w.off.vfsmount_mnt_root = bpf_core_field_offset(struct vfsmount, mnt_root);
	w.off.mount_mnt_parent = bpf_core_field_offset(struct mount, mnt_parent);
	w.off.mount_mnt_mountpoint = bpf_core_field_offset(struct mount, mnt_mountpoint);
	w.off.mount_mnt = bpf_core_field_offset(struct mount, mnt);
	w.off.dentry_d_parent = bpf_core_field_offset(struct dentry, d_parent);
	w.off.dentry_d_name = bpf_core_field_offset(struct dentry, d_name);
	w.root_d = BPF_CORE_READ(task, fs, root.dentry);
	w.root_m = BPF_CORE_READ(task, fs, root.mnt);
	w.d = path->dentry;
	w.vm = path->mnt;
	w.m = (char *)w.vm - w.off.mount_mnt;
	w.pos = PATH_BUF;
	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	if (!w.done || w.truncated)
		*flags |= trunc_bit;
	if (!w.at_root)
		*flags |= F_OUTSIDE_ROOT;
	__u32 pos = w.pos;
	if (pos >= PATH_BUF) {
		pos = PATH_BUF - 1;
		pb->buf[pos] = '/';
	}
	return pos;
}

/* Appends the canonical path of `path` to the record; returns its length. */
static __always_inline __u16 append_path(struct evbuf *b, __u32 *off, struct path *path,
					 __u16 *flags, __u16 trunc_bit)
{
	struct pathbuf *pb = pathbuf();
	if (!pb || !path->dentry || !path->mnt)
		return 0;
	__u32 start = walk_path(pb, path, flags, trunc_bit) & (PATH_BUF - 1);
	return append_kernel(b, off, &pb->buf[start], PATH_BUF - start);
}

/* The `struct file` behind descriptor `fd` of `task`, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	__u32 max = BPF_CORE_READ(fdt, max_fds);
	if (fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u16 file_mode(struct file *f)
{
	return f ? BPF_CORE_READ(f, f_inode, i_mode) : 0;
}

#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define S_IFREG_ 0100000
#define S_IFCHR_ 0020000
#define S_IFIFO_ 0010000

#endif
