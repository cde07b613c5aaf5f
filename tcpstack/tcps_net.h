/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_net.h - sans-IO link and network layer of the dataplane: Ethernet
 * (with one optional 802.1Q tag), ARP, IPv4, ICMP, IPv6, ICMPv6 and NDP.
 *
 * One struct tcps_if per (port, lcore): the lcore that polls a queue owns the
 * interface state it touches, nothing here is shared or locked. No DPDK
 * header, no clock, no syscalls: frames come in as borrowed byte arrays, time
 * is passed in, and outgoing frames are requested from the caller through
 * struct tcps_frame_ops (the dataplane implements them with mbufs, tests with
 * plain buffers).
 *
 * What it answers: ARP requests for our IPv4 address, ICMP echo, NDP
 * neighbor solicitations for our global and link-local IPv6 addresses (with
 * a link-local address derived from the MAC, EUI-64), ICMPv6 echo. It sends
 * a gratuitous ARP and an unsolicited NA at start (tcps_if_start), resolves
 * next hops (on-link or the configured gateway) for L4 output, and keeps a
 * bounded neighbor cache per family with aging.
 *
 * Security stance: every header is length-checked before it is read; IPv4
 * header and ICMP/ICMPv6 checksums are verified; the IPv4 total length and
 * IPv6 payload length must fit the frame (Ethernet padding is trimmed, never
 * trusted as payload); stacked VLAN tags (QinQ) are dropped; at most
 * TCPS_MAX_EXTHDRS IPv6 extension headers are walked. IPv4 and IPv6
 * fragments are counted and dropped (TCPS_DROP_FRAGMENT): SMTP/POP3 peers
 * use PMTU discovery and the MSS we announce fits the MTU, so reassembly
 * memory is not worth its attack surface (docs/architecture.md).
 * NDP messages must carry hop limit 255 (RFC 4861 7.1.1).
 * Every dropped frame is counted under exactly one reason.
 * Router advertisements, redirects, MLD and ICMP errors are not acted on
 * (TCPS_DROP_ICMP_UNHANDLED): addresses and gateways are static
 * configuration (tcps_net_ip6.c explains why).
 */
#ifndef TCPS_NET_H
#define TCPS_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_mem.h"
#include "mxg_time.h"

#define TCPS_ETH_ALEN 6
#define TCPS_MAX_EXTHDRS 8

/* Why a frame was dropped. Keep tcps_drop_name() in step. */
enum tcps_drop {
	TCPS_DROP_TRUNCATED,        /* shorter than a header it claims */
	TCPS_DROP_BAD_LEN,          /* IP length field larger/smaller than possible */
	TCPS_DROP_BAD_CSUM,         /* IPv4 header, ICMP, ICMPv6 checksum */
	TCPS_DROP_BAD_IHL,          /* IPv4 IHL < 5 */
	TCPS_DROP_BAD_VERSION,      /* IP version does not match ethertype */
	TCPS_DROP_UNKNOWN_ETHERTYPE,
	TCPS_DROP_VLAN,             /* stacked tags, or VLAN id not ours */
	TCPS_DROP_NOT_FOR_US,       /* destination MAC or IP not ours */
	TCPS_DROP_BAD_SRC,          /* multicast/broadcast/unspecified/own source */
	TCPS_DROP_FRAGMENT,         /* IPv4 or IPv6 fragment (not reassembled) */
	TCPS_DROP_EXTHDR,           /* IPv6 extension-header chain too long/bad */
	TCPS_DROP_BAD_ARP,          /* ARP not Ethernet/IPv4 or malformed */
	TCPS_DROP_BAD_NDP,          /* NDP hop limit != 255, bad option, bad target */
	TCPS_DROP_ICMP_UNHANDLED,   /* ICMP/ICMPv6 type we do not act on */
	TCPS_DROP_PROTO_UNHANDLED,  /* IP protocol without a handler */
	TCPS_DROP_NO_ROUTE,         /* output: destination not on-link, no gateway */
	TCPS_DROP_NO_NEIGH,         /* output: next hop unresolved, queue full */
	TCPS_DROP_NOBUF,            /* output: frame_ops.alloc failed */
	TCPS_DROP__MAX
};

/* Returns a static name such as "bad_csum" (used in telemetry keys). */
const char *tcps_drop_name(enum tcps_drop r);

