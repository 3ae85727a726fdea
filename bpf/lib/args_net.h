/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Network arguments of kernel-function hooks, read through BTF (CO-RE): struct sock, struct
 * socket, struct sk_buff (from its IP and TCP/UDP headers), kernel struct sockaddr and struct
 * net_device; and the network operators on them (ports, CIDR prefixes of either family,
 * protocol, family, TCP state). Included by lib/args_kernel.h, inside lib/policy.h.
 */
#ifndef VIGIL_ARGS_NET_H
#define VIGIL_ARGS_NET_H

#define VIGIL_AF_INET 2
#define VIGIL_AF_INET6 10
#define VIGIL_IPPROTO_TCP 6
#define VIGIL_IPPROTO_UDP 17
#define VIGIL_IPPROTO_UDPLITE 136

static __always_inline void net_from_sock(struct vigil_net_arg *n, struct sock *sk)
{
	n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	n->type = BPF_CORE_READ(sk, sk_type);
	n->protocol = BPF_CORE_READ(sk, sk_protocol);
	n->mark = BPF_CORE_READ(sk, sk_mark);
	n->priority = BPF_CORE_READ(sk, sk_priority);
	n->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (n->family == VIGIL_AF_INET) {
		bpf_core_read(n->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(n->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (n->family == VIGIL_AF_INET6) {
		bpf_core_read(n->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(n->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Addresses and ports from the packet's headers (the offsets the stack has set). */
static __always_inline void net_from_skb(struct vigil_net_arg *n, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 ver = 0;

	n->hash = BPF_CORE_READ(skb, hash);
	n->len = BPF_CORE_READ(skb, len);
	n->priority = BPF_CORE_READ(skb, priority);
	n->mark = BPF_CORE_READ(skb, mark);
	if (bpf_probe_read_kernel(&ver, 1, head + nh))
		return;
	ver >>= 4;
	if (ver == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		n->family = VIGIL_AF_INET;
		n->protocol = ip.protocol;
		__builtin_memcpy(n->saddr, &ip.saddr, 4);
		__builtin_memcpy(n->daddr, &ip.daddr, 4);
	} else if (ver == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		n->family = VIGIL_AF_INET6;
		n->protocol = ip6.nexthdr;
		__builtin_memcpy(n->saddr, &ip6.saddr, 16);
		__builtin_memcpy(n->daddr, &ip6.daddr, 16);
	} else {
		return;
	}
	/* transport_header is ~0 until the stack sets it. */
	if (th != 0xffff && (n->protocol == VIGIL_IPPROTO_TCP || n->protocol == VIGIL_IPPROTO_UDP ||
			     n->protocol == VIGIL_IPPROTO_UDPLITE)) {
		__be16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), head + th) == 0) {
			n->sport = bpf_ntohs(ports[0]);
			n->dport = bpf_ntohs(ports[1]);
		}
	}
}

/* Reads a network kind into the arg's slot. Returns 0, or -1 when the object cannot be read. */
static __always_inline int read_net_arg(struct policy_scratch *s, __u32 i, __u8 kind, __u64 ptr)
{
	struct vigil_net_arg *n;

	if (i >= VIGIL_MAX_ARGS)
		return -1;
	barrier_var(i);
	zero_str(s->str[i]);
	if (!ptr)
		return -1;
	n = (struct vigil_net_arg *)s->str[i];
	switch (kind) {
	case VIGIL_ARG_SOCKET: {
		struct sock *sk = BPF_CORE_READ((struct socket *)ptr, sk);

		if (!sk)
			return -1;
		/* The event's cookie is the sock's address, as Tetragon's. */
		s->ev.ints[i] = (__u64)sk;
		net_from_sock(n, sk);
		break;
	}
	case VIGIL_ARG_SOCK:
		net_from_sock(n, (struct sock *)ptr);
		break;
	case VIGIL_ARG_SKB:
		net_from_skb(n, (struct sk_buff *)ptr);
		break;
	case VIGIL_ARG_KSOCKADDR:
		if (bpf_probe_read_kernel(s->str[i], VIGIL_SOCKADDR_SIZE, (void *)ptr))
			return -1;
		s->str_len[i] = VIGIL_SOCKADDR_SIZE;
		return 0;
	case VIGIL_ARG_NET_DEVICE: {
		long n_read = bpf_probe_read_kernel_str(s->str[i], 16, ((struct net_device *)ptr)->name);

		if (n_read <= 0)
			return -1;
		s->str_len[i] = (n_read - 1) & (VIGIL_STR_MAX - 1);
		return 0;
	}
	default:
		return -1;
	}
	s->str_len[i] = sizeof(struct vigil_net_arg);
	return 0;
}

/* ---- network operators on struct vigil_net_arg ---- */

/* Whether `addr` of `family` falls in a prefix of the LPM set (keys: family byte, address). */
static __always_inline int addr_in_set(struct policy_scratch *s, __u32 set_id, __u16 family, __u8 *addr)
{
	__u32 bytes = 4;

	s->lkey.set_id = set_id;
	if (family == VIGIL_AF_INET6) {
		/* An IPv4-mapped address (::ffff:a.b.c.d) is matched as the IPv4 address. */
		if (*(__u64 *)addr == 0 && *(__u32 *)(addr + 8) == bpf_htonl(0xffff)) {
			addr += 12;
		} else {
			bytes = 16;
		}
	} else if (family != VIGIL_AF_INET) {
		return 0;
	}
	s->lkey.s[0] = bytes == 4 ? 4 : 6;
	__builtin_memcpy(&s->lkey.s[1], addr, 16);
	s->lkey.prefixlen = 32 + 8 + 8 * bytes;
	return bpf_map_lookup_elem(&lpm_sets, &s->lkey) != 0;
}

static __always_inline int in_values(struct vigil_arg_filter *f, __u64 v, __u8 op)
{
	struct vigil_arg_filter g = *f;

	g.op = op;
	return int_filter(&g, v);
}

/*
 * A network operator on a sock/socket/skb arg. Returns 1 or 0, or -1 when the filter is not a
 * network operator (the caller goes on with the generic ones).
 */
static __always_inline int net_filter(struct policy_scratch *s, struct vigil_arg_filter *f, __u32 arg)
{
	struct vigil_net_arg *n;
	int hit;

	if (arg >= VIGIL_MAX_ARGS)
		return 0;
	barrier_var(arg);
	n = (struct vigil_net_arg *)s->str[arg];
	switch (f->op) {
	case VIGIL_MATCH_SPORT:
	case VIGIL_MATCH_NOT_SPORT:
		hit = in_values(f, n->sport, VIGIL_MATCH_IN_RANGE);
		return f->op == VIGIL_MATCH_SPORT ? hit : !hit;
	case VIGIL_MATCH_DPORT:
	case VIGIL_MATCH_NOT_DPORT:
		hit = in_values(f, n->dport, VIGIL_MATCH_IN_RANGE);
		return f->op == VIGIL_MATCH_DPORT ? hit : !hit;
	case VIGIL_MATCH_SPORT_PRIV:
		return n->sport < 1024;
	case VIGIL_MATCH_NOT_SPORT_PRIV:
		return n->sport >= 1024;
	case VIGIL_MATCH_DPORT_PRIV:
		return n->dport < 1024;
	case VIGIL_MATCH_NOT_DPORT_PRIV:
		return n->dport >= 1024;
	case VIGIL_MATCH_SADDR:
	case VIGIL_MATCH_NOT_SADDR:
		hit = addr_in_set(s, f->set_id, n->family, n->saddr);
		return f->op == VIGIL_MATCH_SADDR ? hit : !hit;
	case VIGIL_MATCH_NET_DADDR:
	case VIGIL_MATCH_NOT_NET_DADDR:
		hit = addr_in_set(s, f->set_id, n->family, n->daddr);
		return f->op == VIGIL_MATCH_NET_DADDR ? hit : !hit;
	case VIGIL_MATCH_PROTOCOL:
		return in_values(f, n->protocol, VIGIL_MATCH_EQ);
	case VIGIL_MATCH_FAMILY:
		return in_values(f, n->family, VIGIL_MATCH_EQ);
	case VIGIL_MATCH_NOT_FAMILY:
		return !in_values(f, n->family, VIGIL_MATCH_EQ);
	case VIGIL_MATCH_STATE:
		return in_values(f, n->state, VIGIL_MATCH_EQ);
	}
	return -1;
}

#endif /* VIGIL_ARGS_NET_H */
