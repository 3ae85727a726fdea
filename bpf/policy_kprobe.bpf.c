// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on kernel functions through kprobes (kretprobes for `return: true`): one loaded
 * program of each kind, attached once per function with its attach slot as the attach cookie (the
 * engine needs bpf_loop, 5.17+, so cookies, 5.15+, are always there); the slot lists the hooks of
 * every policy on that function. Arguments come from the registers (slots 0-5), the return value
 * from the return register (slot 6); a kretprobe gets the arguments from vigil_kprobe_entry,
 * attached at the function's entry with the same slot. The selector engine is lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe")
int vigil_kprobe(struct pt_regs *ctx)
{
	policy_run_slot(ctx, bpf_get_attach_cookie(ctx), POLICY_REC_REGS);
	return 0;
}

SEC("kretprobe")
int vigil_kretprobe(struct pt_regs *ctx)
{
	policy_run_slot(ctx, bpf_get_attach_cookie(ctx), POLICY_REC_REGS_RETURN);
	return 0;
}

/*
 * The same entry, loaded as a kprobe_multi program (expected attach type BPF_TRACE_KPROBE_MULTI,
 * 5.18+ with fprobe): one link for a hook's whole function list, each function's attach slot as
 * its cookie.
 */
SEC("kprobe.multi")
int vigil_kprobe_multi(struct pt_regs *ctx)
{
	policy_run_slot(ctx, bpf_get_attach_cookie(ctx), POLICY_REC_REGS);
	return 0;
}

/* The entry half of a kretprobe attach point: the arguments, for the return program. */
SEC("kprobe")
int vigil_kprobe_entry(struct pt_regs *ctx)
{
	policy_stash_entry(ctx, bpf_get_attach_cookie(ctx));
	return 0;
}
