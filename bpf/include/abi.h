/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * THE shared ABI between vigil's BPF programs and its TypeScript side. The TypeScript decoders are
 * generated from the BTF of the built objects (scripts/gen_abi.ts -> src/bpf/abi.gen.ts), never
 * written by hand, so this file is the single source of truth.
 *
 * Rules: only __u8..__u64 and fixed arrays; explicit pad fields; no bool, bitfields, pointers, long
 * or packed (packing would make the layout depend on the compiler, and BTF would hide the holes);
 * every struct size is a multiple of 8. Every ring-buffer record starts with struct vigil_header.
 */
#ifndef VIGIL_ABI_H
#define VIGIL_ABI_H

/* Record kinds on the events ring buffer. */
enum vigil_op {
	VIGIL_OP_EXEC = 1,
	VIGIL_OP_CLONE = 2,
	VIGIL_OP_EXIT = 3,
	VIGIL_OP_POLICY = 4,
	VIGIL_OP_CGROUP_MKDIR = 5,
	VIGIL_OP_CGROUP_RMDIR = 6,
	VIGIL_OP_BENCH = 100,
};

/* Limits of the variable tail of an exec record. */
enum vigil_limits {
	VIGIL_FILENAME_MAX = 4096,
	VIGIL_ARGS_MAX = 8192,
	/* cwd components are written leaf first, each NUL-terminated; user space reverses them. */
	VIGIL_CWD_MAX = 4096,
	VIGIL_CWD_DEPTH = 48,
	VIGIL_NAME_MAX = 256,
	VIGIL_COMM_LEN = 16,
};

/* Bits of vigil_exec.flags / vigil_process_seed.flags. */
enum vigil_exec_flags {
	VIGIL_F_TRUNC_FILENAME = 1 << 0,
	VIGIL_F_TRUNC_ARGS = 1 << 1,
	VIGIL_F_ERROR_ARGS = 1 << 2,
	VIGIL_F_TRUNC_CWD = 1 << 3,
	VIGIL_F_ERROR_CWD = 1 << 4,
	/* The cwd walk reached the task's root on the first step. */
	VIGIL_F_ROOT_CWD = 1 << 5,
	/* The parent was not seen exec'ing: its key comes from its start time (it predates the agent). */
	VIGIL_F_PARENT_PREEXISTING = 1 << 6,
	VIGIL_F_KTHREAD = 1 << 7,
	VIGIL_F_NO_MM = 1 << 8,
};

/* Common header of every ring-buffer record (24 bytes). */
struct vigil_header {
	__u16 op;	/* enum vigil_op */
	__u16 pad0;
	__u32 size;	/* whole record, header included */
	__u64 ktime;	/* bpf_ktime_get_boot_ns() when the event happened */
	__u32 pid;	/* thread-group id */
	__u32 tid;
};

/*
 * Identity of a process instance: (pid, ktime). ktime is the boot-time ns of its last exec seen by
 * the agent, else its start_boottime (fork time), so kernel and user space derive the same key for
 * processes that predate the agent.
 */
struct vigil_exec {
	struct vigil_header hdr;
	__u64 ktime_key;	/* this instance's key (== hdr.ktime) */
	__u64 parent_ktime;
	__u64 cgroup_id;
	__u32 parent_pid;
	__u32 uid;
	__u32 auid;
	__u32 euid;
	__u32 flags;		/* enum vigil_exec_flags */
	__u32 args_size;	/* original size of the argument area, before truncation */
	__u16 filename_len;	/* tail: filename bytes (no NUL) */
	__u16 args_len;		/* tail: NUL-separated argv, argv[0] included */
	__u16 cwd_len;		/* tail: NUL-terminated components, leaf first */
	__u16 pad0;
	char comm[VIGIL_COMM_LEN];
	__u32 ns_pid;		/* the pid as seen in the process's own pid namespace */
	__u32 pad1;
};

/* A new process (not a thread) forked; it runs the parent's image until it execs. */
struct vigil_clone {
	struct vigil_header hdr;
	__u64 ktime_key;	/* child's start_boottime */
	__u64 parent_ktime;
	__u64 cgroup_id;
	__u32 parent_pid;
	__u32 uid;
	__u32 auid;
	__u32 flags;
	char comm[VIGIL_COMM_LEN];
	__u32 ns_pid;		/* the pid as seen in the child's own pid namespace */
	__u32 pad0;
};

