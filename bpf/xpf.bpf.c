// SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0)
/*
 * xpf.bpf.c - mxgate's XDP pre-filter: drops reputation-blocked senders in
 * the driver, before they cost a cycle of the dataplane (or of a kernel
 * MTA when attached stand-alone), and redirects the rest into the AF_XDP
 * socket of the receive queue.
 *
 * Per frame, in this order:
 *  1. parse Ethernet, at most two VLAN tags (802.1Q / 802.1ad), IPv4 or
 *     IPv6 (extension headers walked, at most XPF_V6_EXT_MAX of them);
 *  2. source in xpf_allow4/6 (known hosts: upstream MTAs, cloud
 *     pre-filters) -> never dropped, skip to 5;
 *  3. source in xpf_block4/6 (longest prefix) and the entry not expired ->
 *     XDP_DROP, counted per reason in xpf_reasons;
 *  4. TCP SYN without ACK -> the source's token bucket in xpf_synb
 *     (rate and burst from xpf_conf; 0 = off) -> XDP_DROP when empty;
 *  5. bpf_redirect_map(&xsks_map, rx_queue_index, XDP_PASS): into the
 *     AF_XDP socket of the queue, or to the kernel stack when the queue
 *     has none (stand-alone attach in front of a kernel MTA).
 *
 * Malformed input is never dropped here: a frame whose headers do not
 * parse (truncated, IHL < 5, more VLAN tags or extension headers than we
 * walk) is counted as XPF_STAT_MALFORMED and handed on, because the
 * dataplane's tcpstack (or the kernel) already validates and counts it,
 * and a pre-filter that drops what it does not understand breaks things
 * it was never meant to judge. Every packet access is checked against
 * data_end before it is made.
 *
 * Fragments: the source address is in every fragment's IP header, so a
 * blocked source is dropped whatever the fragment; the SYN bucket needs the
 * TCP header, which only the first fragment carries, so non-first
 * fragments skip step 4 (and are counted as XPF_STAT_FRAGMENT).
 *
 * Expiry is checked here (expires_ns against bpf_ktime_get_ns, both
 * CLOCK_MONOTONIC) rather than only by a user-space sweeper, so an entry
 * stops dropping at its deadline even if nothing deletes it; the loader's
 * xpf_block_gc() removes expired entries later. An LPM lookup returns
 * only the longest match: an expired /32 inside a live /24 lets the /32's
 * traffic through until the sweeper deletes it (documented in
 * docs/filter.md).
 *
 * Why XDP_PASS and not XDP_DROP for "no socket": the program is also the
 * stand-alone shield of a kernel MTA (mxgatectl xdp attach), where every
 * accepted frame must reach the kernel stack.
 *
 * Why no map pinning attributes (LIBBPF_PIN_BY_NAME): the net_af_xdp PMD
 * opens this object with bpf_object__open_file(path, NULL), so libbpf
 * would pin into the global /sys/fs/bpf/<map name>: every dataplane on
 * the host would share one blocklist, one SYN-rate configuration and one
 * set of counters, and the pins would outlive the process. Instead the
 * dataplane finds the program on its interface after the port starts and
 * pins the maps under /sys/fs/bpf/mxgate/<iface>/ (xpf_pin_attached in
 * xpf.c), which it removes at exit.
 *
 * License: the kernel checks the "license" section string, not the SPDX
 * line, and refuses GPL-only helpers to programs that do not declare a
 * GPL-compatible license. "Dual BSD/GPL" is such a declaration and is
 * true: this file is BSD-3-Clause (the project's license) or GPL-2.0, at
 * the user's choice. The helpers used today (map lookup/update,
 * redirect_map, ktime_get_ns) are not GPL-only; the declaration keeps
 * bpf_printk and friends available for debugging.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xpf_maps.h"

#define XPF_V6_EXT_MAX 8   /* IPv6 extension headers walked */
#define NSEC_PER_SEC 1000000000ull

/* Set by the loader between open and load (skel->rodata). The net_af_xdp
 * PMD loads the object as built, so the defaults are the AF_XDP case. */
