/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The TracingPolicy selector engine, shared by the thin entry programs of each hook mechanism
 * (bpf/policy_<mechanism>.bpf.c): each entry finds its hook id and says where the hook's record
 * (the values arguments are read from) comes from; everything else is here. Selectors are data (struct vigil_hook in the hooks
 * map, value sets in hash and LPM maps), evaluated here, so a call no selector wants costs no
 * ring-buffer record and no user-space work. Rate limits and signals happen here too.
 *
 * Order per call: process filters (pids, binary, namespaces, capabilities; cheap) decide which
 * selectors are still possible; only then are arguments read; then the first selector whose
 * argument filters all match runs its actions (Tetragon's semantics: OR across selectors with
 * first match, AND within).
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include "lib/common.h"
#include <bpf/bpf_endian.h>
#include "lib/counters.h"
#include "lib/task.h"
#include "lib/path.h"

/* Shared with process.bpf.o (user space passes its fds before load). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct vigil_binary);
} exec_binaries SEC(".maps");

/* Policy configuration, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_hook);
} hooks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_hook_counters);
} hook_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_str_key);
	__type(value, __u8);
} str_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_lpm_key);
	__type(value, __u8);
} lpm_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_int_key);
	__type(value, __u8);
} int_sets SEC(".maps");

/* The budget guard's token bucket per hook, per CPU (no lock, no contention). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_budget_bucket);
} budget_buckets SEC(".maps");

/* Last post time per (hook, selector, scope, args): rate limits without user space. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_rate_key);
	__type(value, __u64);
} rate_limits SEC(".maps");

/* Attach slot (cfg.policy_hook of a function/LSM program) → the hooks it runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_attach_hooks);
} attach_hooks SEC(".maps");

/*
 * kretprobe hooks read the arguments the call had: an entry kprobe on the same function stashes
 * them here per thread and attach slot, the return program takes them back. LRU and bounded: a
 * thread holds one entry per slot while inside the call; past the bound the oldest are evicted
 * and their return events say the args could not be read (VIGIL_EV_ARG_ERROR).
 */
struct policy_entry_key {
	__u64 pid_tgid;
	__u32 slot;
	__u32 pad;
};

struct policy_entry_args {
	__u64 slot[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct policy_entry_key);
	__type(value, struct policy_entry_args);
} entry_args SEC(".maps");

#define REC_MAX 1024
#define DATA_MAX (VIGIL_MAX_ARGS * VIGIL_STR_MAX)

/* Everything one call needs, per CPU (tracepoint programs do not nest on a CPU). */
struct policy_scratch {
	struct vigil_policy_event ev;
	char data[DATA_MAX + VIGIL_STR_MAX];	/* event tail */
	char rec[REC_MAX + VIGIL_STR_MAX];	/* copy of the tracepoint record */
	char str[VIGIL_MAX_ARGS][VIGIL_STR_MAX];	/* zero-padded string args for matching */
	__u32 str_len[VIGIL_MAX_ARGS];
	__u32 pad0;
	struct vigil_str_key skey;
	struct vigil_lpm_key lkey;
	struct vigil_rate_key rkey;
	char path[VIGIL_PATH_MAX + VIGIL_NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_scratch);
} policy_scratch_map SEC(".maps");

static __always_inline struct policy_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&policy_scratch_map, &zero);
}

/* ---- value sets ---- */

/* Zero-pads a string slot: set lookups hash the whole fixed-size key. */
static __always_inline void zero_str(char *p)
{
	/* volatile: clang would turn the loop into a memset call, which BPF cannot make. */
	volatile __u64 *w = (volatile __u64 *)p;

	for (int j = 0; j < VIGIL_STR_MAX / 8; j++)
		w[j] = 0;
}