/* The last thread of a process exited. */
struct vigil_exit {
	struct vigil_header hdr;
	__u64 ktime_key;
	__u32 exit_code;	/* wait(2) status layout: (status << 8) | signal */
	__u32 pad0;
};

/* A cgroup was created or removed in the tracked hierarchy. Tail: its path (no NUL). */
struct vigil_cgroup_event {
	struct vigil_header hdr;
	__u64 cgroup_id;
	__u32 path_len;
	__u32 pad0;
};

/* One process found by the task iterator at start (processes that predate the agent). */
struct vigil_process_seed {
	__u64 ktime_key;	/* start_boottime */
	__u64 parent_ktime;
	__u64 cgroup_id;
	__u32 pid;
	__u32 parent_pid;
	__u32 uid;
	__u32 auid;
	__u32 flags;
	__u32 pad0;
	char comm[VIGIL_COMM_LEN];
};

/* Synthetic record used by the ring-throughput benchmark. */
struct vigil_bench {
	struct vigil_header hdr;
	__u64 seq;
	__u64 value;
};

/* Per-CPU counters (index: enum vigil_counter). */
enum vigil_counter {
	VIGIL_CTR_RINGBUF_DROPS = 0,
	VIGIL_CTR_EXEC = 1,
	VIGIL_CTR_CLONE = 2,
	VIGIL_CTR_EXIT = 3,
	VIGIL_CTR_SCRATCH_MISS = 4,
	VIGIL_CTR_MAX = 8,
};

/* Load-time knobs (.rodata) of process.bpf.o. */
struct vigil_process_config {
	/* -1: read cgroup ids from the v2 hierarchy; else the v1 controller's subsystem id. */
	__s32 cgroup_v1_ssid;
	/*
	 * Policy entry programs bound to one target at load (fentry, fexit, LSM): their attach slot,
	 * and where the trampoline's ctx holds the return value (the function's argument count).
	 */
	__u32 policy_hook;
	__u32 policy_ret_slot;
	__u32 pad0;
};

/* ---- TracingPolicy engine: hook configuration (user space writes), events (kernel writes) ---- */

enum vigil_policy_limits {
	VIGIL_MAX_HOOKS = 1024,
	/* Hooks one loaded function/LSM program runs (hooks sharing its attach point). */
	VIGIL_MAX_SHARED_HOOKS = 4,
	VIGIL_MAX_ARGS = 5,
	VIGIL_MAX_SELECTORS = 5,
	VIGIL_MAX_ARG_FILTERS = 5,
	/* Inline values of one filter: 4 values, or 4 inclusive ranges as (lo, hi) pairs. */
	VIGIL_MAX_VALUES = 8,
	VIGIL_MAX_ACTIONS = 3,
	VIGIL_MAX_PIDS = 4,
	VIGIL_MAX_PID_FILTERS = 3,
	/*
	 * Processes a followForks / followChildren filter looks at: the caller, then its ancestors
	 * through real_parent (Tetragon walks about as far through its process map).
	 */
	VIGIL_FOLLOW_DEPTH = 10,
	VIGIL_MAX_NS_FILTERS = 4,
	VIGIL_MAX_NS_VALUES = 4,
	VIGIL_MAX_CAP_FILTERS = 2,
	/* String args are read and matched up to this size, NUL included. */
	VIGIL_STR_MAX = 256,
	VIGIL_LPM_STR_MAX = 252,
	/* Reverse path walks build paths of at most this size. */
	VIGIL_PATH_MAX = 1024,
	VIGIL_PATH_DEPTH = 32,
	VIGIL_SOCKADDR_SIZE = 28,
};

/*
 * The hooks one attached program runs (an attach slot): every policy hook on that attach point.
 * The slot is the attach cookie (tracepoints, kprobes) or cfg.policy_hook (programs bound to their
 * target at load). ids[] positions are stable while a hook lives, 0 when free; n counts them.
 */
struct vigil_attach_hooks {
	__u32 n;
	__u32 ids[VIGIL_MAX_SHARED_HOOKS];
	__u32 pad;	/* every ABI struct is 8-byte sized */
};

