/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_net.c - interface lifecycle, Ethernet/802.1Q, IPv4 and ICMP input,
 * Internet checksums.
 *
 * The layer (tcps_net*.c) implements RFC 826 (ARP), RFC 791 (IPv4), RFC
 * 792 (ICMP), RFC 1122 (host requirements), RFC 8200 (IPv6), RFC 4861
 * (Neighbor Discovery), RFC 4291 (IPv6 addressing) and RFC 4443 (ICMPv6),
 * over RFC 894 Ethernet with at most one IEEE 802.1Q tag.
 *
 * This file: Ethernet/802.1Q, RFC 791 (IPv4), RFC 792 (ICMP echo), RFC
 * 1122 (3.2.1.3 source address checks, 3.3.6 link-layer broadcast,
 * 3.2.2.6 echo), RFC 1071 and RFC 1624 (checksums, incremental update).
 * IPv6/NDP are in tcps_net_ip6.c, ARP, the neighbor cache and output in
 * tcps_net_neigh.c.
 *
 * SECURITY STANCE
 *	Every received byte is attacker-controlled. Each header is
 *	length-checked against the bytes actually received before any field
 *	is read; IP length fields are checked against the frame, never
 *	trusted, and Ethernet padding is trimmed so it never reaches L4.
 *	The IPv4 header checksum and the ICMP checksum are verified (TCP and
 *	UDP checksums are left to L4, which may rely on NIC offload).
 *	Fragments are dropped (no reassembly memory to exhaust). Frames with
 *	a group or our own source MAC, and IP packets with a multicast,
 *	broadcast, loopback, unspecified or own source address are dropped,
 *	so nothing we answer can be reflected to a group or looped. IPv4
 *	received through link-layer broadcast is dropped (RFC 1122 3.3.6).
 *	Every dropped frame is counted once, under one reason.
 *
 * ECHO REPLY IN PLACE VERSUS A NEW FRAME
 *	An echo reply is the request with addresses swapped and one 16-bit
 *	word changed, so it is rewritten in the received buffer and the
 *	checksum patched incrementally (RFC 1624): no allocation and one
 *	pass over the payload (the verification). The reply goes back to the
 *	frame's source MAC without a route lookup, which is the previous hop
 *	in every topology a host sees. IP options of the request are not
 *	echoed (the payload is moved up): reflecting source-route options
 *	would be wrong, and RFC 1122 3.2.2.6 only says SHOULD for record
 *	route and timestamp.
 */
#include <stdint.h>
#include <string.h>

#include "mxg_err.h"
#include "tcps_net.h"
#include "tcps_net_int.h"