static __always_inline int str_in_set(struct policy_scratch *s, __u32 set_id, __u32 arg)
{
	if (arg >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(arg);
	s->skey.set_id = set_id;
	s->skey.pad0 = 0;
	__builtin_memcpy(s->skey.s, s->str[arg], VIGIL_STR_MAX);
	return bpf_map_lookup_elem(&str_sets, &s->skey) != 0;
}

static __always_inline int prefix_in_set(struct policy_scratch *s, __u32 set_id, const char *str, __u32 len)
{
	if (len > VIGIL_LPM_STR_MAX)
		len = VIGIL_LPM_STR_MAX;
	s->lkey.prefixlen = 32 + 8 * len;
	s->lkey.set_id = set_id;
	__builtin_memcpy(s->lkey.s, str, VIGIL_LPM_STR_MAX);
	return bpf_map_lookup_elem(&lpm_sets, &s->lkey) != 0;
}

struct postfix_walk {
	struct policy_scratch *s;
	const char *str;
	__u32 len;
	__u32 n;
};

static long postfix_step(__u64 i, void *ctx)
{
	struct postfix_walk *w = ctx;

	if (i >= w->n)
		return 1;
	w->s->lkey.s[i & 127] = w->str[(w->len - 1 - i) & (VIGIL_STR_MAX - 1)];
	return 0;
}

/*
 * Postfix: the LPM trie holds reversed values; reverse the last bytes of the arg into the key.
 * The reversal is a bpf_loop callback: the verifier checks its body once, where an unrolled
 * 127-step loop cost over 90 % of every policy program's verification.
 */
static __always_inline int postfix_in_set(struct policy_scratch *s, __u32 set_id, const char *str, __u32 len)
{
	struct postfix_walk w = { .s = s, .str = str, .len = len, .n = len > 127 ? 127 : len };

	bpf_loop(127, postfix_step, &w, 0);
	s->lkey.prefixlen = 32 + 8 * w.n;
	s->lkey.set_id = set_id;
	return bpf_map_lookup_elem(&lpm_sets, &s->lkey) != 0;
}

static __always_inline int int_in_set(__u32 set_id, __u64 value)
{
	struct vigil_int_key key = { .set_id = set_id, .value = value };

	return bpf_map_lookup_elem(&int_sets, &key) != 0;
}

/* ---- process filters ---- */

static __always_inline __u32 ns_inum(struct task_struct *task, __u8 kind)
{
	struct nsproxy *ns = BPF_CORE_READ(task, nsproxy);

	switch (kind) {
	case VIGIL_NS_UTS:
		return BPF_CORE_READ(ns, uts_ns, ns.inum);
	case VIGIL_NS_IPC:
		return BPF_CORE_READ(ns, ipc_ns, ns.inum);
	case VIGIL_NS_MNT:
		return BPF_CORE_READ(ns, mnt_ns, ns.inum);
	case VIGIL_NS_PID:
		return BPF_CORE_READ(task, thread_pid, numbers[0].ns, ns.inum);
	case VIGIL_NS_PID_FOR_CHILDREN:
		return BPF_CORE_READ(ns, pid_ns_for_children, ns.inum);
	case VIGIL_NS_NET:
		return BPF_CORE_READ(ns, net_ns, ns.inum);
	case VIGIL_NS_TIME:
		return BPF_CORE_READ(ns, time_ns, ns.inum);
	case VIGIL_NS_TIME_FOR_CHILDREN:
		return BPF_CORE_READ(ns, time_ns_for_children, ns.inum);
	case VIGIL_NS_CGROUP:
		return BPF_CORE_READ(ns, cgroup_ns, ns.inum);
	case VIGIL_NS_USER:
		return BPF_CORE_READ(task, cred, user_ns, ns.inum);
	}
	return 0;
}

static __always_inline __u64 cap_mask(struct task_struct *task, __u8 set)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	kernel_cap_t cap;

	if (set == VIGIL_CAP_INHERITABLE)
		cap = BPF_CORE_READ(cred, cap_inheritable);
	else if (set == VIGIL_CAP_PERMITTED)
		cap = BPF_CORE_READ(cred, cap_permitted);
	else
		cap = BPF_CORE_READ(cred, cap_effective);
	return *(__u64 *)&cap;
}

/*
 * Whether the binary process `tgid` runs is in set `set_id` under `op`'s positive form (In,
 * Prefix, Postfix); 0 as well when the binary is unknown. A global function: the selector walks
 * ancestors for followChildren, and the verifier checks this body once, not once per step.
 */
__attribute__((noinline)) int vigil_binary_in_set(__u32 op, __u32 set_id, __u32 tgid)
{
	struct vigil_binary *bin = bpf_map_lookup_elem(&exec_binaries, &tgid);
	struct policy_scratch *s = scratch();
	__u32 len = 0;

	if (!bin || !s)
		return 0;
	switch (op) {
	case VIGIL_SET_IN:
	case VIGIL_SET_NOT_IN:
		s->skey.set_id = set_id;
		s->skey.pad0 = 0;
		/*
		 * Only the bytes up to the NUL: an exec_binaries value may keep bytes of a longer path
		 * after it (its writer's per-CPU scratch is not cleared between execs), and the set
		 * keys are zero-padded.
		 */
		zero_str(s->skey.s);
		bpf_probe_read_kernel_str(s->skey.s, VIGIL_STR_MAX, bin->path);
		return bpf_map_lookup_elem(&str_sets, &s->skey) != 0;
	case VIGIL_SET_PREFIX:
	case VIGIL_SET_NOT_PREFIX:
	case VIGIL_SET_POSTFIX:
	case VIGIL_SET_NOT_POSTFIX:
		for (int i = 0; i < VIGIL_STR_MAX - 1; i++) {
			if (!bin->path[i])
				break;
			len++;
		}
		if (op == VIGIL_SET_PREFIX || op == VIGIL_SET_NOT_PREFIX)
			return prefix_in_set(s, set_id, bin->path, len);
		return postfix_in_set(s, set_id, bin->path, len);
	}
	return 0;
}

/* The process that forked `task`'s process (its thread group's parent), or 0 at the root. */
static __always_inline struct task_struct *parent_of(struct task_struct *task)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);

	return parent == task ? 0 : parent;
}

/*
 * matchBinaries (from_parent 0) or matchParentBinaries (1): the binary of the caller's process,
 * or of its parent; with VIGIL_BIN_FOLLOW (followChildren), of that process or one of its
 * ancestors. An unknown binary matches only the negative operators.
 */
static __always_inline int binary_filter_matches(__u8 op, __u8 flags, __u32 set_id,
						 struct task_struct *task, int from_parent)
{
	int positive = op == VIGIL_SET_IN || op == VIGIL_SET_PREFIX || op == VIGIL_SET_POSTFIX;
	int depth = (flags & VIGIL_BIN_FOLLOW) ? VIGIL_FOLLOW_DEPTH : 1;
	int hit = 0;

	if (from_parent)
		task = parent_of(task);
	for (int d = 0; d < VIGIL_FOLLOW_DEPTH; d++) {
		if (d >= depth || !task)
			break;
		if (vigil_binary_in_set(op, set_id, BPF_CORE_READ(task, tgid))) {
			hit = 1;
			break;
		}
		task = parent_of(task);
	}
	return positive ? hit : !hit;
}

