/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_net_int.h - private structures shared by tcps_net*.c.
 *
 * tcps_net.c        lifecycle, Ethernet/802.1Q, IPv4, ICMP, checksums
 * tcps_net_ip6.c    IPv6, extension headers, ICMPv6, NDP
 * tcps_net_neigh.c  neighbor cache (ARP and NDP), ARP, output, timers
 *
 * Nothing here is visible outside tcpstack/.
 */
#ifndef TCPS_NET_INT_H
#define TCPS_NET_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tcps_net.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_IPV6 0x86dd

#define IP4_HLEN 20
#define IP6_HLEN 40
#define ARP_LEN 28
#define IP_TTL_OUT 64
#define NDP_HOPLIMIT 255
#define NEIGH_MAX_TRIES 3      /* solicitations before giving up (RFC 4861 MAX_MULTICAST_SOLICIT) */
#define NEIGH_MAX_ENTRIES (1u << 20)

#define PROTO_HOPOPTS 0
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ROUTING 43
#define PROTO_FRAGMENT 44
#define PROTO_ICMPV6 58
#define PROTO_DSTOPTS 60

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2
#define ND_NA_FLAG_ROUTER 0x80
#define ND_NA_FLAG_SOLICITED 0x40
#define ND_NA_FLAG_OVERRIDE 0x20
#define NS_LEN 24               /* ICMPv6 NS/NA without options */
#define NA_OPT_LEN (NS_LEN + 8) /* NA with a target link-layer address option */

#define NEIGH_NIL UINT32_MAX

enum neigh_state {
	NEIGH_FREE = 0,
	NEIGH_INCOMPLETE, /* resolving: on the retry list, may hold frames */
	NEIGH_REACHABLE,  /* resolved: on the age list */
};

/* One cache entry; 64 bytes. Lists are index-linked so the table is one
 * flat allocation and an index fits in 32 bits. */
struct neigh {
	uint8_t ip[16];        /* IPv4 in ip[0..3], rest zero */
	uint8_t mac[TCPS_ETH_ALEN];
	uint8_t state;         /* enum neigh_state */
	uint8_t tries;         /* solicitations sent while INCOMPLETE */
	uint8_t npend;         /* frames held (INCOMPLETE only) */
	uint8_t probing;       /* REACHABLE: refresh probe sent */
	uint32_t hnext;        /* hash chain */
	uint32_t prev, next;   /* retry list (INCOMPLETE) or age list (REACHABLE) */
	mxg_tstamp when;       /* REACHABLE: expiry; INCOMPLETE: next retry */
};

/* A frame built by tcps_if_output while its next hop resolves; the
 * destination MAC (bytes 0..5) is written when the neighbor answers. */
struct neigh_pend {
	void *h;               /* frame_ops handle, owned by the table */
	uint8_t *buf;          /* its bytes */
	uint16_t len;
};

struct neigh_list {
	uint32_t head, tail;   /* oldest first */
	uint32_t n;
};

/* Neighbor table of one address family. */
struct neigh_tbl {
	uint8_t family;        /* 4 or 6 */
	uint8_t alen;          /* 4 or 16 */
	uint32_t max;          /* entries */
	uint32_t hmask;        /* buckets - 1 */
	uint32_t used;
	uint32_t free_head;    /* free list through hnext */
	uint32_t *bucket;      /* [hmask + 1] */
	struct neigh *e;       /* [max] */
	struct neigh_pend *pend; /* [max * pending_max] */
	struct neigh_list age; /* REACHABLE, least recently confirmed first */
	struct neigh_list retry; /* INCOMPLETE, earliest retry first */
};

struct tcps_if {
	struct tcps_if_conf conf;     /* effective (defaults applied) */
	struct tcps_if_stats st;
	const struct tcps_frame_ops *ops;
	void *io;
	const struct mxg_mem *mem;
	uint32_t hseed;               /* neighbor hash seed */
	uint32_t npend_total;         /* frames held over both tables */
	mxg_tstamp refresh;           /* probe a used entry this long before expiry */
	uint16_t l2len;               /* 14, or 18 with a VLAN tag */
	uint16_t ip_id;               /* next IPv4 identification */
	uint8_t v4[4];                /* our IPv4 address */
	uint8_t v4bcast[4];           /* directed broadcast of our prefix */
	uint8_t ll6[16];              /* fe80::EUI-64 */
	uint8_t g6[16];               /* global IPv6 address */
	uint8_t mc_mac[3][TCPS_ETH_ALEN]; /* all-nodes, sol-node(g6), sol-node(ll6) */
	unsigned n_mc_mac;
	struct neigh_tbl n4, n6;
};

/* Big-endian field access; compilers turn these into a load and a bswap. */
static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline bool mac_eq(const uint8_t *a, const uint8_t *b)
{
	uint32_t a4, b4;
	uint16_t a2, b2;

	memcpy(&a4, a, 4);
	memcpy(&b4, b, 4);
	memcpy(&a2, a + 4, 2);
	memcpy(&b2, b + 4, 2);
	return ((a4 ^ b4) | (uint32_t)(a2 ^ b2)) == 0;
}

static inline bool mac_is_group(const uint8_t *m)
{
	return m[0] & 1;
}

