/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_net_ip6.c - IPv6 input, extension headers, ICMPv6 echo and Neighbor
 * Discovery (address resolution only).
 *
 * Standards: RFC 8200 (IPv6; 4 extension headers, 4.2 options), RFC 4291
 * (addressing: link-local from modified EUI-64, solicited-node groups),
 * RFC 2464 (IPv6 over Ethernet: 33:33 multicast MACs), RFC 4443 (ICMPv6,
 * echo), RFC 4861 (NDP: 7.1 validation, 7.2 address resolution), RFC 5095
 * (no type 0 routing).
 *
 * SECURITY STANCE
 *	The payload length must fit the frame; the extension-header chain is
 *	walked at most TCPS_MAX_EXTHDRS deep, each header and each option
 *	length-checked against the payload, hop-by-hop only first, a routing
 *	header with segments left is dropped (we are a host, not a router),
 *	options whose type says "discard if unknown" are honoured. Fragment
 *	headers drop the packet. NDP messages must carry hop limit 255 (so
 *	they cannot come from off-link), a valid checksum and well-formed
 *	options (a zero-length option is an attack on naive parsers, RFC 4861
 *	4.6). Neighbor entries are created from a solicitation's source
 *	link-layer option only for on-link sources; advertisements only
 *	update entries we asked for (RFC 4861 7.2.5), so unsolicited NAs
 *	cannot fill the cache. Echo requests to a multicast group are not
 *	answered (no amplification, and an in-place reply would carry a
 *	multicast source).
 *
 * WHAT IS NOT DONE, AND WHY
 *	Router advertisements, router solicitations, redirects, MLD and ICMPv6
 *	errors are counted TCPS_DROP_ICMP_UNHANDLED: addresses and the gateway
 *	are configured statically (a mail gateway must not follow a rogue
 *	RA or redirect), and Packet Too Big is not needed while the MSS fits
 *	the configured MTU. We do not send MLD reports for our solicited-node
 *	groups: on a switch that does MLD snooping without flooding
 *	ff02::1:ff00:0/104, configure the port as a multicast router port (or
 *	rely on unicast NUD). Duplicate address detection is not performed
 *	(static addresses); a DAD probe for one of our addresses is defended
 *	with an NA to all-nodes (RFC 4861 7.2.4).
 */
#include <stdint.h>
#include <string.h>

#include "mxg_err.h"
#include "tcps_net.h"
#include "tcps_net_int.h"

static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
static const uint8_t all_nodes_mac[TCPS_ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };

const uint8_t *ip6_src_for(const struct tcps_if *ifc, const uint8_t *dst)
{
	return ip6_is_linklocal(dst) ? ifc->ll6 : ifc->g6;
}

static bool is_ours(const struct tcps_if *ifc, const uint8_t *a)
{
	return ip6_eq(a, ifc->g6) || ip6_eq(a, ifc->ll6);
}

/* One of the groups we listen to: all-nodes or our solicited-node groups. */
static bool is_our_group(const struct tcps_if *ifc, const uint8_t *a)
{
	static const uint8_t sn_pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	if (ip6_eq(a, all_nodes))
		return true;
	if (memcmp(a, sn_pfx, 13) != 0)
		return false;
	return memcmp(a + 13, ifc->g6 + 13, 3) == 0 || memcmp(a + 13, ifc->ll6 + 13, 3) == 0;
}

static bool is_solnode(const uint8_t *a)
{
	static const uint8_t sn_pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	return memcmp(a, sn_pfx, 13) == 0;
}

static bool on_link6(const struct tcps_if *ifc, const uint8_t *a)
{
	struct mxg_ip ip = { .family = 6 };

	if (ip6_is_linklocal(a))
		return true;
	memcpy(ip.a, a, 16);
	return mxg_prefix_contains(&ifc->conf.v6, &ip);
}

/* Options of a hop-by-hop or destination options header (RFC 8200 4.2):
 * every TLV must fit, and an unknown option whose two high type bits are
 * not 00 means "discard the packet". */