static __always_inline int pid_in_values(struct vigil_pid_filter *f, __u32 pid)
{
	int hit = 0;

	for (int j = 0; j < VIGIL_MAX_PIDS; j++)
		if (j < f->nvalues && f->values[j] == pid)
			hit = 1;
	return hit;
}

/*
 * One matchPIDs entry: the caller's pid (host tgid, or with VIGIL_PID_NAMESPACE the pid in its
 * own namespace); with VIGIL_PID_FOLLOW (followForks), also its ancestors' pids, as Tetragon
 * matches descendants of the listed pids.
 */
static __always_inline int pid_filter_matches(struct vigil_pid_filter *f, struct task_struct *task,
					      __u32 tgid)
{
	int ns = f->flags & VIGIL_PID_NAMESPACE;
	int hit = 0;

	if (!(f->flags & VIGIL_PID_FOLLOW)) {
		hit = pid_in_values(f, ns ? task_ns_pid(task) : tgid);
		return (f->op == VIGIL_SET_IN) == hit;
	}
	for (int d = 0; d < VIGIL_FOLLOW_DEPTH; d++) {
		if (!task)
			break;
		if (pid_in_values(f, ns ? task_ns_pid(task) : BPF_CORE_READ(task, tgid))) {
			hit = 1;
			break;
		}
		task = parent_of(task);
	}
	return (f->op == VIGIL_SET_IN) == hit;
}

/* 0 when the selector's process filters all match, else which one rejected the call. */
static __always_inline int process_filters_match(struct policy_scratch *s, struct vigil_selector *sel,
						 struct task_struct *task, __u32 tgid)
{
	for (int i = 0; i < VIGIL_MAX_PID_FILTERS; i++) {
		if (i >= sel->n_pid_filters)
			break;
		if (!pid_filter_matches(&sel->pids[i], task, tgid))
			return VIGIL_FILTERED_PID;
	}
	for (int i = 0; i < VIGIL_MAX_NS_FILTERS; i++) {
		struct vigil_ns_filter *f = &sel->ns[i];
		__u32 inum;
		int hit = 0;

		if (i >= sel->n_ns)
			break;
		inum = ns_inum(task, f->ns);
		for (int j = 0; j < VIGIL_MAX_NS_VALUES; j++)
			if (j < f->nvalues && f->values[j] == inum)
				hit = 1;
		if ((f->op == VIGIL_SET_IN) != hit)
			return VIGIL_FILTERED_NAMESPACE;
	}
	for (int i = 0; i < VIGIL_MAX_CAP_FILTERS; i++) {
		struct vigil_cap_filter *f = &sel->caps[i];
		int hit;

		if (i >= sel->n_caps)
			break;
		/* The initial user namespace is the only one at level 0. */
		if ((f->flags & VIGIL_CAP_NAMESPACE) && BPF_CORE_READ(task, cred, user_ns, level) == 0)
			return VIGIL_FILTERED_CAPABILITY;
		hit = (cap_mask(task, f->set) & f->mask) != 0;
		if ((f->op == VIGIL_SET_IN) != hit)
			return VIGIL_FILTERED_CAPABILITY;
	}
	if (sel->bin_op != VIGIL_SET_NONE &&
	    !binary_filter_matches(sel->bin_op, sel->bin_flags, sel->bin_set_id, task, 0))
		return VIGIL_FILTERED_BINARY;
	if (sel->pbin_op != VIGIL_SET_NONE &&
	    !binary_filter_matches(sel->pbin_op, sel->pbin_flags, sel->pbin_set_id, task, 1))
		return VIGIL_FILTERED_BINARY;
	return 0;
}

/* ---- arguments ---- */

static __always_inline __u64 rec_int(struct policy_scratch *s, __u16 off, __u8 size, int is_signed)
{
	__u32 o = off & (REC_MAX - 1); /* rec has VIGIL_STR_MAX bytes of slack past REC_MAX */

	switch (size) {
	case 1:
		return is_signed ? (__u64)(__s64) * (__s8 *)(s->rec + o) : *(__u8 *)(s->rec + o);
	case 2:
		return is_signed ? (__u64)(__s64) * (__s16 *)(s->rec + o) : *(__u16 *)(s->rec + o);
	case 4:
		return is_signed ? (__u64)(__s64) * (__s32 *)(s->rec + o) : *(__u32 *)(s->rec + o);
	}
	return *(__u64 *)(s->rec + o);
}

static long fd_path_step(__u32 index, void *ctx)
{
	struct policy_scratch *s = scratch();

	if (!s)
		return 1;
	return path_step(ctx, s->path);
}

/* The path of the file open at `fd` in the current task, into s->str[arg]. */
static __always_inline int read_fd_path(struct policy_scratch *s, __u32 arg, __u64 fd,
					struct task_struct *task)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	struct path_walk w;
	__u32 len;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	if (!file)
		return -1;
	path_walk_init(&w, task, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt));
	bpf_loop(VIGIL_PATH_DEPTH, fd_path_step, &w, 0);
	len = (VIGIL_PATH_MAX - 1 - w.pos) & (VIGIL_PATH_MAX - 1);
	if (len > VIGIL_STR_MAX - 1) {
		len = VIGIL_STR_MAX - 1;
		w.truncated = 1;
	}
	if (arg >= VIGIL_MAX_ARGS)
		return -1;
	barrier_var(arg);
	bpf_probe_read_kernel(s->str[arg], len & (VIGIL_STR_MAX - 1), s->path + (w.pos & (VIGIL_PATH_MAX - 1)));
	s->str_len[arg] = len;
	return w.truncated;
}