static inline bool mac_is_zero(const uint8_t *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

static inline bool ip6_eq(const uint8_t *a, const uint8_t *b)
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a, 8);
	memcpy(&a1, a + 8, 8);
	memcpy(&b0, b, 8);
	memcpy(&b1, b + 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

static inline bool ip6_is_unspec(const uint8_t *a)
{
	static const uint8_t z[16];

	return ip6_eq(a, z);
}

static inline bool ip6_is_linklocal(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* ff02::1:ffXX:XXXX for |a| (RFC 4291 2.7.1). */
static inline void ip6_solnode(uint8_t out[16], const uint8_t *a)
{
	static const uint8_t pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	memcpy(out, pfx, 13);
	memcpy(out + 13, a + 13, 3);
}

/* 33:33 + low 32 bits of an IPv6 multicast address (RFC 2464 7). */
static inline void ip6_mcast_mac(uint8_t mac[TCPS_ETH_ALEN], const uint8_t *a)
{
	mac[0] = 0x33;
	mac[1] = 0x33;
	memcpy(mac + 2, a + 12, 4);
}

/* --- checksums (RFC 1071, RFC 1624) --- */

/* Adds |len| bytes at |p| to a 64-bit one's-complement accumulator, in the
 * host's view of 16-bit words (byte-order independent, RFC 1071 2.B). */
static inline uint64_t csum_add(uint64_t sum, const uint8_t *p, uint32_t len)
{
	uint32_t w;
	uint16_t h;

	while (len >= 16) {
		uint64_t a, b;

		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		sum += (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32);
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

/* Folds an accumulator to 16 bits, returned in network value order (the
 * number a big-endian reader of the field would see). */
static inline uint16_t csum_fold(uint64_t sum)
{
	uint16_t h;
	uint8_t b[2];

	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	h = (uint16_t)sum;
	memcpy(b, &h, 2);
	return rd16(b);
}

/* Pseudo-header sum (RFC 768, RFC 9293 3.1, RFC 8200 8.1) for |alen|-byte
 * addresses; |len| is the upper-layer length. */
static inline uint64_t csum_pseudo(const uint8_t *src, const uint8_t *dst, unsigned alen,
				   uint8_t proto, uint32_t len)
{
	uint8_t tail[8] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			    (uint8_t)len, 0, 0, 0, proto };
	uint64_t sum = csum_add(0, src, alen);

	sum = csum_add(sum, dst, alen);
	return csum_add(sum, tail, 8);
}

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changed old -> new.
 * A result of 0x0000 is returned as 0xffff: both are one's-complement zero
 * and 0xffff is valid in every case, while 0x0000 is wrong when every
 * other word of the message is zero (an all-zero echo reply; found by
 * fuzz_net). */
static inline uint16_t csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint16_t)~csum + (uint32_t)(uint16_t)~old + new_;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (uint16_t)~s;
	return s ? (uint16_t)s : 0xffff;
}

static inline mxg_tstamp ts_add(mxg_tstamp a, mxg_tstamp b)
{
	mxg_tstamp r;

	/* Saturates below MXG_TS_NONE: a deadline never reads as "none". */
	if (__builtin_add_overflow(a, b, &r) || r == MXG_TS_NONE)
		return MXG_TS_NONE - 1;
	return r;
}

/* Counts a dropped received frame and reports why. */
static inline enum tcps_rx_action rx_drop(struct tcps_if *ifc, enum tcps_drop *drop,
					  enum tcps_drop r)
{
	ifc->st.drop[r]++;
	*drop = r;
	return TCPS_RX_DROP;
}

/* --- tcps_net.c --- */
void ifc_drop(struct tcps_if *ifc, enum tcps_drop r);
/* Writes the Ethernet (+VLAN) header for |type|; returns its length. */
uint16_t ifc_l2_write(const struct tcps_if *ifc, uint8_t *f, const uint8_t *dst_mac,
		      uint16_t type);
/* Hands a frame we built to ops->send and counts it. */
void ifc_send(struct tcps_if *ifc, void *h, uint16_t len);
/* Returns a frame buffer of |len| bytes, or NULL (counted TCPS_DROP_NOBUF). */
uint8_t *ifc_alloc(struct tcps_if *ifc, uint16_t len, void **h);

/* --- tcps_net_ip6.c --- */
enum tcps_rx_action ip6_input(struct tcps_if *ifc, uint8_t *f, uint16_t len, uint16_t l3,
			      bool l2mcast, mxg_tstamp now, enum tcps_drop *drop,
			      uint16_t *reply_len, struct tcps_pktinfo *pi);
/* Sends a neighbor solicitation for |target| (multicast to its
 * solicited-node group, or unicast to |mac| when not NULL). */
int ndp_send_ns(struct tcps_if *ifc, const uint8_t *target, const uint8_t *mac);
/* Sends an unsolicited NA for our address |addr| to all-nodes. */
int ndp_send_unsolicited_na(struct tcps_if *ifc, const uint8_t *addr);
/* Source address we use towards |dst| (link-local for link-local). */
const uint8_t *ip6_src_for(const struct tcps_if *ifc, const uint8_t *dst);

/* --- tcps_net_neigh.c --- */
int neigh_tbl_init(struct tcps_if *ifc, struct neigh_tbl *t, uint8_t family);
void neigh_tbl_fini(struct tcps_if *ifc, struct neigh_tbl *t);
#define NU_CREATE 0x1      /* create the entry if missing */
#define NU_WIRE 0x2        /* learned from the network: evicts resolved entries only */
#define NU_NO_OVERRIDE 0x4 /* NA without O flag: do not replace a known MAC */
/* Learns |mac| for |ip| (|mac| NULL: only confirms a resolved entry).
 * Returns true if the cache changed. Sends frames that were waiting. */
bool neigh_update(struct tcps_if *ifc, struct neigh_tbl *t, const uint8_t *ip,
		  const uint8_t *mac, mxg_tstamp now, unsigned flags);
enum tcps_rx_action arp_input(struct tcps_if *ifc, uint8_t *f, uint16_t len, uint16_t l3,
			      mxg_tstamp now, enum tcps_drop *drop, uint16_t *reply_len);
int arp_send_request(struct tcps_if *ifc, const uint8_t *tpa, const uint8_t *spa,
		     const uint8_t *dst_mac);

#endif
