// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on classic tracepoints: one generic program, attached once per hook with the hook
 * id as its attach cookie. The record is the tracepoint's own (argument offsets come from its
 * tracefs format). The selector engine is lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint")
int vigil_policy(void *ctx)
{
	return policy_run(ctx, bpf_get_attach_cookie(ctx), POLICY_REC_TRACEPOINT);
}