#include "lib/args_file.h"

/* Reads argument `i` of `h` into s->ev.ints[i] / s->str[i]. */
static __always_inline void read_arg(struct policy_scratch *s, struct vigil_hook *h, __u32 i,
				     struct task_struct *task)
{
	struct vigil_hook_arg *a = &h->args[i];
	__u64 v = rec_int(s, a->ctx_offset, a->size, a->kind == VIGIL_ARG_INT);
	long n = 0;

	s->ev.ints[i] = v;
	s->str_len[i] = 0;
	switch (a->kind) {
	case VIGIL_ARG_STRING:
		zero_str(s->str[i]);
		n = bpf_probe_read_user_str(s->str[i], VIGIL_STR_MAX, (void *)v);
		break;
	case VIGIL_ARG_DATA_LOC:
		/* Read from the record copy: the user space plan sizes rec_size to include it. */
		zero_str(s->str[i]);
		n = bpf_probe_read_kernel_str(s->str[i], VIGIL_STR_MAX, s->rec + ((v & 0xffff) & (REC_MAX - 1)));
		break;
	case VIGIL_ARG_FD:
		zero_str(s->str[i]);
		n = read_fd_path(s, i, v, task);
		if (n > 0)
			s->ev.flags |= VIGIL_EV_TRUNCATED;
		if (n < 0)
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
		return;
	case VIGIL_ARG_SOCKADDR:
		zero_str(s->str[i]);
		if (bpf_probe_read_user(s->str[i], VIGIL_SOCKADDR_SIZE, (void *)v) == 0)
			s->str_len[i] = VIGIL_SOCKADDR_SIZE;
		else
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
		return;
	case VIGIL_ARG_BUF:
	case VIGIL_ARG_FILE ... VIGIL_ARG_IOV_ITER:
		read_file_arg(s, h, i, task);
		return;
	default:
		return;
	}
	/* Strings: n counts the NUL. */
	if (n <= 0) {
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
		return;
	}
	if (n == VIGIL_STR_MAX)
		s->ev.flags |= VIGIL_EV_TRUNCATED;
	s->str_len[i] = (n - 1) & (VIGIL_STR_MAX - 1);
}

/* ---- argument filters ---- */

