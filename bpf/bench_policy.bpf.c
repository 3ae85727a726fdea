// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark-only programs for bench/policy_*.ts; the agent never loads this object. They are the
 * floors vigil's policy engine is compared with:
 *
 * - bare_unlinkat, bare_unlink, bare_rmdir: programs that return at once on the tracepoints the
 *   file-deletion policy uses (syscalls/sys_enter_{unlinkat,unlink,rmdir}). Enabling them is the
 *   least any tool watching those syscalls costs on a kernel without kprobes and fentry.
 * - bare_raw_inmap: the field's expensive way, bare: a classic raw_syscalls/sys_enter program that
 *   keeps the deletion syscalls by looking the id up in a hash map (as an InMap filter does) and
 *   counts them; everything else is dropped. It runs on every syscall of every task.
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Syscall ids to keep (user space fills it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} bare_ids SEC(".maps");

/* Calls kept, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bare_hits SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int bare_unlinkat(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int bare_unlink(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int bare_rmdir(void *ctx)
{
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int bare_raw_inmap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = ctx->id;
	__u32 zero = 0;
	__u64 *hits;

	if (!bpf_map_lookup_elem(&bare_ids, &id))
		return 0;
	hits = bpf_map_lookup_elem(&bare_hits, &zero);
	if (hits)
		(*hits)++;
	return 0;
}
