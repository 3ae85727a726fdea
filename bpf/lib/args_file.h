/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Argument readers for the file family on kernel-function hooks (kprobe, fentry, LSM): the path
 * of a struct file / path / dentry / linux_binprm / kiocb, a struct filename, strings and
 * buffers that may live in kernel or user memory, and buffers sized by another argument.
 *
 * Paths are built right to left like d_path, crossing mounts up to the task's root, into the
 * arg's VIGIL_STR_MAX slot: a path that does not fit keeps its leaf components and is flagged
 * (VIGIL_PATH_F_CUT), as Tetragon flags "unresolvedPathComponents". 255 bytes cover the paths
 * policies name; the selectors compare at most that much anyway (Equal: the 256-byte hash key,
 * Prefix: the 252-byte LPM key), so a bigger slot would cost scratch and copy time per call and
 * change no match.
 *
 * For path kinds ints[i] holds (flags << 32) | i_mode: FileType filters read the mode there, and
 * user space prints the permission string and the flags.
 *
 * Included by lib/policy.h after the scratch and fd_path helpers; the entry is
 * vigil_read_file_arg(), a global function so the verifier checks it once.
 */
#ifndef VIGIL_ARGS_FILE_H
#define VIGIL_ARGS_FILE_H

#define VIGIL_S_IFMT 0170000

struct file_walk {
	struct path_walk w;
	__u32 ended;
	__u32 pad;
};

static long file_path_step(__u32 index, void *ctx)
{
	struct policy_scratch *s = scratch();
	struct file_walk *fw = ctx;

	if (!s)
		return 1;
	if (path_step(&fw->w, s->path)) {
		fw->ended = 1;
		return 1;
	}
	return 0;
}

/*
 * The path of (dentry, vfsmnt) into s->str[i]; `local`: only up to the root of the dentry's own
 * file system (a bare dentry carries no mount). Returns the VIGIL_PATH_F_* flags.
 */
static __always_inline __u32 file_arg_path(struct policy_scratch *s, __u32 i, struct task_struct *task,
					   struct dentry *dentry, struct vfsmount *vfsmnt, int local)
{
	struct file_walk fw = {};
	__u32 pos, len, flags = 0;

	if (i >= VIGIL_MAX_ARGS)
		return VIGIL_PATH_F_ERROR;
	path_walk_init(&fw.w, task, dentry, vfsmnt);
	if (local) {
		fw.w.root_dentry = BPF_CORE_READ(dentry, d_sb, s_root);
		fw.w.root_mnt = vfsmnt;
	}
	fw.w.pos = VIGIL_STR_MAX - 1;
	bpf_loop(VIGIL_PATH_DEPTH, file_path_step, &fw, 0);
	if (fw.w.truncated || !fw.ended)
		flags |= VIGIL_PATH_F_CUT;
	pos = fw.w.pos & (VIGIL_STR_MAX - 1);
	len = (VIGIL_STR_MAX - 1 - pos) & (VIGIL_STR_MAX - 1);
	barrier_var(i);
	if (len == 0) {
		/* The root itself (d_path prints "/"). */
		s->str[i][0] = '/';
		s->str_len[i] = 1;
		return flags;
	}
	bpf_probe_read_kernel(s->str[i], len, s->path + pos);
	s->str_len[i] = len;
	return flags;
}

/* A string that may be in kernel or user memory (function args do not say which). */
static __always_inline long read_any_str(char *dst, const void *src)
{
	long n = bpf_probe_read_kernel_str(dst, VIGIL_STR_MAX, src);

	if (n < 0)
		n = bpf_probe_read_user_str(dst, VIGIL_STR_MAX, src);
	return n;
}

/*
 * A buffer of `size` bytes (clamped to the slot) from user memory, or from either memory for
 * VIGIL_ARG_ANY_BUF. Returns 1 when cut.
 */
