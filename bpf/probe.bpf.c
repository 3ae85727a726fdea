// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probes for `vigil probe` and the policy planner: one tiny program per attach mechanism
 * or helper. User space loads each program on its own (autoload only that one), attaches it where
 * attaching means something, then closes the object; the outcome of each step is the answer.
 *
 * Helper probes call their helper behind `armed`, a .bss global that is always 0: the verifier
 * cannot prove the branch dead (it is writable), so it still checks that the helper exists for the
 * program type, while at run time the helper is never called.
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Never set: keeps helper calls reachable for the verifier and unreachable at run time. */
volatile __u32 armed;

/* The ring buffer probe: creating this map is the question (BPF_MAP_TYPE_RINGBUF, 5.8+). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_rb SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("kprobe/do_nanosleep")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("kprobe.multi/do_nanosleep")
int probe_kprobe_multi(struct pt_regs *ctx)
{
	return 0;
}

SEC("fentry/do_nanosleep")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

SEC("iter/task")
int probe_iter(struct bpf_iter__task *ctx)
{
	return 0;
}

/* bpf_send_signal (5.3+): the planner's SIGKILL action. Load only. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_send_signal(void *ctx)
{
	if (armed)
		bpf_send_signal(9);
	return 0;
}

/*
 * bpf_override_return: kprobe programs only, and only with CONFIG_BPF_KPROBE_OVERRIDE; the attach
 * target must be on the error-injection list (syscall entry points are).
 */
#if defined(__TARGET_ARCH_arm64)
#define OVERRIDE_TARGET "__arm64_sys_getppid"
#else
#define OVERRIDE_TARGET "__x64_sys_getppid"
#endif

SEC("kprobe/" OVERRIDE_TARGET)
int probe_override_return(struct pt_regs *ctx)
{
	if (armed)
		bpf_override_return(ctx, -1);
	return 0;
}

static long loop_step(__u32 index, void *data)
{
	return 1;
}

/* bpf_loop (5.17+): bounded loops without unrolling. Load only. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_bpf_loop(void *ctx)
{
	bpf_loop(armed, loop_step, NULL, 0);
	return 0;
}

/* The ring buffer itself: a program using the map, so loading proves map and helper. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_ringbuf(void *ctx)
{
	__u64 value = 0;

	if (armed)
		bpf_ringbuf_output(&probe_rb, &value, sizeof(value), 0);
	return 0;
}
