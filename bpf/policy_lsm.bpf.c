// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on BPF LSM hooks: the program's return value is the hook's decision, so Override
 * makes the call fail with the policy's error. The hook is bound before load: one copy per LSM
 * hook, its attach slot in .rodata, shared by the policies there. The selector engine is
 * lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * An LSM program may only return 0 or a negative errno, and the verifier checks that range on the
 * register returned: the result is widened to 64 bits and range-checked in that register (with an
 * int return type clang would return the unchecked original).
 */
SEC("lsm")
long vigil_lsm(void *ctx)
{
	long ret = policy_run_attached(ctx, POLICY_REC_FUNC);

	if (ret < -4095 || ret > 0)
		return 0;
	return ret;
}
