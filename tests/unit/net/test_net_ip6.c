/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_net_ip6.c - tcpstack/tcps_net_ip6.c: IPv6 validation, extension
 * headers, ICMPv6 echo, NS -> NA (global, link-local, DAD), NA learning,
 * and every IPv6/NDP drop reason.
 */
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "net_test.h"

#define SOLNODE_OUR "ff02::1:ff00:1" /* both our addresses end in ...:0001 */
#define SOLNODE_MAC "33:33:ff:00:00:01"
#define ALLNODES_MAC "33:33:00:00:00:01"

static void build_echo6(struct pkt *p, const char *src, const char *dst, uint16_t id,
			uint16_t n)
{
	pk_eth(p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(p, src, dst, 58, 64);
	pk_echo(p, 128, id, 3, n);
	pk_fix(p);
}

static void check_echo6_reply(const uint8_t *f, uint16_t rlen, const char *us,
			      const char *peer, uint16_t icmp_len)
{
	const uint8_t *ip = f + 14;
	struct mxg_ip u = ip_of(us), pr = ip_of(peer);
	uint8_t m[6];

	assert_int_equal(rlen, 14 + 40 + icmp_len);
	mac_of(PEER_MAC, m);
	assert_memory_equal(f, m, 6);
	mac_of(OUR_MAC, m);
	assert_memory_equal(f + 6, m, 6);
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(be16(ip + 4), icmp_len);
	assert_int_equal(ip[7], 64);
	assert_memory_equal(ip + 8, u.a, 16);
	assert_memory_equal(ip + 24, pr.a, 16);
	assert_int_equal(ip[40], 129);
	assert_int_equal(ip[41], 0);
	check_icmp6(ip);
}

static void test_echo6_global_and_ll(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p, req;
	uint16_t rlen;
	unsigned id;

	(void)state;
	for (id = 0; id < 0x10000; id += 251) {
		build_echo6(&p, PEER_V6, OUR_V6, (uint16_t)id, (uint16_t)(id % 37));
		req = p;
		assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
		check_echo6_reply(p.b, rlen, OUR_V6, PEER_V6, (uint16_t)(8 + id % 37));
		assert_memory_equal(p.b + 14 + 44, req.b + 14 + 44, 4 + id % 37);
	}
	build_echo6(&p, PEER_LL6, OUR_LL6, 1, 100);
	pk_put(&p, 10); /* padding */
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo6_reply(p.b, rlen, OUR_LL6, PEER_LL6, 108);
	assert_true(tcps_if_stats(x->ifc)->icmp6_echo_rx > 2);
	assert_int_equal(x->io.nalloc, 0);
	fx_free(x);
}

/* Extension headers of the request are not echoed. */
static void test_echo6_exthdrs_stripped(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p, req;
	uint16_t rlen;
	uint8_t *rh;

	(void)state;
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 0, 64);
	pk_ext6(&p, 60, 0);
	pk_ext6(&p, 43, 1);
	rh = pk_ext6(&p, 58, 0);
	rh[2] = 4; /* segment routing, segments left 0 */
	rh[3] = 0;
	pk_echo(&p, 128, 5, 6, 20);
	pk_fix(&p);
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo6_reply(p.b, rlen, OUR_V6, PEER_V6, 28);
	assert_memory_equal(p.b + 14 + 44, req.b + req.len - 24, 24);
	fx_free(x);
}

static void test_ip6_tcp_to_l4(void **state)
{
	struct fx *x = fx_new(NULL);
	struct tcps_pktinfo pi;
	struct mxg_ip us = ip_of(OUR_V6), peer = ip_of(PEER_V6);
	struct pkt p;

	(void)state;
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 61);
	pk_ext6(&p, 6, 0);
	pk_put(&p, 20)[12] = 0x50;
	pk_fix(&p);
	pk_put(&p, 4); /* padding */
	assert_int_equal(rx(x, &p, NULL, NULL, &pi), TCPS_RX_L4);
	assert_int_equal(pi.l3_off, 14);
	assert_int_equal(pi.l4_off, 14 + 48);
	assert_int_equal(pi.l4_len, 20);
	assert_int_equal(pi.l4_proto, 6);
	assert_int_equal(pi.hop_limit, 61);
	assert_int_equal(pi.src.family, 6);
	assert_memory_equal(pi.src.a, peer.a, 16);
	assert_memory_equal(pi.dst.a, us.a, 16);

	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_LL6, OUR_LL6, 17, 1);
	pk_put(&p, 8);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, &pi), TCPS_RX_L4);
	assert_int_equal(pi.l4_proto, 17);
	assert_int_equal(pi.l4_len, 8);
	fx_free(x);
}

