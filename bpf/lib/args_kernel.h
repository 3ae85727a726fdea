/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-object arguments of kernel-function hooks (kprobe, fentry, LSM), read through BTF
 * (CO-RE) into fixed layouts (bpf/include/abi_args_kernel.h): cred, user_namespace, capability
 * sets, bpf_attr/bpf_prog/bpf_map, perf_event, module/load_info, and the network kinds of
 * lib/args_net.h. One reader and one filter entry point, each a global function so the verifier
 * checks them once, whatever the caller. Included in lib/policy.h.
 */
#ifndef VIGIL_ARGS_KERNEL_H
#define VIGIL_ARGS_KERNEL_H

#include "lib/args_net.h"

/* Internal to the module loader (and sig_ok needs CONFIG_MODULE_SIG): not in every kernel's BTF. */
struct load_info___vigil {
	const char *name;
	bool sig_ok;
} __attribute__((preserve_access_index));

static __always_inline void read_user_ns(struct vigil_user_ns_arg *u, struct user_namespace *ns)
{
	u->level = BPF_CORE_READ(ns, level);
	u->uid = BPF_CORE_READ(ns, owner.val);
	u->gid = BPF_CORE_READ(ns, group.val);
	u->inum = BPF_CORE_READ(ns, ns.inum);
}

static __always_inline void read_cred(struct vigil_cred_arg *c, const struct cred *cr)
{
	c->uid = BPF_CORE_READ(cr, uid.val);
	c->gid = BPF_CORE_READ(cr, gid.val);
	c->suid = BPF_CORE_READ(cr, suid.val);
	c->sgid = BPF_CORE_READ(cr, sgid.val);
	c->euid = BPF_CORE_READ(cr, euid.val);
	c->egid = BPF_CORE_READ(cr, egid.val);
	c->fsuid = BPF_CORE_READ(cr, fsuid.val);
	c->fsgid = BPF_CORE_READ(cr, fsgid.val);
	c->securebits = BPF_CORE_READ(cr, securebits);
	/* kernel_cap_t is u32[2] before 6.3 and one u64 after: the same 8 bytes either way. */
	bpf_core_read(&c->cap_inheritable, 8, &cr->cap_inheritable);
	bpf_core_read(&c->cap_permitted, 8, &cr->cap_permitted);
	bpf_core_read(&c->cap_effective, 8, &cr->cap_effective);
	read_user_ns(&c->user_ns, BPF_CORE_READ(cr, user_ns));
}

static __always_inline void read_perf_event(struct vigil_perf_event_arg *p, struct perf_event *ev)
{
	__u64 func;

	p->type = BPF_CORE_READ(ev, attr.type);
	p->config = BPF_CORE_READ(ev, attr.config);
	bpf_probe_read_kernel_str(p->pmu, sizeof(p->pmu), BPF_CORE_READ(ev, pmu, name));
	/* A kprobe event names its function in config1, a user pointer while perf_event_open runs. */
	if (p->pmu[0] == 'k' && p->pmu[1] == 'p' && p->pmu[2] == 'r' && p->pmu[6] == 0) {
		func = BPF_CORE_READ(ev, attr.kprobe_func);
		p->probe_offset = BPF_CORE_READ(ev, attr.probe_offset);
		if (func)
			bpf_probe_read_user_str(p->kprobe_func, sizeof(p->kprobe_func), (void *)func);
	}
}

/* As Tetragon's module arg: the name and the taints (the signature verdict is load_info's). */
static __always_inline void read_module(struct vigil_module_arg *m, struct module *mod)
{
	bpf_probe_read_kernel_str(m->name, sizeof(m->name), mod->name);
	m->taints = BPF_CORE_READ(mod, taints);
	m->flags = VIGIL_MODULE_TAINTS_KNOWN;
}

static __always_inline int read_load_info(struct vigil_module_arg *m, void *ptr)
{
	struct load_info___vigil *info = ptr;

	if (!bpf_core_type_exists(struct load_info___vigil))
		return -1;
	bpf_probe_read_kernel_str(m->name, sizeof(m->name), BPF_CORE_READ(info, name));
	if (bpf_core_field_exists(info->sig_ok)) {
		m->flags |= VIGIL_MODULE_SIG_KNOWN;
		if (BPF_CORE_READ(info, sig_ok))
			m->flags |= VIGIL_MODULE_SIG_OK;
	}
	return 0;
}

