/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading identity from a task_struct with CO-RE: keys, credentials, cgroup id. */
#ifndef VIGIL_TASK_H
#define VIGIL_TASK_H

/* Load-time knobs, set by user space in .rodata before load. */
const volatile struct vigil_process_config cfg = { .cgroup_v1_ssid = -1 };

/*
 * pid -> key ktime of processes seen exec'ing since the agent started. A process that is not here
 * is keyed by its start_boottime, which user space also reads (task iterator) for processes that
 * predate the agent, so both sides always derive the same (pid, ktime).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} exec_keys SEC(".maps");

static __always_inline __u64 task_key(struct task_struct *task, __u32 tgid, __u32 *flags)
{
	__u64 *k = bpf_map_lookup_elem(&exec_keys, &tgid);

	if (k)
		return *k;
	if (flags)
		*flags |= VIGIL_F_PARENT_PREEXISTING;
	/* The group leader's start time: a thread's own start time would differ. */
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	struct cgroup_subsys_state *css = 0;
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	__s32 ssid = cfg.cgroup_v1_ssid;

	if (ssid < 0)
		return BPF_CORE_READ(cset, dfl_cgrp, kn, id);
	/* subsys[] has CGROUP_SUBSYS_COUNT entries on the running kernel; 16 bounds the verifier. */
	if (ssid >= 16 || (__u32)ssid * sizeof(void *) >= bpf_core_field_size(cset->subsys))
		return 0;
	bpf_core_read(&css, sizeof(css), &cset->subsys[ssid]);
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/* The process's pid in its own (innermost) pid namespace: what `pod.container.pid` shows. */
static __always_inline __u32 task_ns_pid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);

	return BPF_CORE_READ(pid, numbers[level & 31].nr);
}

static __always_inline __u32 task_auid(struct task_struct *task)
{
	if (bpf_core_field_exists(task->loginuid))
		return BPF_CORE_READ(task, loginuid.val);
	return (__u32)-1;
}

static __always_inline void fill_header(struct vigil_header *hdr, __u16 op, __u32 size, __u32 tgid,
					__u32 tid)
{
	hdr->op = op;
	hdr->pad0 = 0;
	hdr->size = size;
	hdr->ktime = bpf_ktime_get_boot_ns();
	hdr->pid = tgid;
	hdr->tid = tid;
}

#endif /* VIGIL_TASK_H */
