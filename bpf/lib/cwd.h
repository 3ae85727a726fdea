/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A task's working directory, walked dentry by dentry up to the task's root (so a containerised
 * process shows its path inside the container). bpf_d_path is not allowed in tp_btf programs,
 * hence the walk. Components are written leaf first, each NUL-terminated; user space reverses.
 *
 * With bpf_loop (5.17+) the step is verified once; older kernels get a bounded loop, which the
 * verifier walks step by step (about 0.9 s of load time at 48 steps on this kernel).
 */
#ifndef VIGIL_CWD_H
#define VIGIL_CWD_H

struct cwd_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;
	__u32 flags;
	__u32 base;	/* where in the scratch tail the components go */
	__u32 reached_root;
};

/* One component. buf has VIGIL_CWD_MAX + VIGIL_NAME_MAX bytes. Returns 1 when the walk is over. */
static __always_inline int cwd_step(struct cwd_walk *w, char *buf)
{
	/* Locals, not w->...: CO-RE relocations must only see kernel types. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 off = w->off & (VIGIL_CWD_MAX - 1);
	long n;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->reached_root = 1;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt == mnt_parent) {
			/* The global root, or a detached mount: nothing above. */
			w->reached_root = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = (struct vfsmount *)((void *)mnt_parent +
						bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	n = bpf_probe_read_kernel_str(buf + off, VIGIL_NAME_MAX, name);
	if (n <= 0) {
		w->flags |= VIGIL_F_ERROR_CWD;
		return 1;
	}
	if (off + n >= VIGIL_CWD_MAX) {
		w->flags |= VIGIL_F_TRUNC_CWD;
		return 1;
	}
	w->off = off + n;
	w->dentry = parent;
	return 0;
}

static __always_inline void cwd_walk_init(struct cwd_walk *w, struct task_struct *task, __u32 base)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct vfsmount *pwd_mnt = BPF_CORE_READ(fs, pwd.mnt);

	w->root_dentry = BPF_CORE_READ(fs, root.dentry);
	w->root_mnt = BPF_CORE_READ(fs, root.mnt);
	w->dentry = BPF_CORE_READ(fs, pwd.dentry);
	w->vfsmnt = pwd_mnt;
	w->mnt = (struct mount *)((void *)pwd_mnt - bpf_core_field_offset(struct mount, mnt));
	w->off = 0;
	w->flags = 0;
	w->base = base;
	w->reached_root = 0;
}

/* Flags and length once the walk has ended (by bpf_loop or the bounded loop). */
static __always_inline __u32 cwd_walk_finish(struct cwd_walk *w, __u32 *flags)
{
	if (!w->reached_root && !(w->flags & (VIGIL_F_ERROR_CWD | VIGIL_F_TRUNC_CWD)))
		w->flags |= VIGIL_F_TRUNC_CWD;
	if (w->reached_root && w->off == 0)
		w->flags |= VIGIL_F_ROOT_CWD;
	*flags |= w->flags;
	return w->off & (VIGIL_CWD_MAX - 1);
}

#endif /* VIGIL_CWD_H */