/* Reads a kernel-object arg (kind >= VIGIL_ARG_SOCK) into its slot. Returns -1 when unreadable. */
static __always_inline int read_kernel_object(struct policy_scratch *s, __u32 i, __u8 kind, __u64 ptr)
{
	void *slot;
	__u32 len;

	if (kind <= VIGIL_ARG_NET_DEVICE)
		return read_net_arg(s, i, kind, ptr);
	if (i >= VIGIL_MAX_ARGS)
		return -1;
	barrier_var(i);
	zero_str(s->str[i]);
	if (!ptr)
		return -1;
	slot = s->str[i];
	switch (kind) {
	case VIGIL_ARG_CRED:
		read_cred(slot, (const struct cred *)ptr);
		len = sizeof(struct vigil_cred_arg);
		break;
	case VIGIL_ARG_USER_NS:
		read_user_ns(slot, (struct user_namespace *)ptr);
		len = sizeof(struct vigil_user_ns_arg);
		break;
	case VIGIL_ARG_CAP_SET:
		/* The set is the value: integer operators (Mask, Equal) apply to it. */
		if (bpf_probe_read_kernel(&s->ev.ints[i], 8, (void *)ptr))
			return -1;
		return 0;
	case VIGIL_ARG_BPF_ATTR: {
		struct vigil_bpf_prog_arg *p = slot;
		union bpf_attr *attr = (union bpf_attr *)ptr;

		p->prog_type = BPF_CORE_READ(attr, prog_type);
		p->insn_cnt = BPF_CORE_READ(attr, insn_cnt);
		bpf_core_read(p->name, sizeof(p->name), &attr->prog_name);
		len = sizeof(*p);
		break;
	}
	case VIGIL_ARG_BPF_PROG: {
		struct vigil_bpf_prog_arg *p = slot;
		struct bpf_prog *prog = (struct bpf_prog *)ptr;

		p->prog_type = BPF_CORE_READ(prog, type);
		p->insn_cnt = BPF_CORE_READ(prog, len);
		bpf_probe_read_kernel(p->name, sizeof(p->name), BPF_CORE_READ(prog, aux, name));
		len = sizeof(*p);
		break;
	}
	case VIGIL_ARG_BPF_MAP: {
		struct vigil_bpf_map_arg *p = slot;
		struct bpf_map *map = (struct bpf_map *)ptr;

		p->map_type = BPF_CORE_READ(map, map_type);
		p->key_size = BPF_CORE_READ(map, key_size);
		p->value_size = BPF_CORE_READ(map, value_size);
		p->max_entries = BPF_CORE_READ(map, max_entries);
		bpf_core_read(p->name, sizeof(p->name), &map->name);
		len = sizeof(*p);
		break;
	}
	case VIGIL_ARG_PERF_EVENT:
		read_perf_event(slot, (struct perf_event *)ptr);
		len = sizeof(struct vigil_perf_event_arg);
		break;
	case VIGIL_ARG_MODULE:
		read_module(slot, (struct module *)ptr);
		len = sizeof(struct vigil_module_arg);
		break;
	case VIGIL_ARG_LOAD_INFO:
		if (read_load_info(slot, (void *)ptr))
			return -1;
		len = sizeof(struct vigil_module_arg);
		break;
	default:
		return -1;
	}
	s->str_len[i] = len;
	return 0;
}

/* Reads argument `i` of hook `hook_id`, a kernel object (kind >= VIGIL_ARG_SOCK). */
__attribute__((noinline)) int vigil_read_kernel_arg(__u32 hook_id, __u64 i)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct policy_scratch *s = scratch();
	struct vigil_hook_arg *a;
	__u64 ptr;

	if (!h || !s || i >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(i);
	a = &h->args[i];
	ptr = rec_int(s, a->ctx_offset, 8, 0);
	s->ev.ints[i] = ptr;
	s->str_len[i] = 0;
	if (read_kernel_object(s, i, a->kind, ptr))
		s->ev.flags |= VIGIL_EV_ARG_ERROR;
	return 0;
}

/*
 * Filter `j` of selector `sel` when its arg is a kernel object this file reads: 1 or 0; -1 when
 * the generic filters apply (other kinds, or operators that are not network ones).
 */
__attribute__((noinline)) int vigil_kernel_arg_filter(__u32 hook_id, __u64 sel, __u64 j)
{
	struct vigil_hook *h = bpf_map_lookup_elem(&hooks, &hook_id);
	struct policy_scratch *s = scratch();
	struct vigil_arg_filter *f;
	__u32 arg;
	__u8 kind;
	int hit;

	if (!h || !s || sel >= VIGIL_MAX_SELECTORS || j >= VIGIL_MAX_ARG_FILTERS)
		return -1;
	barrier_var(sel);
	barrier_var(j);
	f = &h->selectors[sel].args[j];
	arg = f->arg;
	if (arg >= VIGIL_MAX_ARGS)
		return -1;
	barrier_var(arg);
	kind = h->args[arg].kind;
	if (kind == VIGIL_ARG_SOCK || kind == VIGIL_ARG_SOCKET || kind == VIGIL_ARG_SKB)
		return net_filter(s, f, arg);
	if (kind == VIGIL_ARG_NET_DEVICE && (f->op == VIGIL_MATCH_EQ || f->op == VIGIL_MATCH_NEQ)) {
		hit = str_in_set(s, f->set_id, arg);
		return f->op == VIGIL_MATCH_EQ ? hit : !hit;
	}
	return -1;
}

#endif /* VIGIL_ARGS_KERNEL_H */
