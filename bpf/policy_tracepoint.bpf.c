// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy hooks on classic tracepoints: one generic program, attached once per tracepoint with its
 * attach slot as the attach cookie; the slot lists the hooks of every policy on that tracepoint.
 * The record is the tracepoint's own (argument offsets come from its tracefs format). The selector
 * engine is lib/policy.h.
 */
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint")
int vigil_policy(void *ctx)
{
	policy_run_slot(ctx, bpf_get_attach_cookie(ctx), POLICY_REC_TRACEPOINT);
	return 0;
}