const volatile __u32 xpf_redirect = 1; /* 0: stand-alone, XDP_PASS instead of redirect */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XPF_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_STAT__MAX);
	__type(key, __u32);
	__type(value, struct xpf_counter);
} xpf_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_REASON_MAX);
	__type(key, __u32);
	__type(value, struct xpf_counter);
} xpf_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_BLOCK_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm_v4);
	__type(value, struct xpf_block);
} xpf_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_BLOCK_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm_v6);
	__type(value, struct xpf_block);
} xpf_block6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_ALLOW_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm_v4);
	__type(value, struct xpf_allow);
} xpf_allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_ALLOW_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm_v6);
	__type(value, struct xpf_allow);
} xpf_allow6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XPF_SYNB_MAX);
	__type(key, struct xpf_src);
	__type(value, struct xpf_bucket);
} xpf_synb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xpf_conf);
} xpf_conf SEC(".maps");

/* What the parser found out about one frame. */
struct pkt {
	struct xpf_src src;  /* source, IPv4 as ::ffff:a.b.c.d */
	__u8 family;         /* 4, 6, or 0 (not IP / not parsed) */
	__u8 syn;            /* first fragment, TCP, SYN without ACK */
	__u8 frag;           /* non-first fragment */
	__u8 malformed;
};

static __always_inline void count(__u32 slot, __u64 bytes)
{
	struct xpf_counter *c = bpf_map_lookup_elem(&xpf_stats, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void count_reason(__u32 reason, __u64 bytes)
{
	__u32 slot = reason < XPF_REASON_MAX ? reason : XPF_REASON_OTHER;
	struct xpf_counter *c = bpf_map_lookup_elem(&xpf_reasons, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* TCP header at |l4|: a SYN without ACK? Truncated -> not a SYN, and the
 * frame is marked malformed. */
static __always_inline void judge_tcp(struct pkt *p, void *l4, void *end)
{
	struct tcphdr *th = l4;

	if ((void *)(th + 1) > end) {
		p->malformed = 1;
		return;
	}
	p->syn = th->syn && !th->ack;
}

static __always_inline void parse_v4(struct pkt *p, void *l3, void *end)
{
	struct iphdr *ip = l3;
	__u32 ihl;

	if ((void *)(ip + 1) > end || ip->version != 4) {
		p->malformed = 1;
		return;
	}
	ihl = ip->ihl;
	if (ihl < 5) {
		p->malformed = 1;
		return;
	}
	p->family = 4;
	p->src.addr[10] = 0xff;
	p->src.addr[11] = 0xff;
	__builtin_memcpy(&p->src.addr[12], &ip->saddr, 4);
	if (ip->frag_off & bpf_htons(0x1fff)) { /* offset != 0: not the first */
		p->frag = 1;
		return;
	}
	if (ip->protocol == IPPROTO_TCP)
		judge_tcp(p, l3 + ihl * 4, end);
}

static __always_inline int v6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH || nh == 135 /* mobility */;
}

struct v6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 id;
};

static __always_inline void parse_v6(struct pkt *p, void *l3, void *end)
{
	struct ipv6hdr *ip6 = l3;
	void *cur;
	__u8 nh;

	if ((void *)(ip6 + 1) > end || ip6->version != 6) {
		p->malformed = 1;
		return;
	}
	p->family = 6;
	__builtin_memcpy(p->src.addr, &ip6->saddr, 16);
	nh = ip6->nexthdr;
	cur = ip6 + 1;
#pragma unroll
	for (int i = 0; i < XPF_V6_EXT_MAX; i++) {
		__u8 *h = cur;

		if (!v6_ext(nh))
			break;
		if ((void *)(h + 8) > end) {
			p->malformed = 1;
			return;
		}
		if (nh == IPPROTO_FRAGMENT) {
			struct v6_frag *f = cur;

			if (f->frag_off & bpf_htons(0xfff8)) {
				p->frag = 1;
				return;
			}
			nh = f->nexthdr;
			cur += 8;
		} else if (nh == IPPROTO_AH) {
			nh = h[0];
			cur += ((__u32)h[1] + 2) * 4; /* RFC 4302: 4-octet units, minus 2 */
		} else {
			nh = h[0];
			cur += ((__u32)h[1] + 1) * 8; /* RFC 8200: 8-octet units, minus 1 */
		}
	}
	if (v6_ext(nh)) { /* more than we walk: judge by source only */
		p->malformed = 1;
		return;
	}
	if (nh == IPPROTO_TCP)
		judge_tcp(p, cur, end);
}

static __always_inline void parse(struct pkt *p, void *data, void *end)
{
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__u16 proto;

	if (l3 > end) {
		p->malformed = 1;
		return;
	}
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		__be16 *tag = l3;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 2) > end) {
			p->malformed = 1;
			return;
		}
		proto = tag[1];
		l3 += 4;
	}
	if (proto == bpf_htons(ETH_P_IP))
		parse_v4(p, l3, end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		parse_v6(p, l3, end);
	else if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		p->malformed = 1; /* a third tag */
}