/* --- NDP --- */

static void build_ns(struct pkt *p, const char *dmac, const char *src, const char *dst,
		     const char *target, const char *slla)
{
	pk_eth(p, dmac, PEER_MAC, -1, 0x86dd);
	pk_ip6(p, src, dst, 58, 255);
	pk_nd(p, 135, 0, target, 1, slla);
	pk_fix(p);
}

static void check_na(const uint8_t *f, uint16_t l3, const char *dmac, const char *src,
		     const char *dst, const char *target, uint8_t flags)
{
	const uint8_t *ip = f + l3, *na = ip + 40;
	struct mxg_ip s = ip_of(src), d = ip_of(dst), t = ip_of(target);
	uint8_t m[6];

	mac_of(dmac, m);
	assert_memory_equal(f, m, 6);
	mac_of(OUR_MAC, m);
	assert_memory_equal(f + 6, m, 6);
	assert_int_equal(be16(f + l3 - 2), 0x86dd);
	assert_int_equal(ip[0], 0x60);
	assert_int_equal(be16(ip + 4), 32);
	assert_int_equal(ip[6], 58);
	assert_int_equal(ip[7], 255);
	assert_memory_equal(ip + 8, s.a, 16);
	assert_memory_equal(ip + 24, d.a, 16);
	assert_int_equal(na[0], 136);
	assert_int_equal(na[1], 0);
	assert_int_equal(na[4], flags);
	assert_int_equal(na[5] | na[6] | na[7], 0);
	assert_memory_equal(na + 8, t.a, 16);
	assert_int_equal(na[24], 2); /* target link-layer address */
	assert_int_equal(na[25], 1);
	assert_memory_equal(na + 26, m, 6);
	check_icmp6(ip);
}

static void test_ns_global_to_na(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct mxg_ip peer = ip_of(PEER_V6);
	struct pkt p;
	uint16_t rlen;
	uint8_t m[6], want[6];

	(void)state;
	/* SLLA differs from the Ethernet source: the NA goes to the SLLA */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, "02:00:00:00:00:22");
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	assert_int_equal(rlen, 14 + 72);
	check_na(p.b, 14, "02:00:00:00:00:22", OUR_V6, PEER_V6, OUR_V6, 0x60);
	assert_int_equal(st->ns_rx, 1);
	assert_int_equal(st->na_tx, 1);
	assert_int_equal(st->tx_pkts, 1);
	/* the solicitation's source was learned */
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	mac_of("02:00:00:00:00:22", want);
	assert_memory_equal(m, want, 6);
	fx_free(x);
}

static void test_ns_linklocal_to_na(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint16_t rlen;

	(void)state;
	build_ns(&p, SOLNODE_MAC, PEER_LL6, SOLNODE_OUR, OUR_LL6, PEER_MAC);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_na(p.b, 14, PEER_MAC, OUR_LL6, PEER_LL6, OUR_LL6, 0x60);

	/* unicast NUD probe to our MAC and address, without SLLA: the
	 * frame is too short for the NA, which goes out in a new frame to
	 * the Ethernet source */
	build_ns(&p, OUR_MAC, PEER_LL6, OUR_LL6, OUR_LL6, NULL);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 1);
	check_na(fake_sent(&x->io, 0)->buf, 14, PEER_MAC, OUR_LL6, PEER_LL6, OUR_LL6, 0x60);
	assert_int_equal(fake_sent(&x->io, 0)->len, 14 + 72);
	fx_free(x);
}