static bool tlv_options_ok(const uint8_t *p, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint8_t t = p[i];

		if (t == 0) { /* Pad1 */
			i++;
			continue;
		}
		if (i + 2 > n || i + 2 + (uint32_t)p[i + 1] > n)
			return false;
		/* PadN and Router Alert (RFC 2711) are known; all others are
		 * unknown to us and their action bits decide. */
		if (t != 1 && t != 5 && (t >> 6) != 0)
			return false;
		i += 2 + (uint32_t)p[i + 1];
	}
	return true;
}

/* Writes an IPv6 header + NA with a target link-layer option at |ip|. */
static void na_write(const struct tcps_if *ifc, uint8_t *ip, const uint8_t *src,
		     const uint8_t *dst, const uint8_t *target, uint8_t flags)
{
	uint8_t *na = ip + IP6_HLEN;

	ip[0] = 0x60;
	ip[1] = ip[2] = ip[3] = 0;
	wr16(ip + 4, NA_OPT_LEN);
	ip[6] = PROTO_ICMPV6;
	ip[7] = NDP_HOPLIMIT;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	na[0] = ND_NEIGHBOR_ADVERT;
	na[1] = 0;
	na[2] = na[3] = 0;
	na[4] = flags;
	na[5] = na[6] = na[7] = 0;
	memcpy(na + 8, target, 16);
	na[24] = ND_OPT_TLLA;
	na[25] = 1;
	memcpy(na + 26, ifc->conf.mac, TCPS_ETH_ALEN);
	wr16(na + 2, (uint16_t)~csum_fold(csum_add(csum_pseudo(src, dst, 16, PROTO_ICMPV6,
								NA_OPT_LEN),
						   na, NA_OPT_LEN)));
}

/* Builds and sends an NA in a new frame. */
static int na_send(struct tcps_if *ifc, const uint8_t *dst_mac, const uint8_t *src,
		   const uint8_t *dst, const uint8_t *target, uint8_t flags)
{
	uint16_t flen = (uint16_t)(ifc->l2len + IP6_HLEN + NA_OPT_LEN);
	uint8_t *f;
	void *h;

	f = ifc_alloc(ifc, flen, &h);
	if (!f)
		return MXG_E_NOBUFS;
	na_write(ifc, f + ifc_l2_write(ifc, f, dst_mac, ETHERTYPE_IPV6), src, dst, target, flags);
	ifc->st.na_tx++;
	ifc_send(ifc, h, flen);
	return 0;
}

int ndp_send_unsolicited_na(struct tcps_if *ifc, const uint8_t *addr)
{
	/* Override clear: caches move to STALE and confirm by NUD rather
	 * than trusting an unsolicited claim (RFC 4861 7.2.6). */
	return na_send(ifc, all_nodes_mac, addr, all_nodes, addr, 0);
}

int ndp_send_ns(struct tcps_if *ifc, const uint8_t *target, const uint8_t *mac)
{
	uint16_t flen = (uint16_t)(ifc->l2len + IP6_HLEN + NA_OPT_LEN);
	const uint8_t *src = ip6_src_for(ifc, target);
	uint8_t dst[16], dmac[TCPS_ETH_ALEN], *f, *ip, *ns;
	void *h;

	if (mac) {
		memcpy(dst, target, 16);
		memcpy(dmac, mac, TCPS_ETH_ALEN);
	} else {
		ip6_solnode(dst, target);
		ip6_mcast_mac(dmac, dst);
	}
	f = ifc_alloc(ifc, flen, &h);
	if (!f)
		return MXG_E_NOBUFS;
	ip = f + ifc_l2_write(ifc, f, dmac, ETHERTYPE_IPV6);
	ip[0] = 0x60;
	ip[1] = ip[2] = ip[3] = 0;
	wr16(ip + 4, NA_OPT_LEN);
	ip[6] = PROTO_ICMPV6;
	ip[7] = NDP_HOPLIMIT;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	ns = ip + IP6_HLEN;
	memset(ns, 0, 8);
	ns[0] = ND_NEIGHBOR_SOLICIT;
	memcpy(ns + 8, target, 16);
	ns[24] = ND_OPT_SLLA;
	ns[25] = 1;
	memcpy(ns + 26, ifc->conf.mac, TCPS_ETH_ALEN);
	wr16(ns + 2, (uint16_t)~csum_fold(csum_add(csum_pseudo(src, dst, 16, PROTO_ICMPV6,
								NA_OPT_LEN),
						   ns, NA_OPT_LEN)));
	ifc->st.ns_tx++;
	ifc_send(ifc, h, flen);
	return 0;
}

