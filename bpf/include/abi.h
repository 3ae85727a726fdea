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
};

/* The last thread of a process exited. */
struct vigil_exit {
	struct vigil_header hdr;
	__u64 ktime_key;
	__u32 exit_code;	/* wait(2) status layout: (status << 8) | signal */
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
	__u32 pad0;
};

#endif /* VIGIL_ABI_H */