/* How an argument is read from the tracepoint record. */
enum vigil_arg_kind {
	VIGIL_ARG_NONE = 0,
	VIGIL_ARG_INT = 1,		/* integer field, sign-extended from its size */
	VIGIL_ARG_UINT = 2,		/* integer field, zero-extended */
	VIGIL_ARG_STRING = 3,		/* user pointer to a NUL-terminated string */
	VIGIL_ARG_FD = 4,		/* file descriptor: the path of the open file */
	VIGIL_ARG_SOCKADDR = 5,		/* user pointer to a struct sockaddr */
	VIGIL_ARG_BUF = 6,		/* user pointer to bytes; size from another arg */
	VIGIL_ARG_SYSCALL_ID = 7,	/* the syscall number */
	VIGIL_ARG_DATA_LOC = 8,		/* __data_loc string of the record (u32: len << 16 | offset) */
	/* args-file (9..19): kernel objects read through BTF; paths as in bpf/lib/args_file.h. */
	VIGIL_ARG_FILE = 9,		/* struct file *: its path */
	VIGIL_ARG_PATH = 10,		/* struct path *: its path */
	VIGIL_ARG_DENTRY = 11,		/* struct dentry *: its path within its file system */
	VIGIL_ARG_LINUX_BINPRM = 12,	/* struct linux_binprm *: the path of its file */
	VIGIL_ARG_KIOCB = 13,		/* struct kiocb *: the path of its file */
	VIGIL_ARG_FILENAME = 14,	/* struct filename *: its name */
	VIGIL_ARG_ANY_STRING = 15,	/* char * in kernel or user memory */
	VIGIL_ARG_ANY_BUF = 16,		/* bytes in kernel or user memory; size as VIGIL_ARG_BUF */
	VIGIL_ARG_IOVEC = 17,		/* user struct iovec array; count as VIGIL_ARG_BUF's size */
	VIGIL_ARG_IOV_ITER = 18,	/* struct iov_iter *: the bytes of its first segment */
	/* args-net: kernel objects through BTF (bpf/lib/args_net.h, args_kernel.h; abi_args_kernel.h) */
	VIGIL_ARG_SOCK = 32,		/* struct sock *: struct vigil_net_arg */
	VIGIL_ARG_SOCKET = 33,		/* struct socket *: its sock, struct vigil_net_arg */
	VIGIL_ARG_SKB = 34,		/* struct sk_buff *: struct vigil_net_arg from its headers */
	VIGIL_ARG_KSOCKADDR = 35,	/* kernel struct sockaddr *: raw, as VIGIL_ARG_SOCKADDR */
	VIGIL_ARG_NET_DEVICE = 36,	/* struct net_device *: its name */
	VIGIL_ARG_CRED = 37,		/* struct cred *: struct vigil_cred_arg */
	VIGIL_ARG_USER_NS = 38,		/* struct user_namespace *: struct vigil_user_ns_arg */
	VIGIL_ARG_CAP_SET = 39,		/* kernel_cap_t *: the 64-bit set, into the arg's value */
	VIGIL_ARG_BPF_ATTR = 40,	/* union bpf_attr *: struct vigil_bpf_prog_arg */
	VIGIL_ARG_BPF_PROG = 41,	/* struct bpf_prog *: struct vigil_bpf_prog_arg */
	VIGIL_ARG_BPF_MAP = 42,		/* struct bpf_map *: struct vigil_bpf_map_arg */
	VIGIL_ARG_PERF_EVENT = 43,	/* struct perf_event *: struct vigil_perf_event_arg */
	VIGIL_ARG_MODULE = 44,		/* struct module *: struct vigil_module_arg */
	VIGIL_ARG_LOAD_INFO = 45,	/* struct load_info *: struct vigil_module_arg */
};

/* args-file: flags of a path arg (ints[i] >> 32); CUT is Tetragon's unresolvedPathComponents. */
enum vigil_path_flags {
	VIGIL_PATH_F_CUT = 1 << 1,
	VIGIL_PATH_F_ERROR = 1 << 8,
};

/* args-file: limits of the buffer readers. */
enum vigil_buf_limits {
	VIGIL_IOVEC_MAX = 8,		/* iovecs a char_iovec reads */
	VIGIL_SIZE_FROM_RET = 0xff,	/* vigil_hook_arg.size_arg: the size is the return value */
};

