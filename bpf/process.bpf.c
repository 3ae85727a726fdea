// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec, fork (new processes only, not threads) and exit, from tp_btf tracepoints
 * (sched_* tracepoints cost nothing measurable on unrelated syscalls, unlike syscall tracepoints),
 * plus a task iterator that reports the processes that already run when the agent starts.
 */
#include "lib/common.h"
#include "lib/counters.h"
#include "lib/task.h"
#include "lib/cwd.h"
#include "lib/path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* All events; user space maps it and walks the records itself. Size set before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

#define TAIL_SIZE (VIGIL_FILENAME_MAX + VIGIL_ARGS_MAX + VIGIL_CWD_MAX + VIGIL_NAME_MAX)

/* An exec record is built here (it is too large for the stack) and sent with its real size. */
struct exec_scratch {
	struct vigil_exec ev;
	char tail[TAIL_SIZE];
	struct vigil_binary bin;
	char path[VIGIL_PATH_MAX + VIGIL_NAME_MAX];
};

/*
 * pid -> absolute path of the binary it runs, for the policy engine's matchBinaries (the policy
 * object shares this map). User space seeds it for processes that predate the agent.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct vigil_binary);
} exec_binaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_scratch_map SEC(".maps");

#ifndef VIGIL_NO_BPF_LOOP
#define VIGIL_NO_BPF_LOOP 0
#endif

/*
 * Steps of the cwd walk without bpf_loop. The verifier's work grows faster than linearly with the
 * steps of that bounded loop (about 140k instructions at 16, 820k at 48 on 6.18; 5.10 refused 48
 * with E2BIG after its 1M limit), so pre-5.17 kernels walk 16 components and flag deeper working
 * directories as truncated.
 */
#ifndef VIGIL_CWD_STEPS
#define VIGIL_CWD_STEPS (VIGIL_NO_BPF_LOOP ? 16 : VIGIL_CWD_DEPTH)
#endif

#define TAIL_CWD_BASE_MASK (VIGIL_FILENAME_MAX + VIGIL_ARGS_MAX - 1)

static long cwd_loop_step(__u32 index, void *ctx)
{
	struct cwd_walk *w = ctx;
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch_map, &zero);

	if (!s)
		return 1;
	return cwd_step(w, s->tail + (w->base & TAIL_CWD_BASE_MASK));
}

/* Walks the cwd into s->tail + base; bpf_loop where the kernel has it (fast to verify). */
static __always_inline __u32 read_cwd(struct task_struct *task, struct exec_scratch *s, __u32 base,
				      __u32 *flags)
{
	struct cwd_walk w;

	cwd_walk_init(&w, task, base);
	/* VIGIL_NO_BPF_LOOP builds the pre-5.17 path so a test can load it on this kernel too. */
	if (!VIGIL_NO_BPF_LOOP && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop)) {
		bpf_loop(VIGIL_CWD_DEPTH, cwd_loop_step, &w, 0);
	} else {
		for (int i = 0; i < VIGIL_CWD_STEPS; i++) {
			/* Re-masking keeps the offset's range equal on all paths, so states prune. */
			w.off &= VIGIL_CWD_MAX - 1;
			if (cwd_step(&w, s->tail + (base & TAIL_CWD_BASE_MASK)))
				break;
		}
	}
	return cwd_walk_finish(&w, flags);
}

static long path_loop_step(__u32 index, void *ctx)
{
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch_map, &zero);

	if (!s)
		return 1;
	return path_step(ctx, s->path);
}

/* Records the absolute path of the new image: the exec'd name, or the file's path when relative. */
static __always_inline void record_binary(struct exec_scratch *s, struct linux_binprm *bprm, __u32 tgid,
					  struct task_struct *task)
{
	struct path_walk w;
	struct file *file;
	__u32 len;

	/* Zero first: the map value is compared as a whole, and the scratch holds earlier paths. */
	for (int i = 0; i < VIGIL_STR_MAX / 8; i++)
		((volatile __u64 *)s->bin.path)[i] = 0;
	bpf_probe_read_kernel_str(s->bin.path, sizeof(s->bin.path), BPF_CORE_READ(bprm, filename));
	/*
	 * Relative names are resolved from the file itself. Without bpf_loop (before 5.17) a second
	 * walk next to the cwd walk would not verify, so there the name stays as exec'd.
	 */
	if (s->bin.path[0] != '/' && !VIGIL_NO_BPF_LOOP &&
	    bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop)) {
		file = BPF_CORE_READ(bprm, file);
		path_walk_init(&w, task, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt));
		bpf_loop(VIGIL_PATH_DEPTH, path_loop_step, &w, 0);
		len = (VIGIL_PATH_MAX - 1 - w.pos) & (VIGIL_PATH_MAX - 1);
		if (len > sizeof(s->bin.path) - 1)
			len = sizeof(s->bin.path) - 1;
		bpf_probe_read_kernel(s->bin.path, len, s->path + (w.pos & (VIGIL_PATH_MAX - 1)));
		s->bin.path[len & (sizeof(s->bin.path) - 1)] = 0;
	}
	bpf_map_update_elem(&exec_binaries, &tgid, &s->bin, BPF_ANY);
}