/* Duplicate address detection probe for our address: defended with an
 * NA to all-nodes, S clear, O set (RFC 4861 7.2.4). */
static void test_dad_ns(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint16_t rlen;
	uint8_t *ns;

	(void)state;
	build_ns(&p, SOLNODE_MAC, "::", SOLNODE_OUR, OUR_V6, NULL);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 1);
	check_na(fake_sent(&x->io, 0)->buf, 14, ALLNODES_MAC, OUR_V6, "ff02::1", OUR_V6, 0x20);

	/* with a nonce option (RFC 7527) the frame is long enough to answer
	 * in place */
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, "::", SOLNODE_OUR, 58, 255);
	pk_nd(&p, 135, 0, OUR_LL6, 0, NULL);
	ns = pk_put(&p, 8);
	ns[0] = 14;
	ns[1] = 1;
	ns[2] = 0x42;
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_na(p.b, 14, ALLNODES_MAC, OUR_LL6, "ff02::1", OUR_LL6, 0x20);
	assert_int_equal(rlen, 14 + 72);
	/* nothing learned from '::' */
	assert_int_equal(tcps_if_deadline(x->ifc), MXG_TS_NONE);

	/* short DAD NS but no frame to answer with: counted NOBUF */
	x->io.fail = true;
	build_ns(&p, SOLNODE_MAC, "::", SOLNODE_OUR, OUR_V6, NULL);
	expect_drop(x, &p, TCPS_DROP_NOBUF);
	fx_free(x);
}

static void test_ns_vlan_reply(void **state)
{
	struct tcps_if_conf c;
	struct fx *x;
	struct pkt p;
	uint16_t rlen;

	(void)state;
	conf_default(&c);
	c.vlan = 9;
	x = fx_new(&c);
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, 9, 0x86dd);
	pk_ip6(&p, PEER_V6, SOLNODE_OUR, 58, 255);
	pk_nd(&p, 135, 0, OUR_V6, 1, PEER_MAC);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	assert_int_equal(rlen, 18 + 72);
	assert_int_equal(be16(p.b + 14) & 0xfff, 9);
	check_na(p.b, 18, PEER_MAC, OUR_V6, PEER_V6, OUR_V6, 0x60);
	/* and the DAD path (new frame) is tagged too */
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, 9, 0x86dd);
	pk_ip6(&p, "::", SOLNODE_OUR, 58, 255);
	pk_nd(&p, 135, 0, OUR_V6, 1, NULL);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(be16(fake_sent(&x->io, 0)->buf + 12), 0x8100);
	check_na(fake_sent(&x->io, 0)->buf, 18, ALLNODES_MAC, OUR_V6, "ff02::1", OUR_V6, 0x20);
	fx_free(x);
}

static void test_na_unsolicited_not_learned(void **state)
{
	struct fx *x = fx_new(NULL);
	struct mxg_ip peer = ip_of(PEER_V6);
	struct pkt p;
	uint8_t m[6];

	(void)state;
	pk_eth(&p, ALLNODES_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, "ff02::1", 58, 255);
	pk_nd(&p, 136, 0x20, PEER_V6, 2, PEER_MAC);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	assert_int_equal(tcps_if_stats(x->ifc)->na_rx, 1);
	assert_false(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	fx_free(x);
}

/* --- drops --- */

static void test_drop_ip6_header(void **state)
{
	struct fx *x = fx_new(NULL);
	struct tcps_if_conf c;
	struct pkt p;

	(void)state;
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.len = 14 + 39;
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.b[14] = 0x40;
	expect_drop(x, &p, TCPS_DROP_BAD_VERSION);

	/* payload length lies: one byte more than the frame, and jumbo */
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.b[14 + 5]++;
	expect_drop(x, &p, TCPS_DROP_BAD_LEN);
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.b[14 + 4] = p.b[14 + 5] = 0xff;
	expect_drop(x, &p, TCPS_DROP_BAD_LEN);
	/* payload length shorter than the ICMPv6 message: checksum fails */
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.b[14 + 5] -= 2;
	expect_drop(x, &p, TCPS_DROP_BAD_CSUM);

	/* IPv6 through a broadcast MAC; IPv6 on an IPv4-only interface */
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	mac_of("ff:ff:ff:ff:ff:ff", p.b);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	conf_default(&c);
	c.has_v6 = c.has_v6_gw = false;
	c.mtu = 576;
	fx_free(x);
	x = fx_new(&c);
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);
}

