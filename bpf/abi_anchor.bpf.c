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
struct vigil_process_seed anchor_process_seed;
struct vigil_bench anchor_bench;
struct vigil_process_config anchor_process_config;
enum vigil_op anchor_op;
enum vigil_limits anchor_limits;
enum vigil_exec_flags anchor_exec_flags;
enum vigil_counter anchor_counter;

char LICENSE[] SEC("license") = "Dual BSD/GPL";