static __always_inline int read_buf(struct policy_scratch *s, __u32 i, __u64 ptr, __u64 want, int any)
{
	__u32 size = want > VIGIL_STR_MAX - 1 ? VIGIL_STR_MAX - 1 : want;
	long err;

	if (i >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(i);
	/* The mask must be on the very register passed (clang drops it after the clamp). */
	asm volatile("%0 &= 0xff" : "+r"(size));
	err = bpf_probe_read_user(s->str[i], size, (void *)ptr);
	if (err && any) {
		asm volatile("%0 &= 0xff" : "+r"(size));
		err = bpf_probe_read_kernel(s->str[i], size, (void *)ptr);
	}
	if (err)
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
	else
		s->str_len[i] = size;
	return want > VIGIL_STR_MAX - 1;
}

/* The user iovec array at `ptr`, `cnt` entries: their bytes concatenated, up to the slot. */
static __always_inline int read_iovec(struct policy_scratch *s, __u32 i, __u64 ptr, __u64 cnt)
{
	__u32 off = 0;
	int cut = 0;

	if (i >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(i);
	for (int k = 0; k < VIGIL_IOVEC_MAX; k++) {
		struct iovec iov;
		__u32 room, size;

		if (k >= cnt)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (struct iovec *)ptr + k)) {
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
			break;
		}
		room = VIGIL_STR_MAX - 1 - off;
		size = iov.iov_len > room ? room : iov.iov_len;
		if (iov.iov_len > room)
			cut = 1;
		asm volatile("%0 &= 0xff" : "+r"(size));
		asm volatile("%0 &= 0xff" : "+r"(off));
		if (bpf_probe_read_user(s->str[i] + off, size, iov.iov_base))
			break;
		off += size;
		if (cut)
			break;
	}
	if (cnt > VIGIL_IOVEC_MAX)
		cut = 1;
	s->str_len[i] = off & (VIGIL_STR_MAX - 1);
	return cut;
}

/* 5.14-5.19: the segment pointer is `iov` (6.0+ also has `ubuf` at the same offset). */
struct iov_iter___iov {
	const struct iovec *iov;
} __attribute__((preserve_access_index));

/*
 * The bytes an iov_iter points at, from its current segment: a user buffer (ITER_UBUF), a user
 * iovec (ITER_IOVEC) or a kernel one (ITER_KVEC). The iterator's remaining count goes to
 * ints[i] (the event's orig_size). The engine runs on 6.1+ (bpf_loop), where iter_type is a u8
 * and the enum's values differ between versions: CO-RE resolves them.
 */
static __always_inline void read_iov_iter(struct policy_scratch *s, __u32 i, struct iov_iter *it)
{
	__u64 count = BPF_CORE_READ(it, count), off = BPF_CORE_READ(it, iov_offset);
	struct iovec iov = {};
	int user = 1;
	void *ptr;
	__u8 type;

	if (i >= VIGIL_MAX_ARGS)
		return;
	barrier_var(i);
	s->ev.ints[i] = count;
	if (!bpf_core_field_exists(it->iter_type) ||
	    !bpf_core_enum_value_exists(enum iter_type, ITER_IOVEC) ||
	    !bpf_core_enum_value_exists(enum iter_type, ITER_KVEC)) {
		/* A kernel before 6.0 (a bit mask in iov_iter.type): not read, said so. */
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
		return;
	}
	type = BPF_CORE_READ(it, iter_type);
	if (bpf_core_field_exists(it->ubuf))
		ptr = BPF_CORE_READ(it, ubuf);
	else
		ptr = (void *)BPF_CORE_READ((struct iov_iter___iov *)it, iov);
	if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
	    type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		ptr += off;
	} else if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC) ||
		   type == bpf_core_enum_value(enum iter_type, ITER_KVEC)) {
		user = type == bpf_core_enum_value(enum iter_type, ITER_IOVEC);
		if (bpf_probe_read_kernel(&iov, sizeof(iov), ptr)) {
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
			return;
		}
		ptr = iov.iov_base + off;
		if (iov.iov_len - off < count)
			count = iov.iov_len - off;
	} else {
		/* Pipes, bio_vecs, xarrays: pages, not an address to copy from. */
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
		return;
	}
	if (read_buf(s, i, (__u64)ptr, count, !user))
		s->ev.flags |= VIGIL_EV_TRUNCATED;
}

/* The value of the arg a BUF reads its size from (or the return value, VIGIL_SIZE_FROM_RET). */
static __always_inline __u64 buf_size(struct policy_scratch *s, struct vigil_hook *h, __u8 size_arg)
{
	__u32 from = size_arg - 1;

	if (size_arg == VIGIL_SIZE_FROM_RET)
		return rec_int(s, h->ret_offset, 8, 1);
	if (from >= VIGIL_MAX_ARGS)
		return VIGIL_STR_MAX;
	barrier_var(from);
	/* From the record, not ints[]: the size arg may come after the buffer. */
	return rec_int(s, h->args[from].ctx_offset, h->args[from].size,
		       h->args[from].kind == VIGIL_ARG_INT);
}