/* Walks NDP options (RFC 4861 4.6) after the fixed part; returns false on
 * a zero or overlong option. *lla gets the option of type |want| (which
 * must be 8 bytes long for Ethernet), or NULL. */
static bool ndp_opts(const uint8_t *m, uint32_t len, uint8_t want, const uint8_t **lla)
{
	uint32_t o = NS_LEN, ol;

	*lla = NULL;
	while (o < len) {
		if (o + 2 > len)
			return false;
		ol = (uint32_t)m[o + 1] * 8;
		if (ol == 0 || o + ol > len)
			return false;
		if (m[o] == want) {
			if (ol != 8)
				return false;
			*lla = m + o + 2;
		}
		o += ol;
	}
	return true;
}

struct ip6_rx {
	uint8_t *f;         /* frame */
	uint16_t len;       /* frame bytes */
	uint16_t l3;        /* IPv6 header offset */
	uint8_t *ip;        /* IPv6 header */
	uint8_t *l4;        /* upper-layer header */
	uint16_t l4_len;    /* upper-layer bytes (padding trimmed) */
	bool dst_mcast;     /* destination is one of our groups */
	bool src_unspec;    /* source is :: */
};

static enum tcps_rx_action ns_input(struct tcps_if *ifc, struct ip6_rx *r, mxg_tstamp now,
				    enum tcps_drop *drop, uint16_t *reply_len)
{
	const uint8_t *ns = r->l4, *slla;
	uint8_t target[16], src[16], dst[16], dmac[TCPS_ETH_ALEN], flags, *ip;
	uint16_t need;