/* Counters of one interface instance; plain uint64_t, only the owning lcore
 * writes them, readers tolerate torn-free 64-bit loads. */
struct tcps_if_stats {
	uint64_t rx_pkts, rx_bytes;      /* every frame handed to tcps_if_input */
	uint64_t tx_pkts, tx_bytes;      /* every frame handed to frame_ops.send or replied */
	uint64_t drop[TCPS_DROP__MAX];   /* by reason */
	uint64_t arp_req_rx, arp_reply_tx, arp_req_tx, arp_reply_rx;
	uint64_t icmp_echo_rx, icmp6_echo_rx;
	uint64_t ns_rx, na_tx, ns_tx, na_rx;
	uint64_t l4_rx;                  /* frames passed up as TCPS_RX_L4 */
	uint64_t neigh_evicted;          /* cache entries dropped for room */
};

/* How outgoing frames are obtained. |io| is the caller's context. */
struct tcps_frame_ops {
	/* Returns a writable buffer of exactly |len| bytes for one frame and an
	 * opaque handle in *h, or NULL when out of buffers. */
	uint8_t *(*alloc)(void *io, uint16_t len, void **h);
	/* Queues the frame for transmission; |h| is transferred. */
	void (*send)(void *io, void *h);
	/* Releases a frame that will not be sent; |h| is transferred. */
	void (*free)(void *io, void *h);
	/* Optional (may be NULL): a frame from the wire resolved or confirmed
	 * the MAC of |ip| (both borrowed). The dataplane relays it to the
	 * other lcores' instances of the same port through
	 * tcps_if_neigh_learn(), which never calls this back. */
	void (*neigh_learned)(void *io, const struct mxg_ip *ip, const uint8_t *mac);
};

struct tcps_if_conf {
	uint8_t mac[TCPS_ETH_ALEN];
	uint16_t mtu;                  /* IP MTU, e.g. 1500 (0: 1500) */
	uint16_t vlan;                 /* 0: untagged; else only this VLAN id, tagged out */
	bool has_v4;
	struct mxg_prefix v4;          /* address/prefix, e.g. 198.18.0.1/24 */
	bool has_v4_gw;
	struct mxg_ip v4_gw;           /* default gateway (on-link) */
	bool has_v6;
	struct mxg_prefix v6;          /* global address/prefix */
	bool has_v6_gw;
	struct mxg_ip v6_gw;
	uint32_t neigh_max;            /* cache entries per family (0: 1024) */
	mxg_tstamp neigh_reachable;    /* entry lifetime (0: 30 s) */
	mxg_tstamp neigh_retrans;      /* resolution retry interval (0: 1 s) */
	uint8_t neigh_pending_max;     /* frames held per unresolved neighbor (0: 4) */
	uint16_t neigh_pending_total;  /* frames held over all neighbors (0: 256), so
	                                * a flood of unresolvable destinations cannot
	                                * pin the caller's whole buffer pool */
};

struct tcps_if;

/* Parsed view of a frame addressed to us and carrying an L4 protocol we do
 * not answer ourselves (TCP, UDP). Offsets are into the frame. */
struct tcps_pktinfo {
	uint16_t l3_off;      /* start of IP header */
	uint16_t l4_off;      /* start of L4 header */
	uint16_t l4_len;      /* L4 bytes (header + payload), padding excluded */
	uint8_t l4_proto;     /* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t hop_limit;    /* TTL / hop limit as received */
	uint16_t vlan;        /* VLAN id or 0 */
	struct mxg_ip src, dst;
	uint8_t src_mac[TCPS_ETH_ALEN];
};

enum tcps_rx_action {
	TCPS_RX_DROP,     /* counted under *drop; caller frees the frame */
	TCPS_RX_CONSUMED, /* fully handled (e.g. ARP reply learned); caller frees */
	TCPS_RX_REPLY,    /* frame rewritten in place into a reply of *reply_len
			   * bytes from offset 0; caller transmits the same buffer */
	TCPS_RX_L4,       /* for us, *pi filled; caller passes it to L4 */
};

/* Creates an interface. |conf| is copied; |ops| and |io| are borrowed for the
 * interface's life. Returns NULL on allocation failure or invalid conf. */