static void test_drop_ip6_addresses(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;

	(void)state;
	build_echo6(&p, PEER_V6, "2001:db8::3", 1, 8);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	/* a group we are not in, through our MAC */
	build_echo6(&p, PEER_V6, "ff02::2", 1, 8);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	/* a solicited-node group that is not ours */
	build_ns(&p, SOLNODE_MAC, PEER_V6, "ff02::1:ff00:2", "2001:db8::2", PEER_MAC);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	/* our unicast address through a multicast MAC */
	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	mac_of(ALLNODES_MAC, p.b);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	/* echo to all-nodes is not answered */
	build_echo6(&p, PEER_V6, "ff02::1", 1, 8);
	mac_of(ALLNODES_MAC, p.b);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);

	build_echo6(&p, "ff02::1", OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_echo6(&p, OUR_V6, OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_echo6(&p, OUR_LL6, OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_echo6(&p, "::1", OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	/* '::' only for DAD solicitations */
	build_echo6(&p, "::", OUR_V6, 1, 8);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, "::", OUR_V6, 6, 64);
	pk_put(&p, 20);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	/* TCP to a group */
	pk_eth(&p, ALLNODES_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, "ff02::1", 6, 64);
	pk_put(&p, 20);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);
}

static void test_drop_ip6_exthdrs(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint8_t *e;
	unsigned i;

	(void)state;
	/* TCPS_MAX_EXTHDRS destination options are walked, one more is not */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	for (i = 0; i < TCPS_MAX_EXTHDRS; i++)
		pk_ext6(&p, i + 1 < TCPS_MAX_EXTHDRS ? 60 : 58, 0);
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_REPLY);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	for (i = 0; i < TCPS_MAX_EXTHDRS + 1; i++)
		pk_ext6(&p, i < TCPS_MAX_EXTHDRS ? 60 : 58, 0);
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);

	/* header cut short: fewer than 8 bytes, and a length past the end */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	pk_put(&p, 4)[0] = 58;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	e = pk_ext6(&p, 58, 0);
	e[1] = 200;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);

	/* jumbo: payload length 0 with a hop-by-hop header */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 0, 64);
	e = pk_ext6(&p, 58, 0);
	e[2] = 0xc2; /* jumbo payload option */
	e[3] = 4;
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	p.b[14 + 4] = p.b[14 + 5] = 0;
	expect_drop(x, &p, TCPS_DROP_EXTHDR);
	/* the same option with a consistent length: discard-if-unknown */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 0, 64);
	e = pk_ext6(&p, 58, 0);
	e[2] = 0xc2;
	e[3] = 4;
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);
	/* an option running past its header */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	e = pk_ext6(&p, 58, 0);
	e[3] = 5;
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);
	/* hop-by-hop after another header */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	pk_ext6(&p, 0, 0);
	pk_ext6(&p, 58, 0);
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);
	/* routing header with segments left */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 43, 64);
	e = pk_ext6(&p, 58, 2);
	e[2] = 0;
	e[3] = 1;
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_EXTHDR);

	/* fragment header */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 60, 64);
	pk_ext6(&p, 44, 0);
	pk_put(&p, 8)[0] = 58;
	pk_echo(&p, 128, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_FRAGMENT);

	/* no next header, ESP */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 59, 64);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_PROTO_UNHANDLED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 50, 64);
	pk_put(&p, 16);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_PROTO_UNHANDLED);
	/* TCP and UDP shorter than their headers */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 6, 64);
	pk_put(&p, 19);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 17, 64);
	pk_put(&p, 7);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	fx_free(x);
}

