// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on kernel functions through BPF trampolines: fentry, fexit for `return: true`
 * (which sees the arguments and the return value at once), and fmod_ret for hooks that Override
 * (a nonzero return skips the function and becomes its result; the kernel allows it on security_*
 * functions and, with error injection, on the functions listed for it). The target is bound before load, so
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

/*
 * An fmod_ret program returns 0 to let the function run, else the value it returns instead: the
 * first Override of the hooks here (a negative errno, planned in -4095..-1).
 */
SEC("fmod_ret")
int vigil_fmod_ret(void *ctx)
{
	return policy_run_attached(ctx, POLICY_REC_FUNC);
}