static __always_inline int port_of(struct policy_scratch *s, __u32 arg)
{
	unsigned char *p;

	if (arg >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(arg);
	p = (unsigned char *)s->str[arg];

	return (p[2] << 8) | p[3];
}

static __always_inline int int_filter(struct vigil_arg_filter *f, __u64 v)
{
	int hit = 0;

	for (int j = 0; j < VIGIL_MAX_VALUES; j++) {
		__u64 x = f->values[j];

		if (j >= f->nvalues)
			break;
		switch (f->op) {
		case VIGIL_MATCH_EQ:
		case VIGIL_MATCH_NEQ:
			hit |= v == x;
			break;
		case VIGIL_MATCH_GT:
			hit |= (__s64)v > (__s64)x;
			break;
		case VIGIL_MATCH_LT:
			hit |= (__s64)v < (__s64)x;
			break;
		case VIGIL_MATCH_MASK:
			hit |= (v & x) != 0;
			break;
		case VIGIL_MATCH_IN_RANGE:
		case VIGIL_MATCH_NOT_IN_RANGE:
			/* values are (lo, hi) pairs: test on the hi element */
			if (j & 1)
				hit |= (__s64)v >= (__s64)f->values[(j - 1) & 7] && (__s64)v <= (__s64)x;
			break;
		}
	}
	if (f->op == VIGIL_MATCH_NEQ || f->op == VIGIL_MATCH_NOT_IN_RANGE)
		return !hit;
	return hit;
}

static __always_inline int arg_filter_matches(struct policy_scratch *s, struct vigil_hook *h,
					      struct vigil_arg_filter *f)
{
	__u32 arg = f->arg;
	__u8 kind;
	__u64 v;
	int hit;

	if (arg >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(arg);
	kind = h->args[arg].kind;
	v = s->ev.ints[arg];

	switch (f->op) {
	case VIGIL_MATCH_EQ:
	case VIGIL_MATCH_NEQ:
		if (kind == VIGIL_ARG_STRING || kind == VIGIL_ARG_FD || kind == VIGIL_ARG_DATA_LOC ||
		    kind == VIGIL_ARG_BUF || (kind >= VIGIL_ARG_FILE && kind <= VIGIL_ARG_IOV_ITER)) {
			hit = str_in_set(s, f->set_id, arg);
			return f->op == VIGIL_MATCH_EQ ? hit : !hit;
		}
		return int_filter(f, v);
	case VIGIL_MATCH_PREFIX:
	case VIGIL_MATCH_NOT_PREFIX:
		hit = prefix_in_set(s, f->set_id, s->str[arg], s->str_len[arg]);
		return f->op == VIGIL_MATCH_PREFIX ? hit : !hit;
	case VIGIL_MATCH_POSTFIX:
	case VIGIL_MATCH_NOT_POSTFIX:
		hit = postfix_in_set(s, f->set_id, s->str[arg], s->str_len[arg]);
		return f->op == VIGIL_MATCH_POSTFIX ? hit : !hit;
	case VIGIL_MATCH_FILE_TYPE:
	case VIGIL_MATCH_NOT_FILE_TYPE:
		return file_type_matches(f, v);
	case VIGIL_MATCH_IN_MAP:
		return int_in_set(f->set_id, v);
	case VIGIL_MATCH_NOT_IN_MAP:
		return !int_in_set(f->set_id, v);
	case VIGIL_MATCH_DPORT:
	case VIGIL_MATCH_NOT_DPORT: {
		struct vigil_arg_filter ranges = *f;

		ranges.op = VIGIL_MATCH_IN_RANGE;
		hit = int_filter(&ranges, port_of(s, arg));
		return f->op == VIGIL_MATCH_DPORT ? hit : !hit;
	}
	case VIGIL_MATCH_DPORT_PRIV:
		return port_of(s, arg) < 1024;
	case VIGIL_MATCH_NOT_DPORT_PRIV:
		return port_of(s, arg) >= 1024;
	case VIGIL_MATCH_FAMILY:
	case VIGIL_MATCH_NOT_FAMILY: {
		struct vigil_arg_filter eq = *f;
		__u16 family = *(__u16 *)s->str[arg];

		eq.op = VIGIL_MATCH_EQ;
		hit = int_filter(&eq, family);
		return f->op == VIGIL_MATCH_FAMILY ? hit : !hit;
	}
	case VIGIL_MATCH_DADDR:
	case VIGIL_MATCH_NOT_DADDR: {
		__u32 addr = *(__u32 *)(s->str[arg] + 4);

		hit = 0;
		for (int j = 0; j < VIGIL_MAX_VALUES; j++) {
			__u64 x = f->values[j];
			__u32 bits = x >> 32, want = (__u32)x;
			__u32 mask = bits >= 32 ? 0xffffffff : bits == 0 ? 0 : bpf_htonl(~((1u << (32 - bits)) - 1));

			if (j >= f->nvalues)
				break;
			hit |= (addr & mask) == (want & mask);
		}
		return f->op == VIGIL_MATCH_DADDR ? hit : !hit;
	}
	default:
		return int_filter(f, v);
	}
}

/* Kernel-object args (sock, cred, bpf_map, module, ...): their readers and network operators. */
#include "lib/args_kernel.h"

/* ---- actions ---- */

static __always_inline __u64 fold_arg(struct policy_scratch *s, __u32 i)
{
	__u64 acc;

	if (i >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(i);
	acc = s->ev.ints[i];
	if (s->str_len[i]) {
		__u64 *w = (__u64 *)s->str[i];

		for (int j = 0; j < 8; j++)
			acc = (acc ^ w[j]) * 0x100000001b3ULL;
	}
	return acc;
}

/* True when this event is within the rate limit window of an identical earlier one. */
static __always_inline int rate_limited(struct policy_scratch *s, struct vigil_hook *h, __u32 hook_id,
					__u32 sel, struct vigil_action *act, __u64 now)
{
	__u64 *last;

	if (!act->rate_limit_ns)
		return 0;
	s->rkey.hook_id = hook_id;
	s->rkey.scope_id = 0;
	for (int i = 0; i < VIGIL_MAX_ARGS; i++)
		((volatile __u64 *)s->rkey.args)[i] = 0;
	s->rkey.selector = sel;
	if (act->scope == VIGIL_RATE_THREAD)
		s->rkey.scope_id = s->ev.hdr.tid;
	else if (act->scope == VIGIL_RATE_PROCESS)
		s->rkey.scope_id = s->ev.hdr.pid;
	for (int i = 0; i < VIGIL_MAX_ARGS; i++)
		if (i < h->n_args)
			s->rkey.args[i] = fold_arg(s, i);
	last = bpf_map_lookup_elem(&rate_limits, &s->rkey);
	if (last && now - *last < act->rate_limit_ns)
		return 1;
	bpf_map_update_elem(&rate_limits, &s->rkey, &now, BPF_ANY);
	return 0;
}

/*
 * True when the budget guard's bucket for this hook has no credit left for one more post. Credit
 * accrues with elapsed time (capped at one second's worth), one post spends budget_post_ns.
 */
static __always_inline int budget_empty(struct vigil_hook *h, __u32 hook_id, __u64 now)
{
	struct vigil_budget_bucket *b;
	__u64 cost = h->budget_post_ns, credit;

	if (!cost)
		return 0;
	b = bpf_map_lookup_elem(&budget_buckets, &hook_id);
	if (!b)
		return 0;
	credit = b->credit_ns + (now - b->last_ns);
	if (credit > 1000000000ULL || now < b->last_ns)
		credit = 1000000000ULL;
	b->last_ns = now;
	if (credit < cost) {
		b->credit_ns = credit;
		return 1;
	}
	b->credit_ns = credit - cost;
	return 0;
}

static __always_inline void post(struct policy_scratch *s, struct vigil_hook *h,
				 struct vigil_hook_counters *c)
{
	__u32 off = 0;

	for (int i = 0; i < VIGIL_MAX_ARGS; i++) {
		__u32 len = s->str_len[i];

		s->ev.data_len[i] = 0;
		if (i >= h->n_args || !len)
			continue;
		len &= VIGIL_STR_MAX - 1;
		off &= DATA_MAX - 1 + DATA_MAX; /* < 2 * DATA_MAX, and the buffer has room */
		if (off + len > DATA_MAX)
			break;
		bpf_probe_read_kernel(s->data + (off & 2047), len, s->str[i]);
		s->ev.data_len[i] = len;
		off += len;
	}
	__u32 size = sizeof(s->ev) + (off & 2047);

	s->ev.hdr.size = size;
	if (size <= sizeof(s->ev) + sizeof(s->data) &&
	    bpf_ringbuf_output(&events, &s->ev, size, 0) == 0) {
		if (c)
			c->posted++;
	} else {
		count(VIGIL_CTR_RINGBUF_DROPS);
		if (c)
			c->drops++;
	}
}

/*
 * The steps below are global functions: the verifier checks each once, instead of once per
 * path through the main program (inlined, the whole would exceed the 1M-instruction budget).
 * Each takes plain ids and finds the hook and the per-CPU scratch itself. Indexes are __u64 so
 * no zero-extension separates the bounds check from the register used to index.
 */

/* 0: the selector's process filters match; else enum vigil_filtered_by. */
__attribute__((noinline)) int vigil_selector_process_match(__u32 hook_id, __u64 sel)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct policy_scratch *s = scratch();

	if (!h || !s || sel >= VIGIL_MAX_SELECTORS)
		return VIGIL_FILTERED_PID;
	barrier_var(sel);
	return process_filters_match(s, &h->selectors[sel], (struct task_struct *)bpf_get_current_task(),
				     bpf_get_current_pid_tgid() >> 32);
}

__attribute__((noinline)) int vigil_read_arg(__u32 hook_id, __u64 i)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct policy_scratch *s = scratch();

	if (!h || !s || i >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(i);
	if (h->args[i].kind >= VIGIL_ARG_SOCK)
		return vigil_read_kernel_arg(hook_id, i);
	read_arg(s, h, i, (struct task_struct *)bpf_get_current_task());
	return 0;
}

__attribute__((noinline)) int vigil_arg_filter_match(__u32 hook_id, __u64 sel, __u64 j)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct policy_scratch *s = scratch();
	int hit;

	if (!h || !s || sel >= VIGIL_MAX_SELECTORS || j >= VIGIL_MAX_ARG_FILTERS)
		return 0;
	barrier_var(sel);
	barrier_var(j);
	hit = vigil_kernel_arg_filter(hook_id, sel, j);
	if (hit >= 0)
		return hit;
	return arg_filter_matches(s, h, &h->selectors[sel].args[j]);
}

/*
 * Runs the matched selector's actions (or posts, for a hook without selectors). Returns what an
 * Override asks the call to return (0: none), for the entry programs that can return it.
 */
__attribute__((noinline)) int vigil_act(__u32 hook_id, __u64 matched, __u32 has_selectors)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct vigil_hook_counters *c = bpf_map_lookup_elem(&hook_counters, &hook_id);
	struct policy_scratch *s = scratch();
	struct vigil_action *post_action = 0;
	struct vigil_selector *sel;
	int do_post, signal = 0, notify = 0, ret = 0;
	__s32 error = 0;

	if (!h || !s || matched >= VIGIL_MAX_SELECTORS)
		return 0;
	barrier_var(matched);
	if (h->flags & VIGIL_HOOK_SHADOW) {
		if (c) {
			c->shadow_matched++;
			c->no_post++;
		}
		return 0;
	}
	if (!has_selectors) {
		if (budget_empty(h, hook_id, s->ev.hdr.ktime)) {
			if (c)
				c->budget_dropped++;
			return 0;
		}
		post(s, h, c);
		return 0;
	}
	sel = &h->selectors[matched];
	/* Tetragon's semantics: the event is posted (with the action taken) unless NoPost says not. */
	do_post = 1;
	for (int k = 0; k < VIGIL_MAX_ACTIONS; k++) {
		struct vigil_action *a = &sel->actions[k];

		if (k >= sel->n_actions)
			break;
		if (a->kind == VIGIL_ACT_POST) {
			post_action = a;
		} else if (a->kind == VIGIL_ACT_NOPOST) {
			do_post = 0;
		} else if (a->kind == VIGIL_ACT_SIGKILL) {
			signal = 9;
		} else if (a->kind == VIGIL_ACT_SIGNAL || a->kind == VIGIL_ACT_NOTIFYENFORCER) {
			signal = a->signal;
			notify = a->kind == VIGIL_ACT_NOTIFYENFORCER;
		} else if (a->kind == VIGIL_ACT_OVERRIDE) {
			error = a->error;
		}
	}
	if (error) {
		s->ev.action = VIGIL_ACT_OVERRIDE;
		if (h->flags & VIGIL_HOOK_MONITOR) {
			s->ev.flags |= VIGIL_EV_MONITOR;
			if (c)
				c->monitor_skipped++;
		} else {
			ret = error;
		}
	}
	if (signal) {
		s->ev.action = notify ? VIGIL_ACT_NOTIFYENFORCER :
			       signal == 9 ? VIGIL_ACT_SIGKILL : VIGIL_ACT_SIGNAL;
		if (h->flags & VIGIL_HOOK_MONITOR) {
			s->ev.flags |= VIGIL_EV_MONITOR;
			if (c)
				c->monitor_skipped++;
		} else {
			bpf_send_signal(signal);
			if (c)
				c->signals++;
		}
	}
	if (!do_post) {
		if (c)
			c->no_post++;
		return ret;
	}
	if (post_action && rate_limited(s, h, hook_id, matched, post_action, s->ev.hdr.ktime)) {
		if (c)
			c->rate_limited++;
		return ret;
	}
	if (budget_empty(h, hook_id, s->ev.hdr.ktime)) {
		if (c)
			c->budget_dropped++;
		return ret;
	}
	post(s, h, c);
	return ret;
}