/* matchArgs operators as the kernel evaluates them. */
enum vigil_match_op {
	VIGIL_MATCH_EQ = 1,
	VIGIL_MATCH_NEQ = 2,
	VIGIL_MATCH_PREFIX = 3,
	VIGIL_MATCH_NOT_PREFIX = 4,
	VIGIL_MATCH_POSTFIX = 5,
	VIGIL_MATCH_NOT_POSTFIX = 6,
	VIGIL_MATCH_GT = 7,
	VIGIL_MATCH_LT = 8,
	VIGIL_MATCH_MASK = 9,
	VIGIL_MATCH_IN_MAP = 10,
	VIGIL_MATCH_NOT_IN_MAP = 11,
	VIGIL_MATCH_IN_RANGE = 12,
	VIGIL_MATCH_NOT_IN_RANGE = 13,
	VIGIL_MATCH_DPORT = 14,
	VIGIL_MATCH_NOT_DPORT = 15,
	VIGIL_MATCH_DPORT_PRIV = 16,
	VIGIL_MATCH_NOT_DPORT_PRIV = 17,
	VIGIL_MATCH_FAMILY = 18,
	VIGIL_MATCH_NOT_FAMILY = 19,
	VIGIL_MATCH_DADDR = 20,		/* values: (prefixlen << 32 | ipv4 addr in network order) */
	VIGIL_MATCH_NOT_DADDR = 21,
	/* args-net: on sock/socket/skb (struct vigil_net_arg; DPORT*, FAMILY above apply too) */
	VIGIL_MATCH_SPORT = 22,		/* values: inclusive (lo, hi) pairs */
	VIGIL_MATCH_NOT_SPORT = 23,
	VIGIL_MATCH_SPORT_PRIV = 24,
	VIGIL_MATCH_NOT_SPORT_PRIV = 25,
	VIGIL_MATCH_SADDR = 26,		/* set: LPM keys (family byte, address): IPv4 and IPv6 prefixes */
	VIGIL_MATCH_NOT_SADDR = 27,
	VIGIL_MATCH_NET_DADDR = 28,	/* as SADDR, on the destination */
	VIGIL_MATCH_NOT_NET_DADDR = 29,
	VIGIL_MATCH_PROTOCOL = 30,	/* values: IPPROTO_* numbers */
	VIGIL_MATCH_STATE = 31,		/* values: TCP_* numbers */
	/* args-file (41..47): the S_IFMT bits of a path arg's mode (values: S_IF* constants). */
	VIGIL_MATCH_FILE_TYPE = 41,
	VIGIL_MATCH_NOT_FILE_TYPE = 42,
};

/* matchPIDs / matchBinaries / matchNamespaces / matchCapabilities set operators. */
enum vigil_set_op {
	VIGIL_SET_NONE = 0,
	VIGIL_SET_IN = 1,
	VIGIL_SET_NOT_IN = 2,
	VIGIL_SET_PREFIX = 3,
	VIGIL_SET_NOT_PREFIX = 4,
	VIGIL_SET_POSTFIX = 5,
	VIGIL_SET_NOT_POSTFIX = 6,
};

enum vigil_action_kind {
	VIGIL_ACT_POST = 1,
	VIGIL_ACT_NOPOST = 2,
	VIGIL_ACT_SIGKILL = 3,
	VIGIL_ACT_SIGNAL = 4,
	/* The hooked call returns `error` (BPF LSM programs: the program's return value). */
	VIGIL_ACT_OVERRIDE = 5,
	/*
	 * NotifyEnforcer with argSig: the engine sends the signal itself, from the notifying hook
	 * (Tetragon's enforcer program sends it from the syscall; both deliver it on the return to
	 * user space).
	 */
	VIGIL_ACT_NOTIFYENFORCER = 6,	/* printed as KPROBE_ACTION_NOTIFYENFORCER */
};

enum vigil_rate_scope {
	VIGIL_RATE_THREAD = 0,
	VIGIL_RATE_PROCESS = 1,
	VIGIL_RATE_GLOBAL = 2,
};

enum vigil_hook_flags {
	/* policy-mode: monitor — enforcing actions are counted, not taken. */
	VIGIL_HOOK_MONITOR = 1 << 0,
	/* The hook is a syscall exit: the return value is at ret_offset. */
	VIGIL_HOOK_EXIT = 1 << 1,
	/*
	 * A function hook on a syscall's wrapper (__x64_sys_*): its one argument is the syscall's
	 * pt_regs, and the arguments are read from there.
	 */
	VIGIL_HOOK_SYSCALL = 1 << 2,
	/*
	 * Shadow run (preflight): selectors are evaluated and counted, but no action is taken and
	 * nothing is posted, so the cost of a policy can be measured on a live host before it runs.
	 */
	VIGIL_HOOK_SHADOW = 1 << 3,
};

enum vigil_pid_flags {
	VIGIL_PID_NAMESPACE = 1 << 0,	/* compare the pid in the task's own pid namespace */
	VIGIL_PID_FOLLOW = 1 << 1,	/* followForks: the caller or one of its ancestors */
};

