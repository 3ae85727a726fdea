/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Absolute path of a struct path, built right to left (as the kernel's d_path does) into a
 * buffer of VIGIL_PATH_MAX + VIGIL_NAME_MAX bytes; the path ends at VIGIL_PATH_MAX - 1 and starts
 * at the returned offset. Used for fd arguments and for binaries exec'd by a relative name.
 */
#ifndef VIGIL_PATH_H
#define VIGIL_PATH_H

struct path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;	/* first byte of the path built so far */
	__u32 truncated;
};

/* One component; returns 1 when the walk is over. */
static __always_inline int path_step(struct path_walk *w, char *buf)
{
	/* Locals, not w->...: CO-RE relocations must only see kernel types. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 len, pos = w->pos & (VIGIL_PATH_MAX - 1);

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt == mnt_parent)
			return 1;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = (struct vfsmount *)((void *)mnt_parent +
						bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	len = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	if (len >= VIGIL_NAME_MAX || len + 1 > pos) {
		w->truncated = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(buf + (pos & (VIGIL_PATH_MAX - 1)), len & (VIGIL_NAME_MAX - 1), name);
	pos -= 1;
	buf[pos & (VIGIL_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/* Starts a walk of `path` up to `task`'s root. */
static __always_inline void path_walk_init(struct path_walk *w, struct task_struct *task,
					   struct dentry *dentry, struct vfsmount *vfsmnt)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);

	w->root_dentry = BPF_CORE_READ(fs, root.dentry);
	w->root_mnt = BPF_CORE_READ(fs, root.mnt);
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	w->pos = VIGIL_PATH_MAX - 1;
	w->truncated = 0;
}

#endif /* VIGIL_PATH_H */