static const uint8_t bcast_mac[TCPS_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static const char *const drop_names[TCPS_DROP__MAX] = {
	[TCPS_DROP_TRUNCATED] = "truncated",
	[TCPS_DROP_BAD_LEN] = "bad_len",
	[TCPS_DROP_BAD_CSUM] = "bad_csum",
	[TCPS_DROP_BAD_IHL] = "bad_ihl",
	[TCPS_DROP_BAD_VERSION] = "bad_version",
	[TCPS_DROP_UNKNOWN_ETHERTYPE] = "unknown_ethertype",
	[TCPS_DROP_VLAN] = "vlan",
	[TCPS_DROP_NOT_FOR_US] = "not_for_us",
	[TCPS_DROP_BAD_SRC] = "bad_src",
	[TCPS_DROP_FRAGMENT] = "fragment",
	[TCPS_DROP_EXTHDR] = "exthdr",
	[TCPS_DROP_BAD_ARP] = "bad_arp",
	[TCPS_DROP_BAD_NDP] = "bad_ndp",
	[TCPS_DROP_ICMP_UNHANDLED] = "icmp_unhandled",
	[TCPS_DROP_PROTO_UNHANDLED] = "proto_unhandled",
	[TCPS_DROP_NO_ROUTE] = "no_route",
	[TCPS_DROP_NO_NEIGH] = "no_neigh",
	[TCPS_DROP_NOBUF] = "nobuf",
};

const char *tcps_drop_name(enum tcps_drop r)
{
	if ((unsigned)r >= TCPS_DROP__MAX || !drop_names[r])
		return "unknown";
	return drop_names[r];
}

void ifc_drop(struct tcps_if *ifc, enum tcps_drop r)
{
	ifc->st.drop[r]++;
}

uint16_t ifc_l2_write(const struct tcps_if *ifc, uint8_t *f, const uint8_t *dst_mac, uint16_t type)
{
	memcpy(f, dst_mac, TCPS_ETH_ALEN);
	memcpy(f + TCPS_ETH_ALEN, ifc->conf.mac, TCPS_ETH_ALEN);
	if (ifc->conf.vlan) {
		wr16(f + 12, ETHERTYPE_VLAN);
		wr16(f + 14, ifc->conf.vlan);
		wr16(f + 16, type);
		return ETH_HLEN + VLAN_HLEN;
	}
	wr16(f + 12, type);
	return ETH_HLEN;
}

uint8_t *ifc_alloc(struct tcps_if *ifc, uint16_t len, void **h)
{
	uint8_t *f = ifc->ops->alloc(ifc->io, len, h);

	if (unlikely(!f))
		ifc_drop(ifc, TCPS_DROP_NOBUF);
	return f;
}

void ifc_send(struct tcps_if *ifc, void *h, uint16_t len)
{
	ifc->st.tx_pkts++;
	ifc->st.tx_bytes += len;
	ifc->ops->send(ifc->io, h);
}

/* --- lifecycle --- */

static bool v4_unicast_ok(const uint8_t *a)
{
	return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

static bool v6_unicast_ok(const uint8_t *a)
{
	static const uint8_t loop[16] = { [15] = 1 };

	return a[0] != 0xff && !ip6_is_unspec(a) && !ip6_eq(a, loop);
}

static bool conf_valid(const struct tcps_if_conf *c)
{
	if (mac_is_group(c->mac) || mac_is_zero(c->mac))
		return false;
	if ((c->mtu && c->mtu < 68) || c->mtu > UINT16_MAX - ETH_HLEN - VLAN_HLEN)
		return false;
	if (c->vlan > 4094)
		return false;
	if (c->has_v4) {
		if (c->v4.ip.family != 4 || c->v4.len > 32 || !v4_unicast_ok(c->v4.ip.a))
			return false;
		if (c->has_v4_gw && (c->v4_gw.family != 4 || !mxg_prefix_contains(&c->v4, &c->v4_gw)))
			return false;
	} else if (c->has_v4_gw) {
		return false;
	}
	if (c->has_v6) {
		if (c->mtu && c->mtu < 1280) /* RFC 8200 5 */
			return false;
		if (c->v6.ip.family != 6 || c->v6.len > 128 || !v6_unicast_ok(c->v6.ip.a))
			return false;
		if (c->has_v6_gw && (c->v6_gw.family != 6 || !v6_unicast_ok(c->v6_gw.a) ||
				     (!ip6_is_linklocal(c->v6_gw.a) &&
				      !mxg_prefix_contains(&c->v6, &c->v6_gw))))
			return false;
	} else if (c->has_v6_gw) {
		return false;
	}
	return true;
}

static void addrs_init(struct tcps_if *ifc)
{
	const struct tcps_if_conf *c = &ifc->conf;
	uint8_t sn[16];
	unsigned i;

	if (c->has_v4) {
		uint32_t a = rd32(c->v4.ip.a);
		uint32_t mask = c->v4.len ? ~0u << (32 - c->v4.len) : 0;
		uint32_t b = a | ~mask;

		memcpy(ifc->v4, c->v4.ip.a, 4);
		/* /31 and /32 have no directed broadcast (RFC 3021). */
		if (c->v4.len >= 31)
			b = 0xffffffffu;
		for (i = 0; i < 4; i++)
			ifc->v4bcast[i] = (uint8_t)(b >> (24 - 8 * i));
	}
	if (c->has_v6) {
		memcpy(ifc->g6, c->v6.ip.a, 16);
		/* fe80::/64 + modified EUI-64 (RFC 4291 2.5.1, appendix A). */
		memset(ifc->ll6, 0, 16);
		ifc->ll6[0] = 0xfe;
		ifc->ll6[1] = 0x80;
		ifc->ll6[8] = c->mac[0] ^ 0x02;
		ifc->ll6[9] = c->mac[1];
		ifc->ll6[10] = c->mac[2];
		ifc->ll6[11] = 0xff;
		ifc->ll6[12] = 0xfe;
		ifc->ll6[13] = c->mac[3];
		ifc->ll6[14] = c->mac[4];
		ifc->ll6[15] = c->mac[5];
		/* The multicast MACs we listen on: all-nodes, and the
		 * solicited-node groups of both addresses (one if they share
		 * their low 24 bits). */
		memcpy(ifc->mc_mac[0], (const uint8_t[]){ 0x33, 0x33, 0, 0, 0, 1 }, 6);
		ip6_solnode(sn, ifc->g6);
		ip6_mcast_mac(ifc->mc_mac[1], sn);
		ip6_solnode(sn, ifc->ll6);
		ip6_mcast_mac(ifc->mc_mac[2], sn);
		ifc->n_mc_mac = mac_eq(ifc->mc_mac[1], ifc->mc_mac[2]) ? 2 : 3;
	}
}

struct tcps_if *tcps_if_new(const struct tcps_if_conf *conf, const struct tcps_frame_ops *ops,
			    void *io, const struct mxg_mem *mem)
{
	struct tcps_if *ifc;
	uintptr_t seed;

	if (!conf || !ops || !ops->alloc || !ops->send || !ops->free || !conf_valid(conf))
		return NULL;
	if (!mem)
		mem = mxg_mem_default();
	ifc = mxg_calloc(mem, 1, sizeof(*ifc));
	if (!ifc)
		return NULL;
	ifc->conf = *conf;
	ifc->ops = ops;
	ifc->io = io;
	ifc->mem = mem;
	if (!ifc->conf.mtu)
		ifc->conf.mtu = 1500;
	if (!ifc->conf.neigh_max)
		ifc->conf.neigh_max = 1024;
	if (ifc->conf.neigh_max > NEIGH_MAX_ENTRIES)
		ifc->conf.neigh_max = NEIGH_MAX_ENTRIES;
	if (!ifc->conf.neigh_reachable)
		ifc->conf.neigh_reachable = 30 * MXG_NSEC_PER_SEC;
	if (!ifc->conf.neigh_retrans)
		ifc->conf.neigh_retrans = MXG_NSEC_PER_SEC;
	if (!ifc->conf.neigh_pending_max)
		ifc->conf.neigh_pending_max = 4;
	if (!ifc->conf.neigh_pending_total)
		ifc->conf.neigh_pending_total = 256;
	/* Cap times at a day so deadline arithmetic cannot overflow. */
	if (ifc->conf.neigh_reachable > 86400 * MXG_NSEC_PER_SEC)
		ifc->conf.neigh_reachable = 86400 * MXG_NSEC_PER_SEC;
	if (ifc->conf.neigh_retrans > 86400 * MXG_NSEC_PER_SEC)
		ifc->conf.neigh_retrans = 86400 * MXG_NSEC_PER_SEC;
	/* Probe an entry in use shortly before it expires, so busy flows
	 * never stall on a re-resolution. */
	ifc->refresh = mxg_ts_min(3 * ifc->conf.neigh_retrans, ifc->conf.neigh_reachable / 2);
	ifc->l2len = ifc->conf.vlan ? ETH_HLEN + VLAN_HLEN : ETH_HLEN;
	/* The neighbor hash seed mixes the MAC with the (ASLR-randomised)
	 * address of this instance: not a secret, but not a constant an
	 * on-link attacker can precompute collisions for either. Chains are
	 * bounded by neigh_max in any case. */
	seed = (uintptr_t)ifc;
	ifc->hseed = (uint32_t)(seed ^ (seed >> 32)) ^ rd32(conf->mac + 2);
	addrs_init(ifc);
	if (conf->has_v4 && neigh_tbl_init(ifc, &ifc->n4, 4) != 0)
		goto fail;
	if (conf->has_v6 && neigh_tbl_init(ifc, &ifc->n6, 6) != 0)
		goto fail;
	return ifc;
fail:
	tcps_if_free(ifc);
	return NULL;
}

void tcps_if_free(struct tcps_if *ifc)
{
	if (!ifc)
		return;
	neigh_tbl_fini(ifc, &ifc->n4);
	neigh_tbl_fini(ifc, &ifc->n6);
	mxg_free(ifc->mem, ifc);
}

int tcps_if_start(struct tcps_if *ifc, mxg_tstamp now)
{
	int rc = 0;

	(void)now;
	/* Gratuitous ARP: a request with sender = target = our address
	 * (RFC 5227 "ARP announcement"), so caches holding a stale MAC for
	 * us update. */
	if (ifc->conf.has_v4 && arp_send_request(ifc, ifc->v4, ifc->v4, bcast_mac) != 0)
		rc = MXG_E_NOBUFS;
	if (ifc->conf.has_v6) {
		if (ndp_send_unsolicited_na(ifc, ifc->g6) != 0)
			rc = MXG_E_NOBUFS;
		if (ndp_send_unsolicited_na(ifc, ifc->ll6) != 0)
			rc = MXG_E_NOBUFS;
	}
	return rc;
}

const struct tcps_if_stats *tcps_if_stats(const struct tcps_if *ifc)
{
	return &ifc->st;
}

const struct tcps_if_conf *tcps_if_conf(const struct tcps_if *ifc)
{
	return &ifc->conf;
}

/* --- checksums --- */

uint16_t tcps_l4_csum(const struct mxg_ip *src, const struct mxg_ip *dst, uint8_t proto,
		      const uint8_t *l4, uint16_t len)
{
	unsigned alen = src->family == 4 ? 4 : 16;
	uint64_t sum = csum_pseudo(src->a, dst->a, alen, proto, len);
	uint16_t c = (uint16_t)~csum_fold(csum_add(sum, l4, len));

	/* UDP transmits a computed zero as all ones (RFC 768). */
	if (c == 0 && proto == PROTO_UDP)
		c = 0xffff;
	return c;
}

/* --- IPv4 --- */

/* Turns an echo request into its reply in place (see the file comment). */
static enum tcps_rx_action icmp4_echo(struct tcps_if *ifc, uint8_t *f, uint16_t l3, uint8_t *ip,
				      uint16_t hl, uint8_t *icmp, uint16_t icmp_len,
				      uint16_t *reply_len)
{
	uint8_t tmp[4];
	uint16_t old = rd16(icmp), tot;

	ifc->st.icmp_echo_rx++;
	if (unlikely(hl > IP4_HLEN)) {
		memmove(ip + IP4_HLEN, icmp, icmp_len);
		icmp = ip + IP4_HLEN;
		ip[0] = 0x45;
	}
	tot = IP4_HLEN + icmp_len;
	memcpy(f, f + TCPS_ETH_ALEN, TCPS_ETH_ALEN);
	memcpy(f + TCPS_ETH_ALEN, ifc->conf.mac, TCPS_ETH_ALEN);
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	wr16(ip + 2, tot);
	ip[8] = IP_TTL_OUT;
	ip[10] = ip[11] = 0;
	wr16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, IP4_HLEN)));
	wr16(icmp + 2, csum_update16(rd16(icmp + 2), old, ICMP_ECHO_REPLY << 8));
	icmp[0] = ICMP_ECHO_REPLY;
	icmp[1] = 0;
	*reply_len = (uint16_t)(l3 + tot);
	ifc->st.tx_pkts++;
	ifc->st.tx_bytes += *reply_len;
	return TCPS_RX_REPLY;
}