static __always_inline void output(void *data, __u64 size)
{
	if (bpf_ringbuf_output(&events, data, size, 0))
		count(VIGIL_CTR_RINGBUF_DROPS);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, fn_len = 0, args_len = 0, cwd_len = 0, base;
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch_map, &zero);
	struct task_struct *parent;
	struct vigil_exec *e;
	unsigned long arg_start, arg_end;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	long n;

	count(VIGIL_CTR_EXEC);
	if (!s) {
		count(VIGIL_CTR_SCRATCH_MISS);
		return 0;
	}
	e = &s->ev;
	e->flags = 0;
	e->pad0 = 0;

	n = bpf_probe_read_kernel_str(s->tail, VIGIL_FILENAME_MAX, BPF_CORE_READ(bprm, filename));
	if (n > 0)
		fn_len = (n - 1) & (VIGIL_FILENAME_MAX - 1);
	if (n == VIGIL_FILENAME_MAX)
		e->flags |= VIGIL_F_TRUNC_FILENAME;

	/* The new image's argument pages: reading execve's pointers at syscall entry races the fork. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	e->args_size = arg_end > arg_start ? arg_end - arg_start : 0;
	args_len = e->args_size;
	if (args_len > VIGIL_ARGS_MAX - 1) {
		args_len = VIGIL_ARGS_MAX - 1;
		e->flags |= VIGIL_F_TRUNC_ARGS;
	}
	args_len &= VIGIL_ARGS_MAX - 1;
	if (bpf_probe_read_user(s->tail + fn_len, args_len, (void *)arg_start)) {
		args_len = 0;
		e->flags |= VIGIL_F_ERROR_ARGS;
	}

	base = (fn_len + args_len) & TAIL_CWD_BASE_MASK;

	parent = BPF_CORE_READ(task, real_parent);
	e->parent_pid = BPF_CORE_READ(parent, tgid);
	e->parent_ktime = task_key(parent, e->parent_pid, &e->flags);
	e->cgroup_id = task_cgroup_id(task);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->euid = BPF_CORE_READ(task, cred, euid.val);
	e->auid = task_auid(task);
	e->ns_pid = task_ns_pid(task);
	e->pad1 = 0;
	e->filename_len = fn_len;
	e->args_len = args_len;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	record_binary(s, bprm, tgid, task);

	/*
	 * The cwd walk goes last: without bpf_loop the verifier follows every exit of the unrolled
	 * walk through the rest of the program, so that rest must be short (5.10 refused the exec
	 * program with E2BIG when the binary path and the credentials came after the walk).
	 */
	cwd_len = read_cwd(task, s, base, &e->flags);
	e->cwd_len = cwd_len;
	__u32 size = sizeof(*e) + base + cwd_len;
	fill_header(&e->hdr, VIGIL_OP_EXEC, size, tgid, (__u32)pid_tgid);
	e->ktime_key = e->hdr.ktime;
	bpf_map_update_elem(&exec_keys, &tgid, &e->ktime_key, BPF_ANY);
	/* Always true; tells the verifier the size stays inside the scratch buffer. */
	if (size <= sizeof(*s))
		output(e, size);
	return 0;
}