/*
 * A path kind: finds (dentry, mount) of the object, walks it once (one inlined walk for every
 * kind keeps the verifier's work small), and leaves (flags << 32) | i_mode in ints[i].
 */
static __always_inline void read_path_arg(struct policy_scratch *s, __u32 i, __u8 kind, __u64 v,
					  struct task_struct *task)
{
	struct file *file = (struct file *)v;
	struct dentry *dentry = 0;
	struct vfsmount *mnt = 0;
	__u32 flags;

	if (i >= VIGIL_MAX_ARGS)
		return;
	barrier_var(i);
	if (kind == VIGIL_ARG_KIOCB)
		file = BPF_CORE_READ((struct kiocb *)v, ki_filp);
	else if (kind == VIGIL_ARG_LINUX_BINPRM)
		file = BPF_CORE_READ((struct linux_binprm *)v, file);
	if (kind == VIGIL_ARG_PATH) {
		dentry = BPF_CORE_READ((struct path *)v, dentry);
		mnt = BPF_CORE_READ((struct path *)v, mnt);
	} else if (kind == VIGIL_ARG_DENTRY) {
		dentry = (struct dentry *)v;
	} else if (file) {
		dentry = BPF_CORE_READ(file, f_path.dentry);
		mnt = BPF_CORE_READ(file, f_path.mnt);
	}
	if (!dentry) {
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
		s->ev.ints[i] = (__u64)VIGIL_PATH_F_ERROR << 32;
		return;
	}
	flags = file_arg_path(s, i, task, dentry, mnt, kind == VIGIL_ARG_DENTRY);
	if (flags & VIGIL_PATH_F_CUT)
		s->ev.flags |= VIGIL_EV_TRUNCATED;
	s->ev.ints[i] = ((__u64)flags << 32) | BPF_CORE_READ(dentry, d_inode, i_mode);
}

static __always_inline void read_file_arg(struct policy_scratch *s, struct vigil_hook *h, __u32 i,
					  struct task_struct *task)
{
	struct vigil_hook_arg *a;
	__u64 v;
	long n;

	if (i >= VIGIL_MAX_ARGS)
		return;
	barrier_var(i);
	a = &h->args[i];
	v = s->ev.ints[i];
	zero_str(s->str[i]);
	switch (a->kind) {
	case VIGIL_ARG_FILE:
	case VIGIL_ARG_KIOCB:
	case VIGIL_ARG_LINUX_BINPRM:
	case VIGIL_ARG_PATH:
	case VIGIL_ARG_DENTRY:
		read_path_arg(s, i, a->kind, v, task);
		return;
	case VIGIL_ARG_FILENAME:
	case VIGIL_ARG_ANY_STRING:
		if (a->kind == VIGIL_ARG_FILENAME)
			n = bpf_probe_read_kernel_str(s->str[i], VIGIL_STR_MAX,
						      BPF_CORE_READ((struct filename *)v, name));
		else
			n = read_any_str(s->str[i], (void *)v);
		if (n <= 0) {
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
			return;
		}
		if (n == VIGIL_STR_MAX)
			s->ev.flags |= VIGIL_EV_TRUNCATED;
		s->str_len[i] = (n - 1) & (VIGIL_STR_MAX - 1);
		return;
	case VIGIL_ARG_BUF:
	case VIGIL_ARG_ANY_BUF:
		if (read_buf(s, i, v, buf_size(s, h, a->size_arg), a->kind == VIGIL_ARG_ANY_BUF))
			s->ev.flags |= VIGIL_EV_TRUNCATED;
		return;
	case VIGIL_ARG_IOV_ITER:
		read_iov_iter(s, i, (struct iov_iter *)v);
		return;
	case VIGIL_ARG_IOVEC:
		if (read_iovec(s, i, v, buf_size(s, h, a->size_arg)))
			s->ev.flags |= VIGIL_EV_TRUNCATED;
		return;
	default:
		return;
	}
}

/* FileType / NotFileType: the mode's S_IFMT bits against the filter's values. */
static __always_inline int file_type_matches(struct vigil_arg_filter *f, __u64 v)
{
	__u64 type = v & VIGIL_S_IFMT;
	int hit = 0;

	for (int j = 0; j < VIGIL_MAX_VALUES; j++) {
		if (j >= f->nvalues)
			break;
		hit |= type == f->values[j];
	}
	return f->op == VIGIL_MATCH_FILE_TYPE ? hit : !hit;
}

#endif /* VIGIL_ARGS_FILE_H */
