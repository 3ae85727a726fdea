/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Includes and small helpers every vigil BPF program uses. */
#ifndef VIGIL_COMMON_H
#define VIGIL_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "abi.h"

/*
 * After a bounds check, makes the compiler keep using the checked register: otherwise it may
 * index with an unchecked copy, which the verifier rejects as unbounded.
 */
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000
#endif

#endif /* VIGIL_COMMON_H */