/*
 * Where an entry program's record comes from: the bytes argument offsets point into. Function
 * mechanisms lay their record out as 8-byte slots: arguments 0-5, then the return value in slot
 * VIGIL_FUNC_RET_SLOT (user space plans offsets 8 * index and 8 * VIGIL_FUNC_RET_SLOT).
 */
enum policy_rec_source {
	/* A classic tracepoint: the record the kernel passes as ctx, h->rec_size bytes of it. */
	POLICY_REC_TRACEPOINT,
	/* fentry, fexit, LSM: ctx is the trampoline's array of u64 arguments, then the return. */
	POLICY_REC_FUNC,
	/* kprobe: ctx is the probed task's pt_regs. */
	POLICY_REC_REGS,
	/* kretprobe: pt_regs at return; the arguments come from the entry stash (entry_args). */
	POLICY_REC_REGS_RETURN,
};

#define VIGIL_FUNC_RET_SLOT 6

/* The syscall's arguments from the pt_regs its wrapper (__x64_sys_*) was given, into slots 0-5. */
static __always_inline void syscall_args(struct policy_scratch *s)
{
	__u64 *slot = (__u64 *)s->rec;
	struct pt_regs *regs = (struct pt_regs *)slot[0];

	slot[0] = BPF_CORE_READ(regs, di);
	slot[1] = BPF_CORE_READ(regs, si);
	slot[2] = BPF_CORE_READ(regs, dx);
	slot[3] = BPF_CORE_READ(regs, r10);
	slot[4] = BPF_CORE_READ(regs, r8);
	slot[5] = BPF_CORE_READ(regs, r9);
}