/* Source checks of RFC 1122 3.2.1.3 / 3.3.6 (plus loopback and 240/4). */
static bool v4_src_bad(const struct tcps_if *ifc, const uint8_t *s)
{
	uint32_t a, own, bc;

	memcpy(&a, s, 4);
	memcpy(&own, ifc->v4, 4);
	memcpy(&bc, ifc->v4bcast, 4);
	return (s[0] == 0) | (s[0] == 127) | (s[0] >= 224) | (a == own) | (a == bc);
}

static enum tcps_rx_action ip4_input(struct tcps_if *ifc, uint8_t *f, uint16_t len, uint16_t l3,
				     enum tcps_drop *drop, uint16_t *reply_len,
				     struct tcps_pktinfo *pi)
{
	uint8_t *ip = f + l3;
	uint32_t avail = (uint32_t)len - l3, hl, tot, dst, own;
	uint8_t *l4;
	uint16_t l4_len;

	if (unlikely(avail < IP4_HLEN))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	if (unlikely((ip[0] >> 4) != 4))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_VERSION);
	hl = (ip[0] & 0xfu) * 4;
	if (unlikely(hl < IP4_HLEN))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_IHL);
	if (unlikely(hl > avail))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	if (unlikely(csum_fold(csum_add(0, ip, hl)) != 0xffff))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_CSUM);
	tot = rd16(ip + 2);
	if (unlikely(tot > avail || tot < hl))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_LEN);
	if (unlikely(rd16(ip + 6) & 0x3fff)) /* MF or fragment offset */
		return rx_drop(ifc, drop, TCPS_DROP_FRAGMENT);
	memcpy(&dst, ip + 16, 4);
	memcpy(&own, ifc->v4, 4);
	if (unlikely(dst != own))
		return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
	if (unlikely(v4_src_bad(ifc, ip + 12)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	l4 = ip + hl;
	l4_len = (uint16_t)(tot - hl);
	switch (ip[9]) {
	case PROTO_TCP:
		if (unlikely(l4_len < 20))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		break;
	case PROTO_UDP:
		if (unlikely(l4_len < 8))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		break;
	case PROTO_ICMP:
		if (unlikely(l4_len < 8))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		if (unlikely(csum_fold(csum_add(0, l4, l4_len)) != 0xffff))
			return rx_drop(ifc, drop, TCPS_DROP_BAD_CSUM);
		if (l4[0] != ICMP_ECHO_REQUEST)
			return rx_drop(ifc, drop, TCPS_DROP_ICMP_UNHANDLED);
		return icmp4_echo(ifc, f, l3, ip, (uint16_t)hl, l4, l4_len, reply_len);
	default:
		return rx_drop(ifc, drop, TCPS_DROP_PROTO_UNHANDLED);
	}
	pi->l3_off = l3;
	pi->l4_off = (uint16_t)(l3 + hl);
	pi->l4_len = l4_len;
	pi->l4_proto = ip[9];
	pi->hop_limit = ip[8];
	pi->src.family = 4;
	memcpy(pi->src.a, ip + 12, 4);
	memset(pi->src.a + 4, 0, 12);
	pi->dst.family = 4;
	memcpy(pi->dst.a, ip + 16, 4);
	memset(pi->dst.a + 4, 0, 12);
	ifc->st.l4_rx++;
	return TCPS_RX_L4;
}

/* --- Ethernet --- */

enum l2_class {
	L2_UNICAST, /* our MAC */
	L2_BCAST,
	L2_MCAST6,  /* one of our IPv6 multicast MACs */
};

enum tcps_rx_action tcps_if_input(struct tcps_if *ifc, uint8_t *frame, uint16_t len,
				  mxg_tstamp now, enum tcps_drop *drop, uint16_t *reply_len,
				  struct tcps_pktinfo *pi)
{
	enum l2_class cls;
	enum tcps_rx_action act;
	uint16_t type, l3 = ETH_HLEN, vid = 0;
	unsigned i;

	ifc->st.rx_pkts++;
	ifc->st.rx_bytes += len;
	if (unlikely(len < ETH_HLEN))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	if (likely(mac_eq(frame, ifc->conf.mac))) {
		cls = L2_UNICAST;
	} else if (mac_eq(frame, bcast_mac)) {
		cls = L2_BCAST;
	} else {
		for (i = 0; i < ifc->n_mc_mac; i++)
			if (mac_eq(frame, ifc->mc_mac[i]))
				break;
		if (i == ifc->n_mc_mac)
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		cls = L2_MCAST6;
	}
	if (unlikely(mac_is_group(frame + TCPS_ETH_ALEN) ||
		     mac_eq(frame + TCPS_ETH_ALEN, ifc->conf.mac)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	type = rd16(frame + 12);
	if (type == ETHERTYPE_VLAN) {
		if (unlikely(len < ETH_HLEN + VLAN_HLEN))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		vid = rd16(frame + 14) & 0xfff;
		type = rd16(frame + 16);
		l3 = ETH_HLEN + VLAN_HLEN;
		if (unlikely(type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ))
			return rx_drop(ifc, drop, TCPS_DROP_VLAN);
	} else if (unlikely(type == ETHERTYPE_QINQ)) {
		return rx_drop(ifc, drop, TCPS_DROP_VLAN);
	}
	/* VID 0 is a priority tag: the frame is untagged (802.1Q 9.6). */
	if (unlikely(vid != ifc->conf.vlan))
		return rx_drop(ifc, drop, TCPS_DROP_VLAN);

	switch (type) {
	case ETHERTYPE_IPV4:
		if (unlikely(cls != L2_UNICAST || !ifc->conf.has_v4))
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		act = ip4_input(ifc, frame, len, l3, drop, reply_len, pi);
		break;
	case ETHERTYPE_IPV6:
		if (unlikely(cls == L2_BCAST || !ifc->conf.has_v6))
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		act = ip6_input(ifc, frame, len, l3, cls == L2_MCAST6, now, drop, reply_len, pi);
		break;
	case ETHERTYPE_ARP:
		if (unlikely(cls == L2_MCAST6 || !ifc->conf.has_v4))
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		return arp_input(ifc, frame, len, l3, now, drop, reply_len);
	default:
		return rx_drop(ifc, drop, TCPS_DROP_UNKNOWN_ETHERTYPE);
	}
	if (act == TCPS_RX_L4) {
		pi->vlan = vid;
		memcpy(pi->src_mac, frame + TCPS_ETH_ALEN, TCPS_ETH_ALEN);
	}
	return act;
}