/* A forked child runs its parent's image until it execs. */
static __always_inline void inherit_binary(__u32 parent, __u32 child)
{
	struct vigil_binary *bin = bpf_map_lookup_elem(&exec_binaries, &parent);

	if (bin)
		bpf_map_update_elem(&exec_binaries, &child, bin, BPF_ANY);
	else
		bpf_map_delete_elem(&exec_binaries, &child);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent_task, struct task_struct *child)
{
	struct vigil_clone c = {};
	struct task_struct *parent;
	__u32 pid = BPF_CORE_READ(child, pid);
	__u32 tgid = BPF_CORE_READ(child, tgid);

	if (pid != tgid)
		return 0; /* a new thread, not a new process */
	count(VIGIL_CTR_CLONE);
	/* A stale key of a reused pid must not stick to the new process. */
	bpf_map_delete_elem(&exec_keys, &tgid);
	parent = BPF_CORE_READ(child, real_parent);
	c.parent_pid = BPF_CORE_READ(parent, tgid);
	c.parent_ktime = task_key(parent, c.parent_pid, &c.flags);
	c.ktime_key = BPF_CORE_READ(child, start_boottime);
	inherit_binary(c.parent_pid, tgid);
	c.cgroup_id = task_cgroup_id(child);
	c.uid = BPF_CORE_READ(child, cred, uid.val);
	c.auid = task_auid(child);
	c.ns_pid = task_ns_pid(child);
	if (BPF_CORE_READ(child, flags) & PF_KTHREAD)
		c.flags |= VIGIL_F_KTHREAD;
	BPF_CORE_READ_STR_INTO(&c.comm, child, comm);
	fill_header(&c.hdr, VIGIL_OP_CLONE, sizeof(c), tgid, pid);
	output(&c, sizeof(c));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task)
{
	struct vigil_exit x = {};
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct signal_struct *signal = BPF_CORE_READ(task, signal);

	/* Only the last thread of the group: do_exit decrements signal->live before this point. */
	if (BPF_CORE_READ(signal, live.counter) != 0)
		return 0;
	count(VIGIL_CTR_EXIT);
	x.ktime_key = task_key(task, tgid, 0);
	/* A group exit (exit_group, fatal signal) records its code in the signal struct. */
	if (BPF_CORE_READ(signal, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
		x.exit_code = BPF_CORE_READ(signal, group_exit_code);
	else
		x.exit_code = BPF_CORE_READ(task, exit_code);
	bpf_map_delete_elem(&exec_keys, &tgid);
	bpf_map_delete_elem(&exec_binaries, &tgid);
	fill_header(&x.hdr, VIGIL_OP_EXIT, sizeof(x), tgid, BPF_CORE_READ(task, pid));
	output(&x, sizeof(x));
	return 0;
}

SEC("iter/task")
int vigil_seed(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct vigil_process_seed s = {};
	struct task_struct *parent;

	if (!task || task->pid != task->tgid)
		return 0;
	s.pid = task->tgid;
	s.ktime_key = task_key(task, s.pid, 0);
	parent = task->real_parent;
	if (parent) {
		s.parent_pid = BPF_CORE_READ(parent, tgid);
		s.parent_ktime = task_key(parent, s.parent_pid, 0);
	}
	s.cgroup_id = task_cgroup_id(task);
	s.uid = BPF_CORE_READ(task, cred, uid.val);
	s.auid = task_auid(task);
	if (task->flags & PF_KTHREAD)
		s.flags |= VIGIL_F_KTHREAD;
	if (!task->mm)
		s.flags |= VIGIL_F_NO_MM;
	BPF_CORE_READ_STR_INTO(&s.comm, task, comm);
	bpf_seq_write(ctx->meta->seq, &s, sizeof(s));
	return 0;
}

/* ---- cgroups of the tracked hierarchy, so user space knows containers created later ---- */

struct cgroup_scratch {
	struct vigil_cgroup_event ev;
	char path[VIGIL_FILENAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_scratch);
} cgroup_scratch_map SEC(".maps");

/* The hierarchy whose ids the process events carry: v2's default root, or the v1 controller's. */
static __always_inline int tracked_hierarchy(struct cgroup *cgrp)
{
	struct cgroup_root *root = BPF_CORE_READ(cgrp, root);
	__s32 ssid = cfg.cgroup_v1_ssid;

	if (ssid < 0)
		return BPF_CORE_READ(root, hierarchy_id) == 0;
	return (BPF_CORE_READ(root, subsys_mask) >> (ssid & 31)) & 1;
}

static __always_inline void cgroup_event(struct cgroup *cgrp, const char *path, __u16 op)
{
	__u32 zero = 0;
	struct cgroup_scratch *s = bpf_map_lookup_elem(&cgroup_scratch_map, &zero);
	long n;
	__u32 len = 0;

	if (!s || !tracked_hierarchy(cgrp))
		return;
	n = bpf_probe_read_kernel_str(s->path, sizeof(s->path), path);
	if (n > 0)
		len = (n - 1) & (VIGIL_FILENAME_MAX - 1);
	s->ev.cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	s->ev.path_len = len;
	s->ev.pad0 = 0;
	fill_header(&s->ev.hdr, op, sizeof(s->ev) + len, 0, 0);
	if (sizeof(s->ev) + len <= sizeof(*s))
		output(&s->ev, sizeof(s->ev) + len);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(vigil_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	cgroup_event(cgrp, path, VIGIL_OP_CGROUP_MKDIR);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(vigil_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	cgroup_event(cgrp, path, VIGIL_OP_CGROUP_RMDIR);
	return 0;
}
