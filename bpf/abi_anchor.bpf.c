// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Never loaded: one global of every ABI type and enum so the object's BTF carries them all (a
 * ring buffer has no value type, so nothing else would keep them). scripts/gen_abi.ts reads it.
 */
#include "lib/common.h"

struct vigil_header anchor_header;
struct vigil_exec anchor_exec;
struct vigil_clone anchor_clone;
struct vigil_exit anchor_exit;
struct vigil_cgroup_event anchor_cgroup_event;
struct vigil_process_seed anchor_process_seed;
struct vigil_bench anchor_bench;
struct vigil_process_config anchor_process_config;
struct vigil_hook anchor_hook;
struct vigil_attach_hooks anchor_attach_hooks;
struct vigil_hook_counters anchor_hook_counters;
struct vigil_budget_bucket anchor_budget_bucket;
struct vigil_str_key anchor_str_key;
struct vigil_lpm_key anchor_lpm_key;
struct vigil_int_key anchor_int_key;
struct vigil_rate_key anchor_rate_key;
struct vigil_policy_event anchor_policy_event;
struct vigil_binary anchor_binary;
struct vigil_net_arg anchor_net_arg;
struct vigil_user_ns_arg anchor_user_ns_arg;
struct vigil_cred_arg anchor_cred_arg;
struct vigil_bpf_prog_arg anchor_bpf_prog_arg;
struct vigil_bpf_map_arg anchor_bpf_map_arg;
struct vigil_perf_event_arg anchor_perf_event_arg;
struct vigil_module_arg anchor_module_arg;
enum vigil_module_flags anchor_module_flags;
enum vigil_op anchor_op;
enum vigil_policy_limits anchor_policy_limits;
enum vigil_arg_kind anchor_arg_kind;
enum vigil_filtered_by anchor_filtered_by;
enum vigil_path_flags anchor_path_flags;
enum vigil_buf_limits anchor_buf_limits;
enum vigil_match_op anchor_match_op;
enum vigil_set_op anchor_set_op;
enum vigil_action_kind anchor_action_kind;
enum vigil_rate_scope anchor_rate_scope;
enum vigil_hook_flags anchor_hook_flags;
enum vigil_pid_flags anchor_pid_flags;
enum vigil_bin_flags anchor_bin_flags;
enum vigil_ns_kind anchor_ns_kind;
enum vigil_cap_set anchor_cap_set;
enum vigil_cap_flags anchor_cap_flags;
enum vigil_event_flags anchor_event_flags;
enum vigil_limits anchor_limits;
enum vigil_exec_flags anchor_exec_flags;
enum vigil_counter anchor_counter;

char LICENSE[] SEC("license") = "Dual BSD/GPL";
