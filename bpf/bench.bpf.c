// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark-only programs (bench/); the agent never loads this object.
 *
 * - bench_produce: a synthetic high-rate event source for bench/ring_throughput.ts. On every
 *   getppid(2) of the process `bench_cfg.target_tgid` it emits `bench_cfg.records_per_call`
 *   struct vigil_bench records
 *   (each with the next sequence number) into its own ring buffer, and counts reserve failures in
 *   the per-CPU `counters` map (VIGIL_CTR_RINGBUF_DROPS), as the agent's programs do.
 * - bench_tp_getppid, bench_tp_unlinkat, bench_raw_sys_enter: bare programs (they return at once)
 *   on syscall tracepoints, for bench/syscall_loop.ts: enabling any syscall tracepoint puts every
 *   task on the syscall slow path, which is the cost the agent avoids by using only sched tp_btf.
 */
#include "lib/common.h"
#include "lib/counters.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
#define BENCH_NR_GETPPID 110
#elif defined(__TARGET_ARCH_arm64)
#define BENCH_NR_GETPPID 173
#else
#error "bench.bpf.c: getppid syscall number unknown for this architecture"
#endif

/* Upper bound of records_per_call (keeps the loop bounded for the verifier). */
#define BENCH_MAX_RECORDS_PER_CALL 64

/*
 * Load-time knobs, in one struct: the BTF that clang writes into the object gives every .rodata
 * variable offset 0 (libbpf fixes the offsets up only when it opens the object), so
 * scripts/gen_abi.ts can only describe a single variable correctly. bench/ring_throughput.ts sets
 * the fields at offsets 0 and 4 and checks the size RODATA reports.
 */
struct bench_config {
	__u32 target_tgid;	/* the load generator's process */
	__u32 records_per_call;	/* records per getppid call, 1..BENCH_MAX_RECORDS_PER_CALL */
};

const volatile struct bench_config bench_cfg = { .target_tgid = 0, .records_per_call = 1 };

/* Size set before load (bench/ring_throughput.ts --ring-mb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} bench_events SEC(".maps");

/*
 * Next sequence number (= records attempted). Not atomic: only the single-threaded load generator
 * (target_tgid) reaches the increment, so there is one writer at a time.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_seq SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(bench_produce, struct pt_regs *regs, long id)
{
	struct vigil_bench *ev;
	__u64 pid_tgid, *next;
	__u32 zero = 0, i;

	if (id != BENCH_NR_GETPPID)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)(pid_tgid >> 32) != bench_cfg.target_tgid)
		return 0;
	next = bpf_map_lookup_elem(&bench_seq, &zero);
	if (!next)
		return 0;
	for (i = 0; i < BENCH_MAX_RECORDS_PER_CALL; i++) {
		if (i >= bench_cfg.records_per_call)
			break;
		__u64 seq = *next;

		*next = seq + 1;
		ev = bpf_ringbuf_reserve(&bench_events, sizeof(*ev), 0);
		if (!ev) {
			count(VIGIL_CTR_RINGBUF_DROPS);
			continue;
		}
		ev->hdr.op = VIGIL_OP_BENCH;
		ev->hdr.pad0 = 0;
		ev->hdr.size = sizeof(*ev);
		ev->hdr.ktime = bpf_ktime_get_boot_ns();
		ev->hdr.pid = bench_cfg.target_tgid;
		ev->hdr.tid = (__u32)pid_tgid;
		ev->seq = seq;
		ev->value = i;
		bpf_ringbuf_submit(ev, 0);
	}
	return 0;
}

/* Bare programs: only the cost of having a syscall tracepoint enabled. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int bench_tp_getppid(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int bench_tp_unlinkat(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(bench_raw_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}