static void test_drop_icmp6(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint8_t *m;

	(void)state;
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 64);
	pk_put(&p, 3)[0] = 128;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	/* echo shorter than 8 bytes, valid checksum */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 64);
	pk_put(&p, 6)[0] = 128;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo6(&p, PEER_V6, OUR_V6, 1, 8);
	p.b[p.len - 3] ^= 1;
	expect_drop(x, &p, TCPS_DROP_BAD_CSUM);

	/* router advertisement, echo reply, packet too big */
	pk_eth(&p, ALLNODES_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_LL6, "ff02::1", 58, 255);
	m = pk_put(&p, 16);
	m[0] = 134;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 64);
	pk_echo(&p, 129, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 64);
	pk_put(&p, 48)[0] = 2;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);
	fx_free(x);
}

static void test_drop_ndp(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint8_t *m;

	(void)state;
	/* hop limit != 255: could come from off-link */
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, SOLNODE_OUR, 58, 254);
	pk_nd(&p, 135, 0, OUR_V6, 1, PEER_MAC);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* code != 0 */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, PEER_MAC);
	p.b[14 + 41] = 1;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* shorter than 24 bytes */
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, SOLNODE_OUR, 58, 255);
	pk_put(&p, 20)[0] = 135;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* option of length 0 */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, PEER_MAC);
	p.b[14 + 40 + 25] = 0;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* option running past the message */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, PEER_MAC);
	p.b[14 + 40 + 25] = 2;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* a lone trailing byte after the options */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, PEER_MAC);
	pk_put(&p, 1);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* SLLA of 16 bytes */
	pk_eth(&p, SOLNODE_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, SOLNODE_OUR, 58, 255);
	m = pk_nd(&p, 135, 0, OUR_V6, 0, NULL);
	m = pk_put(&p, 16);
	m[0] = 1;
	m[1] = 2;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* multicast SLLA */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, OUR_V6, "33:33:00:00:00:01");
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* multicast target */
	build_ns(&p, OUR_MAC, PEER_V6, OUR_V6, "ff02::1", PEER_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* DAD with a source link-layer option, DAD to a unicast address */
	build_ns(&p, SOLNODE_MAC, "::", SOLNODE_OUR, OUR_V6, PEER_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	build_ns(&p, OUR_MAC, "::", OUR_V6, OUR_V6, NULL);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	/* NS for an address that is not ours (shares our low 24 bits) */
	build_ns(&p, SOLNODE_MAC, PEER_V6, SOLNODE_OUR, "2001:db8::9:0:1", PEER_MAC);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);

	/* NA: solicited flag on a multicast NA, our own address, hop limit */
	pk_eth(&p, ALLNODES_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, "ff02::1", 58, 255);
	pk_nd(&p, 136, 0x60, PEER_V6, 2, PEER_MAC);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	pk_eth(&p, ALLNODES_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, "ff02::1", 58, 255);
	pk_nd(&p, 136, 0x20, OUR_V6, 2, PEER_MAC);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 64);
	pk_nd(&p, 136, 0x60, PEER_V6, 2, PEER_MAC);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x60, PEER_V6, 2, PEER_MAC);
	p.b[14 + 40 + 25] = 0;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_BAD_NDP);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo6_global_and_ll),
		cmocka_unit_test(test_echo6_exthdrs_stripped),
		cmocka_unit_test(test_ip6_tcp_to_l4),
		cmocka_unit_test(test_ns_global_to_na),
		cmocka_unit_test(test_ns_linklocal_to_na),
		cmocka_unit_test(test_dad_ns),
		cmocka_unit_test(test_ns_vlan_reply),
		cmocka_unit_test(test_na_unsolicited_not_learned),
		cmocka_unit_test(test_drop_ip6_header),
		cmocka_unit_test(test_drop_ip6_addresses),
		cmocka_unit_test(test_drop_ip6_exthdrs),
		cmocka_unit_test(test_drop_icmp6),
		cmocka_unit_test(test_drop_ndp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