/* Bits of vigil_selector.bin_flags / pbin_flags. */
enum vigil_bin_flags {
	/* followChildren: the binary of the process or of one of its ancestors. */
	VIGIL_BIN_FOLLOW = 1 << 0,
};

/* One matchPIDs entry: In (any value) or NotIn (none of them). Entries are ANDed. */
struct vigil_pid_filter {
	__u8 op;	/* VIGIL_SET_IN / VIGIL_SET_NOT_IN */
	__u8 flags;	/* enum vigil_pid_flags */
	__u8 nvalues;
	__u8 pad0;
	__u32 values[VIGIL_MAX_PIDS];
	__u32 pad1;
};

/* One argument to read: where in the tracepoint record and how. */
struct vigil_hook_arg {
	__u16 ctx_offset;
	__u8 kind;	/* enum vigil_arg_kind */
	__u8 size;	/* field size in the record: 1, 2, 4 or 8 */
	__u8 size_arg;	/* VIGIL_ARG_BUF: position of the arg holding the size, plus one */
	__u8 pad0[3];
};

struct vigil_arg_filter {
	__u8 arg;	/* position in the hook's args */
	__u8 op;	/* enum vigil_match_op */
	__u8 nvalues;
	__u8 pad0;
	__u32 set_id;	/* key prefix in the string / integer set maps */
	__u64 values[VIGIL_MAX_VALUES];
};

struct vigil_action {
	__u8 kind;	/* enum vigil_action_kind */
	__u8 scope;	/* enum vigil_rate_scope */
	__u8 signal;
	__u8 pad0;
	__s32 error;	/* VIGIL_ACT_OVERRIDE: the value the call returns (-errno) */
	__u64 rate_limit_ns;
};

struct vigil_ns_filter {
	__u8 ns;	/* index into enum vigil_ns_kind */
	__u8 op;	/* VIGIL_SET_IN / VIGIL_SET_NOT_IN */
	__u8 nvalues;
	__u8 pad0[5];
	__u32 values[VIGIL_MAX_NS_VALUES];
};

enum vigil_ns_kind {
	VIGIL_NS_UTS = 0,
	VIGIL_NS_IPC = 1,
	VIGIL_NS_MNT = 2,
	VIGIL_NS_PID = 3,
	VIGIL_NS_PID_FOR_CHILDREN = 4,
	VIGIL_NS_NET = 5,
	VIGIL_NS_TIME = 6,
	VIGIL_NS_TIME_FOR_CHILDREN = 7,
	VIGIL_NS_CGROUP = 8,
	VIGIL_NS_USER = 9,
};

enum vigil_cap_set {
	VIGIL_CAP_EFFECTIVE = 0,
	VIGIL_CAP_INHERITABLE = 1,
	VIGIL_CAP_PERMITTED = 2,
};

struct vigil_cap_filter {
	__u8 set;	/* enum vigil_cap_set */
	__u8 op;	/* VIGIL_SET_IN: any of mask; VIGIL_SET_NOT_IN: none of mask */
	__u8 flags;	/* enum vigil_cap_flags */
	__u8 pad0[5];
	__u64 mask;
};

enum vigil_cap_flags {
	/*
	 * isNamespaceCapability: a task in the initial (host) user namespace fails the filter; only
	 * capabilities held in another user namespace count.
	 */
	VIGIL_CAP_NAMESPACE = 1 << 0,
};

struct vigil_selector {
	__u8 n_arg_filters;
	__u8 n_actions;
	__u8 n_pid_filters;
	__u8 bin_op;		/* enum vigil_set_op; NONE: no matchBinaries */
	__u8 bin_flags;		/* enum vigil_bin_flags */
	__u8 pbin_op;		/* enum vigil_set_op; NONE: no matchParentBinaries */
	__u8 pbin_flags;	/* enum vigil_bin_flags */
	__u8 n_ns;
	__u8 n_caps;
	__u8 pad0[3];
	__u32 bin_set_id;
	__u32 pbin_set_id;
	__u32 pad1;
	struct vigil_pid_filter pids[VIGIL_MAX_PID_FILTERS];
	struct vigil_ns_filter ns[VIGIL_MAX_NS_FILTERS];
	struct vigil_cap_filter caps[VIGIL_MAX_CAP_FILTERS];
	struct vigil_arg_filter args[VIGIL_MAX_ARG_FILTERS];
	struct vigil_action actions[VIGIL_MAX_ACTIONS];
};