/* The arguments stashed at entry by the thread's call through attach slot `slot`, or 0. */
static __always_inline struct policy_entry_args *entry_stash(__u32 slot)
{
	struct policy_entry_key key = { .pid_tgid = bpf_get_current_pid_tgid(), .slot = slot };

	return bpf_map_lookup_elem(&entry_args, &key);
}

/* Copies the hook's record into s->rec, from where `src` says, and clears the event flags. */
static __always_inline void fill_rec(struct policy_scratch *s, struct vigil_hook *h, void *ctx,
				     enum policy_rec_source src, __u32 attach_slot)
{
	__u64 *slot = (__u64 *)s->rec;
	__u32 rec_size;

	s->ev.flags = 0;
	switch (src) {
	case POLICY_REC_TRACEPOINT:
		rec_size = h->rec_size ? h->rec_size : 512;
		if (rec_size > REC_MAX)
			rec_size = REC_MAX;
		bpf_probe_read_kernel(s->rec, rec_size & (REC_MAX - 1), ctx);
		return;
	case POLICY_REC_FUNC:
		/* Slots past the function's arguments read trampoline stack: harmless, never planned. */
		bpf_probe_read_kernel(s->rec, 8 * VIGIL_FUNC_RET_SLOT, ctx);
		if (h->flags & VIGIL_HOOK_EXIT)
			bpf_probe_read_kernel(&slot[VIGIL_FUNC_RET_SLOT], 8,
					      (__u64 *)ctx + (cfg.policy_ret_slot & 7));
		break;
	case POLICY_REC_REGS: {
		struct pt_regs *regs = ctx;

		slot[0] = PT_REGS_PARM1_CORE(regs);
		slot[1] = PT_REGS_PARM2_CORE(regs);
		slot[2] = PT_REGS_PARM3_CORE(regs);
		slot[3] = PT_REGS_PARM4_CORE(regs);
		slot[4] = PT_REGS_PARM5_CORE(regs);
		slot[5] = BPF_CORE_READ(regs, r9);
		slot[VIGIL_FUNC_RET_SLOT] = PT_REGS_RC_CORE(regs);
		break;
	}
	case POLICY_REC_REGS_RETURN: {
		struct policy_entry_args *args = entry_stash(attach_slot);

		for (int i = 0; i < 6; i++)
			slot[i] = args ? args->slot[i] : 0;
		if (!args)
			s->ev.flags |= VIGIL_EV_ARG_ERROR;
		slot[VIGIL_FUNC_RET_SLOT] = PT_REGS_RC_CORE((struct pt_regs *)ctx);
		if (!args)
			return;	/* no syscall pt_regs pointer to follow */
		break;
	}
	}
	if (h->flags & VIGIL_HOOK_SYSCALL)
		syscall_args(s);
}

/*
 * The per-call steps of one hook, as global functions so the verifier checks each once per load
 * however many hooks an entry program runs (an attach point runs up to VIGIL_MAX_SHARED_HOOKS).
 * Between them the entry copies the hook's record from its ctx (fill_rec), which only the entry
 * can do: a global function cannot take the tracing ctx on every kernel we support.
 */

/*
 * Process filters of hook `hook_id`: a bit per selector still possible (bit 31 for a hook
 * without selectors), 0 when no selector can want this call or the slot holds no policy (a
 * cleared or half-written hook: policy ids start at 1).
 */
