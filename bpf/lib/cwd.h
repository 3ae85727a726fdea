/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A task's working directory, walked dentry by dentry up to the task's root (so a containerised
 * process shows its path inside the container). bpf_d_path is not allowed in tp_btf programs,
 * hence the walk. Components are written leaf first, each NUL-terminated; user space reverses.
 */
#ifndef VIGIL_CWD_H
#define VIGIL_CWD_H

/* buf must have VIGIL_CWD_MAX + VIGIL_NAME_MAX bytes. Returns the bytes written (< VIGIL_CWD_MAX). */
static __always_inline __u32 read_cwd(struct task_struct *task, char *buf, __u32 *flags)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct dentry *root_dentry = BPF_CORE_READ(fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(fs, root.mnt);
	struct dentry *dentry = BPF_CORE_READ(fs, pwd.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
	struct mount *mnt = container_of_core(vfsmnt, struct mount, mnt);
	__u32 off = 0;
	int reached_root = 0;

	for (int i = 0; i < VIGIL_CWD_DEPTH; i++) {
		struct dentry *mnt_root, *parent;
		const unsigned char *name;
		long n;

		/*
		 * Re-masking keeps off's range identical on every path through the loop, so the
		 * verifier can prune them (without it the mount-crossing branch explodes the states).
		 */
		off &= VIGIL_CWD_MAX - 1;
		if (dentry == root_dentry && vfsmnt == root_mnt) {
			reached_root = 1;
			break;
		}
		mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt == mnt_parent) {
				/* The global root, or a detached mount: nothing above. */
				reached_root = 1;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = (struct vfsmount *)((void *)mnt + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		name = BPF_CORE_READ(dentry, d_name.name);
		n = bpf_probe_read_kernel_str(buf + off, VIGIL_NAME_MAX, name);
		if (n <= 0) {
			*flags |= VIGIL_F_ERROR_CWD;
			break;
		}
		if (off + n >= VIGIL_CWD_MAX) {
			*flags |= VIGIL_F_TRUNC_CWD;
			break;
		}
		off += n;
		dentry = parent;
	}
	if (!reached_root && !(*flags & (VIGIL_F_ERROR_CWD | VIGIL_F_TRUNC_CWD)))
		*flags |= VIGIL_F_TRUNC_CWD;
	if (reached_root && off == 0)
		*flags |= VIGIL_F_ROOT_CWD;
	return off & (VIGIL_CWD_MAX - 1);
}

#endif /* VIGIL_CWD_H */