/* One attached hook (its id is the attach cookie). */
struct vigil_hook {
	__u32 policy_id;
	__u8 n_args;
	__u8 n_selectors;
	__u8 flags;		/* enum vigil_hook_flags */
	__u8 pad0;
	__u16 ret_offset;	/* VIGIL_HOOK_EXIT: offset of the return value in the record */
	__u16 rec_size;		/* bytes of the record to copy (0: 512); data_loc strings included */
	/*
	 * CPU-budget guard's token bucket on posts (separate from rateLimit): the credit one post
	 * costs, in ns of elapsed time per CPU; 0: no bucket.
	 */
	__u32 budget_post_ns;
	struct vigil_hook_arg args[VIGIL_MAX_ARGS];
	struct vigil_selector selectors[VIGIL_MAX_SELECTORS];
};

/* Per hook, per CPU: what the kernel saw and did (calls filtered here cost no ring record). */
struct vigil_hook_counters {
	__u64 seen;
	__u64 posted;
	__u64 filtered;
	__u64 rate_limited;
	__u64 signals;
	__u64 monitor_skipped;
	__u64 drops;		/* ring buffer full */
	__u64 args_rejected;	/* process filters passed, no selector's argument filters matched */
	__u64 budget_dropped;	/* matched, but the budget guard's token bucket was empty */
	__u64 no_post;		/* matched, actions taken, NoPost (or a shadow run: nothing posted) */
	__u64 shadow_matched;	/* shadow run: matched a selector (counted in no_post too) */
	/* filtered, split by the process filter that turned the first selector down */
	__u64 filtered_pid;
	__u64 filtered_namespace;
	__u64 filtered_capability;
	__u64 filtered_binary;
};

/* Which process filter turned a selector down (0: none, it matched). */
enum vigil_filtered_by {
	VIGIL_FILTERED_PID = 1,
	VIGIL_FILTERED_NAMESPACE = 2,
	VIGIL_FILTERED_CAPABILITY = 3,
	VIGIL_FILTERED_BINARY = 4,
};

/* Per hook, per CPU: the budget guard's token bucket state. */
struct vigil_budget_bucket {
	__u64 last_ns;
	__u64 credit_ns;
};

/* Set membership keys. set ids are allocated by user space per filter. */
struct vigil_str_key {
	__u32 set_id;
	__u32 pad0;
	char s[VIGIL_STR_MAX];
};

/*
 * LPM trie key: prefixlen counts bits of (set_id, s); Postfix stores s reversed. The kernel caps
 * LPM data at 256 bytes, so s holds at most VIGIL_LPM_STR_MAX bytes (prefixes up to 251 chars).
 */
struct vigil_lpm_key {
	__u32 prefixlen;
	__u32 set_id;
	char s[VIGIL_LPM_STR_MAX];
};

struct vigil_int_key {
	__u32 set_id;
	__u32 pad0;
	__u64 value;
};

struct vigil_rate_key {
	__u32 hook_id;
	__u32 scope_id;
	__u64 selector;
	__u64 args[VIGIL_MAX_ARGS];
};

/* A policy hook fired and its selector's action posts it. Tail: variable arg data, in order. */
struct vigil_policy_event {
	struct vigil_header hdr;
	__u64 ktime_key;	/* the process instance, as in process events */
	__u64 cgroup_id;
	__s64 ret;		/* exit hooks: the return value */
	__u32 hook_id;
	__u32 policy_id;
	__u8 selector;
	__u8 action;		/* enum vigil_action_kind taken */
	__u8 nargs;
	__u8 flags;		/* enum vigil_event_flags */
	__u32 pad0;
	__u64 ints[VIGIL_MAX_ARGS];
	__u16 data_len[VIGIL_MAX_ARGS];
	__u16 pad1[3];
};

/* A process's binary path, kept for matchBinaries (exec_binaries map value). */
struct vigil_binary {
	char path[VIGIL_STR_MAX];
};

enum vigil_event_flags {
	VIGIL_EV_TRUNCATED = 1 << 0,	/* a string or path arg was cut to fit */
	VIGIL_EV_ARG_ERROR = 1 << 1,	/* an arg could not be read */
	VIGIL_EV_MONITOR = 1 << 2,	/* an enforcing action was skipped (monitor mode) */
};

#include "abi_args_kernel.h"

#endif /* VIGIL_ABI_H */