	if (r->ip[7] != NDP_HOPLIMIT || ns[1] != 0 || r->l4_len < NS_LEN)
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (ns[8] == 0xff)
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (!ndp_opts(ns, r->l4_len, ND_OPT_SLLA, &slla))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	/* DAD probes: to the solicited-node group and without SLLA
	 * (RFC 4861 7.1.1). */
	if (r->src_unspec && (slla || !is_solnode(r->ip + 24)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (slla && (mac_is_group(slla) || mac_is_zero(slla)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (!is_ours(ifc, ns + 8))
		return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
	ifc->st.ns_rx++;
	memcpy(target, ns + 8, 16);
	if (r->src_unspec) {
		/* Defend the address: multicast, S clear (RFC 4861 7.2.4). */
		memcpy(dst, all_nodes, 16);
		memcpy(dmac, all_nodes_mac, TCPS_ETH_ALEN);
		flags = ND_NA_FLAG_OVERRIDE;
	} else {
		memcpy(dst, r->ip + 8, 16);
		memcpy(dmac, slla ? slla : r->f + TCPS_ETH_ALEN, TCPS_ETH_ALEN);
		flags = ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE;
		if (slla)
			neigh_update(ifc, &ifc->n6, dst, slla, now,
				     (on_link6(ifc, dst) ? NU_CREATE : 0) | NU_WIRE);
	}
	memcpy(src, target, 16);
	need = (uint16_t)(r->l3 + IP6_HLEN + NA_OPT_LEN);
	if (r->len < need) {
		/* An NS without options (a DAD probe) is shorter than our NA:
		 * answer from a new frame. */
		if (na_send(ifc, dmac, src, dst, target, flags) != 0) {
			*drop = TCPS_DROP_NOBUF; /* counted by ifc_alloc */
			return TCPS_RX_DROP;
		}
		return TCPS_RX_CONSUMED;
	}
	ip = r->f + r->l3;
	memcpy(r->f, dmac, TCPS_ETH_ALEN);
	memcpy(r->f + TCPS_ETH_ALEN, ifc->conf.mac, TCPS_ETH_ALEN);
	na_write(ifc, ip, src, dst, target, flags);
	*reply_len = need;
	ifc->st.na_tx++;
	ifc->st.tx_pkts++;
	ifc->st.tx_bytes += need;
	return TCPS_RX_REPLY;
}

static enum tcps_rx_action na_input(struct tcps_if *ifc, struct ip6_rx *r, mxg_tstamp now,
				    enum tcps_drop *drop)
{
	const uint8_t *na = r->l4, *tlla;
	uint8_t flags;

	if (r->ip[7] != NDP_HOPLIMIT || na[1] != 0 || r->l4_len < NS_LEN)
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	flags = na[4];
	if (na[8] == 0xff || (r->dst_mcast && (flags & ND_NA_FLAG_SOLICITED)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (!ndp_opts(na, r->l4_len, ND_OPT_TLLA, &tlla))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	if (tlla && (mac_is_group(tlla) || mac_is_zero(tlla)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	/* Someone else claims one of our addresses. */
	if (is_ours(ifc, na + 8))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_NDP);
	ifc->st.na_rx++;
	if (neigh_update(ifc, &ifc->n6, na + 8, tlla, now,
			 NU_WIRE | ((flags & ND_NA_FLAG_OVERRIDE) ? 0 : NU_NO_OVERRIDE)))
		return TCPS_RX_CONSUMED;
	return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
}

/* Echo reply in place (tcps_net.c explains why); extension headers of the
 * request are not echoed. */
static enum tcps_rx_action icmp6_echo(struct tcps_if *ifc, struct ip6_rx *r, uint16_t *reply_len)
{
	uint8_t *ip = r->ip, *icmp = r->l4, tmp[16];
	uint16_t old = rd16(icmp);

	ifc->st.icmp6_echo_rx++;
	if (unlikely(icmp != ip + IP6_HLEN)) {
		memmove(ip + IP6_HLEN, icmp, r->l4_len);
		icmp = ip + IP6_HLEN;
		ip[6] = PROTO_ICMPV6;
	}
	memcpy(r->f, r->f + TCPS_ETH_ALEN, TCPS_ETH_ALEN);
	memcpy(r->f + TCPS_ETH_ALEN, ifc->conf.mac, TCPS_ETH_ALEN);
	wr16(ip + 4, r->l4_len);
	ip[7] = IP_TTL_OUT;
	memcpy(tmp, ip + 8, 16);
	memcpy(ip + 8, ip + 24, 16);
	memcpy(ip + 24, tmp, 16);
	/* The pseudo-header sum is unchanged by the swap: only the type word
	 * changes. */
	wr16(icmp + 2, csum_update16(rd16(icmp + 2), old, ICMP6_ECHO_REPLY << 8));
	icmp[0] = ICMP6_ECHO_REPLY;
	icmp[1] = 0;
	*reply_len = (uint16_t)(r->l3 + IP6_HLEN + r->l4_len);
	ifc->st.tx_pkts++;
	ifc->st.tx_bytes += *reply_len;
	return TCPS_RX_REPLY;
}

static enum tcps_rx_action icmp6_input(struct tcps_if *ifc, struct ip6_rx *r, mxg_tstamp now,
				       enum tcps_drop *drop, uint16_t *reply_len)
{
	uint64_t sum;

	if (unlikely(r->l4_len < 4))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	sum = csum_pseudo(r->ip + 8, r->ip + 24, 16, PROTO_ICMPV6, r->l4_len);
	if (unlikely(csum_fold(csum_add(sum, r->l4, r->l4_len)) != 0xffff))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_CSUM);
	if (r->l4[0] == ND_NEIGHBOR_SOLICIT)
		return ns_input(ifc, r, now, drop, reply_len);
	if (unlikely(r->src_unspec))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	switch (r->l4[0]) {
	case ICMP6_ECHO_REQUEST:
		if (unlikely(r->l4_len < 8))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		if (r->dst_mcast)
			return rx_drop(ifc, drop, TCPS_DROP_ICMP_UNHANDLED);
		return icmp6_echo(ifc, r, reply_len);
	case ND_NEIGHBOR_ADVERT:
		return na_input(ifc, r, now, drop);
	default:
		return rx_drop(ifc, drop, TCPS_DROP_ICMP_UNHANDLED);
	}
}

enum tcps_rx_action ip6_input(struct tcps_if *ifc, uint8_t *f, uint16_t len, uint16_t l3,
			      bool l2mcast, mxg_tstamp now, enum tcps_drop *drop,
			      uint16_t *reply_len, struct tcps_pktinfo *pi)
{
	static const uint8_t loop[16] = { [15] = 1 };
	struct ip6_rx r = { .f = f, .len = len, .l3 = l3, .ip = f + l3 };
	uint8_t *ip = r.ip, nh;
	uint32_t avail = (uint32_t)len - l3, plen, off = IP6_HLEN, hlen;
	unsigned n;

	if (unlikely(avail < IP6_HLEN))
		return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
	if (unlikely((ip[0] >> 4) != 6))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_VERSION);
	plen = rd16(ip + 4);
	if (unlikely(plen > avail - IP6_HLEN))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_LEN);
	avail = IP6_HLEN + plen; /* trims Ethernet padding */
	if (likely(ip[24] != 0xff)) {
		/* Unicast IP through a multicast MAC is not for us (the IPv6
		 * analogue of RFC 1122 3.3.6). */
		if (unlikely(l2mcast || !is_ours(ifc, ip + 24)))
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
	} else {
		if (!is_our_group(ifc, ip + 24))
			return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
		r.dst_mcast = true;
	}
	if (unlikely(ip[8] == 0xff || is_ours(ifc, ip + 8) || ip6_eq(ip + 8, loop)))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	r.src_unspec = ip6_is_unspec(ip + 8);

	/* Extension headers (RFC 8200 4.1 order is not enforced beyond
	 * hop-by-hop first; the count bounds the walk). */
	nh = ip[6];
	for (n = 0;; n++) {
		if (likely(nh != PROTO_HOPOPTS && nh != PROTO_ROUTING && nh != PROTO_DSTOPTS))
			break;
		if (unlikely((nh == PROTO_HOPOPTS && n != 0) || n >= TCPS_MAX_EXTHDRS ||
			     off + 8 > avail))
			return rx_drop(ifc, drop, TCPS_DROP_EXTHDR);
		hlen = ((uint32_t)ip[off + 1] + 1) * 8;
		if (unlikely(off + hlen > avail))
			return rx_drop(ifc, drop, TCPS_DROP_EXTHDR);
		if (nh == PROTO_ROUTING) {
			/* Segments left != 0: we would have to forward. */
			if (unlikely(ip[off + 3] != 0))
				return rx_drop(ifc, drop, TCPS_DROP_EXTHDR);
		} else if (unlikely(!tlv_options_ok(ip + off + 2, hlen - 2))) {
			return rx_drop(ifc, drop, TCPS_DROP_EXTHDR);
		}
		nh = ip[off];
		off += hlen;
	}
	if (unlikely(nh == PROTO_FRAGMENT))
		return rx_drop(ifc, drop, TCPS_DROP_FRAGMENT);
	r.l4 = ip + off;
	r.l4_len = (uint16_t)(avail - off);
	if (nh == PROTO_ICMPV6)
		return icmp6_input(ifc, &r, now, drop, reply_len);
	if (unlikely(r.src_unspec))
		return rx_drop(ifc, drop, TCPS_DROP_BAD_SRC);
	switch (nh) {
	case PROTO_TCP:
		if (unlikely(r.l4_len < 20))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		break;
	case PROTO_UDP:
		if (unlikely(r.l4_len < 8))
			return rx_drop(ifc, drop, TCPS_DROP_TRUNCATED);
		break;
	default:
		return rx_drop(ifc, drop, TCPS_DROP_PROTO_UNHANDLED);
	}
	if (unlikely(r.dst_mcast))
		return rx_drop(ifc, drop, TCPS_DROP_NOT_FOR_US);
	pi->l3_off = l3;
	pi->l4_off = (uint16_t)(l3 + off);
	pi->l4_len = r.l4_len;
	pi->l4_proto = nh;
	pi->hop_limit = ip[7];
	pi->src.family = 6;
	memcpy(pi->src.a, ip + 8, 16);
	pi->dst.family = 6;
	memcpy(pi->dst.a, ip + 24, 16);
	ifc->st.l4_rx++;
	return TCPS_RX_L4;
}