struct tcps_if *tcps_if_new(const struct tcps_if_conf *conf, const struct tcps_frame_ops *ops,
			    void *io, const struct mxg_mem *mem);
/* Frees the interface and every frame still queued on unresolved neighbors
 * (through ops->free). NULL is allowed. */
void tcps_if_free(struct tcps_if *ifc);

/* Announces the interface: gratuitous ARP and unsolicited NA (override
 * flag clear) through ops. Returns 0 or MXG_E_NOBUFS. */
int tcps_if_start(struct tcps_if *ifc, mxg_tstamp now);

/* Processes one received frame (|frame| borrowed and writable, |len| bytes).
 * Returns the action; *drop is set for TCPS_RX_DROP, *reply_len for
 * TCPS_RX_REPLY, *pi for TCPS_RX_L4. May send frames through ops (e.g.
 * frames that were waiting on the neighbor this frame resolved). */
enum tcps_rx_action tcps_if_input(struct tcps_if *ifc, uint8_t *frame, uint16_t len,
				  mxg_tstamp now, enum tcps_drop *drop, uint16_t *reply_len,
				  struct tcps_pktinfo *pi);

/* Builds and sends one IP packet: allocates a frame through ops, writes the
 * Ethernet (+VLAN) and IP headers for |src| -> |dst| with protocol |proto|,
 * lets |fill| write |l4_len| bytes of L4 header+payload at |l4| (the caller
 * computes the L4 checksum, see tcps_l4_csum), and sends it to the next hop,
 * or holds it while the next hop is resolved. |src| NULL means the
 * interface's own address of dst's family.
 * Returns 0 (sent or held), or MXG_E_RANGE (too big for the MTU),
 * MXG_E_NOENT (no route: counted TCPS_DROP_NO_ROUTE), MXG_E_NOBUFS,
 * MXG_E_AGAIN (pending queue full: counted TCPS_DROP_NO_NEIGH),
 * MXG_E_INVAL (|src| and |dst| of different families, or an unknown
 * family). IPv4 goes out with DF set, TTL 64 and a per-interface
 * identification counter; IPv6 with hop limit 64. Multicast, broadcast and
 * our own addresses are not routed (MXG_E_NOENT). */
int tcps_if_output(struct tcps_if *ifc, const struct mxg_ip *src, const struct mxg_ip *dst,
		   uint8_t proto, uint16_t l4_len,
		   void (*fill)(uint8_t *l4, uint16_t l4_len, const struct mxg_ip *src,
				const struct mxg_ip *dst, void *arg),
		   void *arg, mxg_tstamp now);

/* Learns |mac| for |ip| (e.g. a neighbor update relayed from another lcore).
 * Sends frames that were waiting for it. */
void tcps_if_neigh_learn(struct tcps_if *ifc, const struct mxg_ip *ip,
			 const uint8_t mac[TCPS_ETH_ALEN], mxg_tstamp now);
/* Looks up |ip|; returns true and its MAC if resolved and not expired. */
bool tcps_if_neigh_lookup(const struct tcps_if *ifc, const struct mxg_ip *ip, mxg_tstamp now,
			  uint8_t mac[TCPS_ETH_ALEN]);

/* Next time tcps_if_on_timer must run (resolution retries, aging), or
 * MXG_TS_NONE. */
mxg_tstamp tcps_if_deadline(const struct tcps_if *ifc);
/* Retries resolutions, expires entries and frames held too long. |now|
 * must not go backwards between calls (deadlines are kept in list order). */
void tcps_if_on_timer(struct tcps_if *ifc, mxg_tstamp now);

const struct tcps_if_stats *tcps_if_stats(const struct tcps_if *ifc);
const struct tcps_if_conf *tcps_if_conf(const struct tcps_if *ifc);

/* Internet checksum helpers for L4 (TCP/UDP/ICMPv6 pseudo-header included):
 * returns the checksum field value for |len| bytes at |l4| whose checksum
 * field is zero. The value is in host order: store it big-endian (e.g.
 * l4[16] = c >> 8; l4[17] = c & 0xff for TCP). For UDP a computed zero is
 * returned as 0xffff (RFC 768). */
uint16_t tcps_l4_csum(const struct mxg_ip *src, const struct mxg_ip *dst, uint8_t proto,
		      const uint8_t *l4, uint16_t len);

#endif