__attribute__((noinline)) int vigil_hook_candidates(__u32 hook_id)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct vigil_hook_counters *c = bpf_map_lookup_elem(&hook_counters, &hook_id);
	__u32 candidates = 0, n_sel, first_reason = 0;

	if (!h || !h->policy_id)
		return 0;
	if (c)
		c->seen++;
	n_sel = h->n_selectors;
	if (!n_sel)
		return 1u << 31;
	/* Cheap filters first: no argument is read for a call no selector can want. */
	for (__u32 i = 0; i < VIGIL_MAX_SELECTORS; i++) {
		int why;

		if (i >= n_sel)
			break;
		why = vigil_selector_process_match(hook_id, i);
		if (!why)
			candidates |= 1 << i;
		else if (!first_reason)
			first_reason = why;
	}
	if (!candidates && c) {
		c->filtered++;
		/* Explain: the filter that turned the first selector down. */
		if (first_reason == VIGIL_FILTERED_PID)
			c->filtered_pid++;
		else if (first_reason == VIGIL_FILTERED_NAMESPACE)
			c->filtered_namespace++;
		else if (first_reason == VIGIL_FILTERED_CAPABILITY)
			c->filtered_capability++;
		else
			c->filtered_binary++;
	}
	return candidates;
}

/*
 * The rest of one call of hook `hook_id`, its record already in the scratch: the arguments, the
 * first matching selector among `candidates`, its actions. Returns an Override's value (0: none).
 */
__attribute__((noinline)) int vigil_hook_run(__u32 hook_id, __u32 candidates)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct vigil_hook_counters *c = bpf_map_lookup_elem(&hook_counters, &hook_id);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct policy_scratch *s = scratch();
	__u32 n_sel, n_args;
	int matched = -1;

	if (!h || !s)
		return 0;
	n_sel = h->n_selectors;
	n_args = h->n_args;
	for (__u32 i = 0; i < VIGIL_MAX_ARGS; i++) {
		if (i < n_args)
			vigil_read_arg(hook_id, i);
		else
			s->str_len[i] = 0;
	}

	for (__u32 i = 0; i < VIGIL_MAX_SELECTORS; i++) {
		int ok = 1;

		if (i >= n_sel)
			break;
		if (!(candidates & (1 << i)))
			continue;
		for (__u32 j = 0; j < VIGIL_MAX_ARG_FILTERS; j++) {
			if (j >= h->selectors[i].n_arg_filters)
				break;
			if (!vigil_arg_filter_match(hook_id, i, j)) {
				ok = 0;
				break;
			}
		}
		if (ok) {
			matched = i;
			break;
		}
	}
	if (n_sel && matched < 0) {
		if (c)
			c->args_rejected++;
		return 0;
	}

	fill_header(&s->ev.hdr, VIGIL_OP_POLICY, 0, tgid, (__u32)pid_tgid);
	s->ev.ktime_key = task_key(task, tgid, 0);
	s->ev.cgroup_id = task_cgroup_id(task);
	s->ev.ret = (h->flags & VIGIL_HOOK_EXIT) ? (__s64)rec_int(s, h->ret_offset, 8, 1) : 0;
	s->ev.hook_id = hook_id;
	s->ev.policy_id = h->policy_id;
	s->ev.selector = matched < 0 ? 0 : matched;
	s->ev.nargs = n_args;
	s->ev.action = VIGIL_ACT_POST;
	s->ev.pad0 = 0;
	return vigil_act(hook_id, matched < 0 ? 0 : matched, n_sel != 0);
}

/*
 * Runs every hook of attach slot `slot` for one call: the program attached at one attach point
 * runs the hooks of every policy there (attach_hooks[slot], written by user space). The slot is
 * the attach cookie (tracepoints, kprobes) or cfg.policy_hook (programs bound to their target at
 * load: fentry, fexit, LSM). Positions are stable while a hook lives and 0 when free, so a reader
 * racing a rewrite sees each hook id whole. The result is the first Override's value (0: none).
 */
static __always_inline long policy_run_slot(void *ctx, __u32 slot, enum policy_rec_source src)
{
	struct vigil_attach_hooks *a = bpf_map_lookup_elem(&attach_hooks, &slot);
	long ret = 0;

	if (!a)
		return 0;
	for (__u32 i = 0; i < VIGIL_MAX_SHARED_HOOKS; i++) {
		__u32 id = a->ids[i];
		struct policy_scratch *s;
		struct vigil_hook *h;
		int candidates, r;

		if (!id)
			continue;
		candidates = vigil_hook_candidates(id);
		if (!candidates)
			continue;
		h = bpf_map_lookup_elem(&hooks, &id);
		s = scratch();
		if (!h || !s)
			continue;
		fill_rec(s, h, ctx, src, slot);
		r = vigil_hook_run(id, candidates);
		if (r && !ret)
			ret = r;
	}
	if (src == POLICY_REC_REGS_RETURN) {
		struct policy_entry_key key = { .pid_tgid = bpf_get_current_pid_tgid(), .slot = slot };

		bpf_map_delete_elem(&entry_args, &key);
	}
	return ret;
}

/* A kretprobe's entry half: stashes the call's arguments for the return program of `slot`. */
static __always_inline void policy_stash_entry(struct pt_regs *regs, __u32 slot)
{
	struct policy_entry_key key = { .pid_tgid = bpf_get_current_pid_tgid(), .slot = slot };
	struct policy_entry_args args = {
		.slot = {
			PT_REGS_PARM1_CORE(regs), PT_REGS_PARM2_CORE(regs), PT_REGS_PARM3_CORE(regs),
			PT_REGS_PARM4_CORE(regs), PT_REGS_PARM5_CORE(regs), BPF_CORE_READ(regs, r9),
		},
	};

	bpf_map_update_elem(&entry_args, &key, &args, BPF_ANY);
}

/* policy_run_slot for programs bound to one target at load (their slot in .rodata). */
static __always_inline long policy_run_attached(void *ctx, enum policy_rec_source src)
{
	return policy_run_slot(ctx, cfg.policy_hook, src);
}

#endif /* VIGIL_POLICY_H */
