/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Fixed layouts of the kernel objects the policy engine reads for sock/socket/skb, cred,
 * user_namespace, bpf_attr/bpf_map/bpf_prog, perf_event and module/load_info arguments: each is
 * written into the arg's string slot (VIGIL_STR_MAX bytes) and shipped in the event tail, where
 * user space decodes it (src/policy/args_kernel_json.ts). Included from abi.h; same rules.
 */
#ifndef VIGIL_ABI_ARGS_KERNEL_H
#define VIGIL_ABI_ARGS_KERNEL_H

/* sock, socket (its sock) and skb: the addresses and ports as Tetragon prints them. */
struct vigil_net_arg {
	__u16 family;		/* AF_* */
	__u16 type;		/* SOCK_* (sock) */
	__u16 protocol;		/* IPPROTO_* */
	__u16 sport;		/* host order */
	__u16 dport;		/* host order */
	__u8 state;		/* TCP_* (sock) */
	__u8 pad0;
	__u32 mark;
	__u32 priority;
	__u32 hash;		/* skb */
	__u32 len;		/* skb */
	__u32 pad1;
	__u8 saddr[16];		/* network order; 4 bytes for AF_INET */
	__u8 daddr[16];
};

struct vigil_user_ns_arg {
	__s32 level;
	__u32 uid;		/* owner */
	__u32 gid;		/* group */
	__u32 inum;
};

/* struct cred: ids, securebits, capability sets and the user namespace they are relative to. */
struct vigil_cred_arg {
	__u32 uid;
	__u32 gid;
	__u32 suid;
	__u32 sgid;
	__u32 euid;
	__u32 egid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 securebits;
	__u32 pad0;
	__u64 cap_inheritable;
	__u64 cap_permitted;
	__u64 cap_effective;
	struct vigil_user_ns_arg user_ns;
};

/* union bpf_attr (BPF_PROG_LOAD fields) and struct bpf_prog. */
struct vigil_bpf_prog_arg {
	__u32 prog_type;
	__u32 insn_cnt;
	char name[16];
};

struct vigil_bpf_map_arg {
	__u32 map_type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	char name[16];
};

struct vigil_perf_event_arg {
	__u32 type;		/* perf_event_attr.type */
	__u32 pad0;
	__u64 config;
	__u64 probe_offset;	/* config2 of a kprobe event */
	char pmu[16];		/* the PMU's name (dynamic types: kprobe, uprobe, ...) */
	char kprobe_func[128];	/* the probed function of a kprobe event, else empty */
};

enum vigil_module_flags {
	VIGIL_MODULE_SIG_KNOWN = 1 << 0,	/* the kernel checks signatures: sig_ok is meaningful */
	VIGIL_MODULE_SIG_OK = 1 << 1,
	VIGIL_MODULE_TAINTS_KNOWN = 1 << 2,	/* struct module: taints was read */
};

/* struct module / struct load_info. */
struct vigil_module_arg {
	__u64 taints;
	__u32 flags;		/* enum vigil_module_flags */
	__u32 pad0;
	char name[56];
};

#endif /* VIGIL_ABI_ARGS_KERNEL_H */
