// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on kernel functions through kprobes (kretprobes for `return: true`): one copy per
 * hook, its id in .rodata (kernels before 5.15 have no attach cookie). Arguments come from the
 * registers (slots 0-5), the return value from the return register (slot 6). The selector
 * engine is lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("kprobe")
int vigil_kprobe(struct pt_regs *ctx)
{
	policy_run_attached(ctx, POLICY_REC_REGS);
	return 0;
}

SEC("kretprobe")
int vigil_kretprobe(struct pt_regs *ctx)
{
	policy_run_attached(ctx, POLICY_REC_REGS);
	return 0;
}
