/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net_test.h - helpers shared by the tcps_net unit tests: a fake
 * frame_ops that records every frame, an allocator that fails on demand,
 * frame builders (addresses as text, checksums computed by an independent
 * byte-wise RFC 1071 sum) and checkers.
 */
#ifndef NET_TEST_H
#define NET_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mxg_addr.h"
#include "mxg_mem.h"
#include "tcps_net.h"

#define OUR_MAC "02:00:00:00:00:01"
#define PEER_MAC "02:00:00:00:00:02"
#define GW_MAC "02:00:00:00:00:fe"
#define OUR_V4 "198.18.0.1"
#define PEER_V4 "198.18.0.2"
#define GW_V4 "198.18.0.254"
#define OUR_V6 "2001:db8::1"
#define PEER_V6 "2001:db8::2"
#define GW_V6 "fe80::fe"
/* Modified EUI-64 of OUR_MAC (RFC 4291 A). */
#define OUR_LL6 "fe80::ff:fe00:1"
#define PEER_LL6 "fe80::ff:fe00:2"

#define MS 1000000ULL
#define SEC 1000000000ULL

#define FAKE_MAX 256
#define PKT_MAX 2048

enum fake_state { FR_UNUSED, FR_ALLOCATED, FR_SENT, FR_FREED };

struct fake_frame {
	uint8_t buf[PKT_MAX];
	uint16_t len;
	enum fake_state state;
};

/* frame_ops backend: frames are slots of fr[], sent ones listed in order. */
struct fake_io {
	struct fake_frame fr[FAKE_MAX];
	unsigned nalloc;           /* slots handed out */
	unsigned sent[FAKE_MAX];   /* slot of the k-th sent frame */
	unsigned nsent;
	unsigned nfreed;
	bool fail;                 /* alloc returns NULL */
};

extern const struct tcps_frame_ops fake_ops;

/* The k-th frame sent through ops (asserts it exists). */
struct fake_frame *fake_sent(struct fake_io *io, unsigned k);
/* Asserts every allocated frame was sent or freed exactly once. */
void fake_check_balanced(const struct fake_io *io);

/* An allocator failing the |fail_at|-th call (1-based; 0 never). */
struct fail_mem {
	struct mxg_mem mem;
	unsigned calls;
	unsigned fail_at;
	long live;                 /* allocations not yet freed */
};
void fail_mem_init(struct fail_mem *fm, unsigned fail_at);

/* Interface under test plus its fake I/O. */
struct fx {
	struct fake_io io;
	struct tcps_if_conf conf;
	struct tcps_if *ifc;
	mxg_tstamp now;
};

/* Default conf: OUR_MAC, OUR_V4/24 via GW_V4, OUR_V6/64 via GW_V6, mtu 1500. */
void conf_default(struct tcps_if_conf *c);
/* Allocates a struct fx with |c| (NULL: conf_default) and creates the
 * interface; asserts success. */
struct fx *fx_new(const struct tcps_if_conf *c);
/* Frees the interface, checks frame balance, frees the fixture. */
void fx_free(struct fx *x);

struct mxg_ip ip_of(const char *s);
void mac_of(const char *s, uint8_t mac[6]);

/* --- builders --- */
struct pkt {
	uint8_t b[PKT_MAX];
	uint16_t len;
	uint16_t l3;               /* set by pk_eth */
};

/* Starts a frame: Ethernet header (|vlan| < 0: untagged) for |type|. */
void pk_eth(struct pkt *p, const char *dst, const char *src, int vlan, uint16_t type);
/* Appends |n| zero bytes and returns them. */
uint8_t *pk_put(struct pkt *p, uint16_t n);
/* IPv4 header with |optlen| bytes of NOP options (multiple of 4); total
 * length and checksum are set by pk_fix. */
uint8_t *pk_ip4(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		unsigned optlen);
/* IPv6 header; payload length is set by pk_fix. */
uint8_t *pk_ip6(struct pkt *p, const char *src, const char *dst, uint8_t nh, uint8_t hlim);
/* An extension header of (|len8| + 1) * 8 bytes with next header |nh|
 * (options area filled with PadN). */
uint8_t *pk_ext6(struct pkt *p, uint8_t nh, uint8_t len8);
/* ICMP/ICMPv6 echo request with |n| payload bytes. */
uint8_t *pk_echo(struct pkt *p, uint8_t type, uint16_t id, uint16_t seq, uint16_t n);
/* ARP packet. */
void pk_arp(struct pkt *p, uint16_t op, const char *sha, const char *spa, const char *tha,
	    const char *tpa);
/* NS/NA (|type| 135/136) for |target| with an optional link-layer option
 * (|opt_type| 1/2, |lla| NULL: none). |flags| is the NA flags byte. */
uint8_t *pk_nd(struct pkt *p, uint8_t type, uint8_t flags, const char *target,
	       uint8_t opt_type, const char *lla);
/* Sets IP length fields to the bytes after the IP header and recomputes
 * the IPv4 header checksum and the ICMP/ICMPv6 checksum. */
void pk_fix(struct pkt *p);

/* Independent byte-wise RFC 1071 sum (folded, not complemented). */
uint16_t ref_sum(const uint8_t *p, size_t n, uint32_t init);
/* Asserts the IPv4 header at |ip| has a valid checksum and, for ICMP,
 * the ICMP checksum is valid. */
void check_ip4(const uint8_t *ip);
/* Asserts the ICMPv6 checksum of the packet at |ip| (no ext headers). */
void check_icmp6(const uint8_t *ip);

/* Runs tcps_if_input on |p| and returns the action. */
enum tcps_rx_action rx(struct fx *x, struct pkt *p, enum tcps_drop *drop, uint16_t *rlen,
		       struct tcps_pktinfo *pi);
/* Asserts |p| is dropped for |why|, counted once. */
void expect_drop(struct fx *x, struct pkt *p, enum tcps_drop why);

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