static __always_inline int allowed(const struct pkt *p)
{
	if (p->family == 4) {
		struct xpf_lpm_v4 k = {.prefixlen = 32};

		__builtin_memcpy(k.addr, &p->src.addr[12], 4);
		return bpf_map_lookup_elem(&xpf_allow4, &k) != NULL;
	}
	struct xpf_lpm_v6 k6 = {.prefixlen = 128};

	__builtin_memcpy(k6.addr, p->src.addr, 16);
	return bpf_map_lookup_elem(&xpf_allow6, &k6) != NULL;
}

static __always_inline struct xpf_block *blocked(const struct pkt *p)
{
	if (p->family == 4) {
		struct xpf_lpm_v4 k = {.prefixlen = 32};

		__builtin_memcpy(k.addr, &p->src.addr[12], 4);
		return bpf_map_lookup_elem(&xpf_block4, &k);
	}
	struct xpf_lpm_v6 k6 = {.prefixlen = 128};

	__builtin_memcpy(k6.addr, p->src.addr, 16);
	return bpf_map_lookup_elem(&xpf_block6, &k6);
}

/* The source's SYN bucket: 1 = admit, 0 = over its rate. */
static __always_inline int syn_admit(const struct pkt *p, __u64 now)
{
	__u32 zero = 0;
	struct xpf_conf *c = bpf_map_lookup_elem(&xpf_conf, &zero);
	struct xpf_bucket *b, nb;
	__u64 cost, cap;

	if (!c || !c->syn_rate)
		return 1;
	cost = NSEC_PER_SEC / c->syn_rate;
	cap = cost * (c->syn_burst ? c->syn_burst : 1);
	b = bpf_map_lookup_elem(&xpf_synb, &p->src);
	if (!b) {
		nb.credit_ns = cap - cost;
		nb.last_ns = now;
		bpf_map_update_elem(&xpf_synb, &p->src, &nb, BPF_ANY);
		return 1;
	}
	if (now > b->last_ns) {
		__u64 credit = b->credit_ns + (now - b->last_ns);

		b->credit_ns = credit < cap ? credit : cap;
		b->last_ns = now;
	}
	if (b->credit_ns < cost)
		return 0;
	b->credit_ns -= cost;
	return 1;
}

SEC("xdp")
int xpf_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = (__u64)(end - data);
	struct pkt p = {};
	long act;

	count(XPF_STAT_SEEN, len);
	parse(&p, data, end);
	if (p.malformed)
		count(XPF_STAT_MALFORMED, len);
	if (p.frag)
		count(XPF_STAT_FRAGMENT, len);
	if (!p.family) {
		if (!p.malformed)
			count(XPF_STAT_NONIP, len);
		goto out;
	}
	if (allowed(&p)) {
		count(XPF_STAT_ALLOWED, len);
		goto out;
	}
	struct xpf_block *b = blocked(&p);

	if (b) {
		__u64 exp = b->expires_ns;

		if (!exp || exp > bpf_ktime_get_ns()) {
			count(XPF_STAT_DROP_BLOCKED, len);
			count_reason(b->reason, len);
			return XDP_DROP;
		}
		count(XPF_STAT_EXPIRED, len);
	}
	if (p.syn) {
		count(XPF_STAT_SYN, len);
		if (!syn_admit(&p, bpf_ktime_get_ns())) {
			count(XPF_STAT_DROP_SYNRATE, len);
			return XDP_DROP;
		}
	}
out:
	if (!xpf_redirect) {
		count(XPF_STAT_PASSED, len);
		return XDP_PASS;
	}
	act = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	count(act == XDP_REDIRECT ? XPF_STAT_REDIRECTED : XPF_STAT_PASSED, len);
	return (int)act;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
