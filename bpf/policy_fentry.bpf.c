// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on kernel functions through BPF trampolines: fentry, and fexit for `return: true`
 * (which sees the arguments and the return value at once). The target is bound before load, so
 * each function gets its own copy, its attach slot in .rodata; the slot lists the hooks of every
 * policy on that function. The selector engine is lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("fentry")
int vigil_fentry(void *ctx)
{
	policy_run_attached(ctx, POLICY_REC_FUNC);
	return 0;
}

SEC("fexit")
int vigil_fexit(void *ctx)
{
	policy_run_attached(ctx, POLICY_REC_FUNC);
	return 0;
}
