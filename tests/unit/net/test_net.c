/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_net.c - tcpstack/tcps_net.c: lifecycle, Ethernet/802.1Q, IPv4, ICMP
 * echo, L4 hand-off, checksums, and every L2/IPv4 drop reason.
 */
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "net_test.h"

/* --- lifecycle --- */

static void test_new_rejects_bad_conf(void **state)
{
	struct tcps_if_conf c;
	struct fake_io *io = calloc(1, sizeof(*io));
	struct tcps_frame_ops noops = { 0 };

	(void)state;
	conf_default(&c);
	assert_null(tcps_if_new(NULL, &fake_ops, io, NULL));
	assert_null(tcps_if_new(&c, NULL, io, NULL));
	assert_null(tcps_if_new(&c, &noops, io, NULL));

	conf_default(&c);
	mac_of("01:00:5e:00:00:01", c.mac);
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	memset(c.mac, 0, 6);
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.mtu = 60;
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.mtu = 1200; /* IPv6 needs 1280 */
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.vlan = 4095;
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.v4 = (struct mxg_prefix){ .ip = ip_of("2001:db8::5"), .len = 64 };
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.v4_gw = ip_of("10.0.0.1"); /* gateway off-link */
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	c.v6_gw = ip_of("2001:db9::1");
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	conf_default(&c);
	assert_int_equal(mxg_prefix_parse("224.0.0.1/24", &c.v4), 0);
	assert_null(tcps_if_new(&c, &fake_ops, io, NULL));
	assert_int_equal(io->nalloc, 0);
	free(io);
}

static void test_new_defaults(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_conf *c = tcps_if_conf(x->ifc);
	struct tcps_if_conf cf;

	(void)state;
	assert_int_equal(c->neigh_max, 1024);
	assert_int_equal(c->neigh_pending_max, 4);
	assert_int_equal(c->neigh_reachable, 30 * SEC);
	assert_int_equal(c->neigh_retrans, 1 * SEC);
	assert_int_equal(c->mtu, 1500);
	assert_int_equal(tcps_if_deadline(x->ifc), MXG_TS_NONE);
	tcps_if_free(NULL);
	fx_free(x);

	/* mtu 0 means 1500 */
	conf_default(&cf);
	cf.mtu = 0;
	x = fx_new(&cf);
	assert_int_equal(tcps_if_conf(x->ifc)->mtu, 1500);
	fx_free(x);
}

/* Fails the n-th allocation for every n until tcps_if_new succeeds: each
 * failure must return NULL and leak nothing. */
static void test_new_alloc_failure(void **state)
{
	struct tcps_if_conf c;
	struct fake_io *io = calloc(1, sizeof(*io));
	struct fail_mem fm;
	struct tcps_if *ifc;
	unsigned n;

	(void)state;
	conf_default(&c);
	for (n = 1;; n++) {
		fail_mem_init(&fm, n);
		ifc = tcps_if_new(&c, &fake_ops, io, &fm.mem);
		if (ifc)
			break;
		assert_int_equal(fm.live, 0);
		assert_true(n < 100);
	}
	assert_true(n > 1);
	tcps_if_free(ifc);
	assert_int_equal(fm.live, 0);
	free(io);
}

static void test_drop_names(void **state)
{
	unsigned i, j;

	(void)state;
	for (i = 0; i < TCPS_DROP__MAX; i++) {
		assert_string_not_equal(tcps_drop_name(i), "unknown");
		for (j = 0; j < i; j++)
			assert_string_not_equal(tcps_drop_name(i), tcps_drop_name(j));
	}
	assert_string_equal(tcps_drop_name(TCPS_DROP_BAD_CSUM), "bad_csum");
	assert_string_equal(tcps_drop_name(TCPS_DROP__MAX), "unknown");
}

/* --- ICMP echo --- */

static void build_echo4(struct pkt *p, int vlan, uint16_t id, uint16_t n)
{
	pk_eth(p, OUR_MAC, PEER_MAC, vlan, 0x0800);
	pk_ip4(p, PEER_V4, OUR_V4, 1, 0);
	pk_echo(p, 8, id, 1, n);
	pk_fix(p);
}

static void check_echo4_reply(const struct pkt *req, const uint8_t *f, uint16_t l3,
			      uint16_t rlen, uint16_t icmp_len)
{
	const uint8_t *ip = f + l3;
	struct mxg_ip us = ip_of(OUR_V4), peer = ip_of(PEER_V4);
	uint8_t m[6];

	assert_int_equal(rlen, l3 + 20 + icmp_len);
	mac_of(PEER_MAC, m);
	assert_memory_equal(f, m, 6);
	mac_of(OUR_MAC, m);
	assert_memory_equal(f + 6, m, 6);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(be16(ip + 2), 20 + icmp_len);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], 1);
	assert_memory_equal(ip + 12, us.a, 4);
	assert_memory_equal(ip + 16, peer.a, 4);
	check_ip4(ip);
	assert_int_equal(ip[20], 0);
	assert_int_equal(ip[21], 0);
	/* identifier, sequence and data echoed unchanged */
	assert_memory_equal(ip + 24, req->b + req->len - (icmp_len - 4), icmp_len - 4);
}

static void test_icmp4_echo_reply(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct pkt p, req;
	uint16_t rlen = 0;

	(void)state;
	build_echo4(&p, -1, 0x1234, 56);
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 14, rlen, 64);
	assert_int_equal(st->icmp_echo_rx, 1);
	assert_int_equal(st->tx_pkts, 1);
	assert_int_equal(st->tx_bytes, rlen);
	assert_int_equal(st->rx_pkts, 1);
	assert_int_equal(st->rx_bytes, req.len);
	assert_int_equal(x->io.nalloc, 0); /* in place: no frame allocated */
	fx_free(x);
}

/* Many identifiers and odd lengths: exercises every corner of the
 * incremental checksum update, each reply verified by a full recompute. */
static void test_icmp4_echo_csum_sweep(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p, req;
	uint16_t rlen, n;
	unsigned id;

	(void)state;
	for (id = 0; id < 0x10000; id += 97) {
		n = (uint16_t)(id % 41);
		build_echo4(&p, -1, (uint16_t)id, n);
		req = p;
		assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
		check_echo4_reply(&req, p.b, 14, rlen, (uint16_t)(8 + n));
	}
	/* checksum field 0x0000 vs 0xffff edge: search an id making it 0xffff */
	for (id = 0; id < 0x10000; id++) {
		build_echo4(&p, -1, (uint16_t)id, 0);
		if (be16(p.b + 14 + 20 + 2) == 0xffff || be16(p.b + 14 + 20 + 2) == 0)
			break;
	}
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 14, rlen, 8);
	/* all-zero reply: only 0xffff is a valid checksum (fuzz_net finding) */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 1, 0);
	pk_echo(&p, 8, 0, 0, 0);
	pk_put(&p, 22);
	pk_fix(&p);
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 14, rlen, 30);
	assert_int_equal(be16(p.b + 14 + 20 + 2), 0xffff);
	fx_free(x);
}

static void test_icmp4_echo_padding_and_options(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p, req;
	uint16_t rlen;

	(void)state;
	/* 8-byte echo: 42-byte frame, padded to 60 by the sender's NIC */
	build_echo4(&p, -1, 7, 0);
	pk_put(&p, 18);
	req = p;
	req.len -= 18;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 14, rlen, 8);

	/* IP options are not echoed: payload moves up */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 1, 8);
	pk_echo(&p, 8, 9, 2, 20);
	pk_fix(&p);
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 14, rlen, 28);
	fx_free(x);
}

static void test_icmp4_echo_vlan(void **state)
{
	struct tcps_if_conf c;
	struct fx *x;
	struct pkt p, req;
	uint16_t rlen;

	(void)state;
	conf_default(&c);
	c.vlan = 100;
	x = fx_new(&c);
	build_echo4(&p, 100, 1, 10);
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 18, rlen, 18);
	assert_int_equal(be16(p.b + 12), 0x8100);
	assert_int_equal(be16(p.b + 14) & 0xfff, 100);
	fx_free(x);
}

/* A priority tag (VID 0) is an untagged frame. */
static void test_priority_tag_accepted(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p, req;
	uint16_t rlen;

	(void)state;
	build_echo4(&p, 0, 1, 10);
	p.b[14] = 0xa0; /* PCP 5, VID 0 */
	req = p;
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_echo4_reply(&req, p.b, 18, rlen, 18);
	fx_free(x);
}

/* --- L4 hand-off --- */

static void test_ip4_tcp_to_l4(void **state)
{
	struct fx *x = fx_new(NULL);
	struct tcps_pktinfo pi;
	struct pkt p;
	struct mxg_ip us = ip_of(OUR_V4), peer = ip_of(PEER_V4);
	uint8_t m[6], *tcp;

	(void)state;
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 6, 4);
	tcp = pk_put(&p, 20);
	tcp[12] = 0x50;
	pk_fix(&p);
	p.b[14 + 8] = 57; /* TTL as received */
	pk_fix(&p);
	pk_put(&p, 6); /* Ethernet padding to 64 bytes */
	memset(&pi, 0xee, sizeof(pi));
	assert_int_equal(rx(x, &p, NULL, NULL, &pi), TCPS_RX_L4);
	assert_int_equal(pi.l3_off, 14);
	assert_int_equal(pi.l4_off, 14 + 24);
	assert_int_equal(pi.l4_len, 20);
	assert_int_equal(pi.l4_proto, 6);
	assert_int_equal(pi.hop_limit, 57);
	assert_int_equal(pi.vlan, 0);
	assert_int_equal(pi.src.family, 4);
	assert_memory_equal(pi.src.a, peer.a, 16);
	assert_int_equal(pi.dst.family, 4);
	assert_memory_equal(pi.dst.a, us.a, 16);
	mac_of(PEER_MAC, m);
	assert_memory_equal(pi.src_mac, m, 6);
	assert_int_equal(tcps_if_stats(x->ifc)->l4_rx, 1);
	fx_free(x);
}

static void test_ip4_udp_to_l4_vlan(void **state)
{
	struct tcps_if_conf c;
	struct tcps_pktinfo pi;
	struct fx *x;
	struct pkt p;

	(void)state;
	conf_default(&c);
	c.vlan = 7;
	x = fx_new(&c);
	pk_eth(&p, OUR_MAC, PEER_MAC, 7, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 17, 0);
	pk_put(&p, 8 + 5);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, &pi), TCPS_RX_L4);
	assert_int_equal(pi.l3_off, 18);
	assert_int_equal(pi.l4_off, 38);
	assert_int_equal(pi.l4_len, 13);
	assert_int_equal(pi.l4_proto, 17);
	assert_int_equal(pi.vlan, 7);
	fx_free(x);
}

/* --- Ethernet drops --- */

static void test_drop_l2(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;

	(void)state;
	build_echo4(&p, -1, 1, 8);
	p.len = 13;
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo4(&p, -1, 1, 8);
	p.len = 0;
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	pk_eth(&p, OUR_MAC, PEER_MAC, 5, 0x0800);
	p.len = 17; /* tag cut short */
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	pk_eth(&p, "02:00:00:00:00:99", PEER_MAC, -1, 0x0800);
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);

	pk_eth(&p, "33:33:00:00:00:02", PEER_MAC, -1, 0x86dd); /* all-routers */
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);

	pk_eth(&p, "01:00:5e:00:00:01", PEER_MAC, -1, 0x0800);
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);

	pk_eth(&p, OUR_MAC, "03:00:00:00:00:02", -1, 0x0800); /* group source */
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);

	pk_eth(&p, OUR_MAC, OUR_MAC, -1, 0x0800); /* our own frame looped */
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);

	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x88cc); /* LLDP */
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_UNKNOWN_ETHERTYPE);

	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0026); /* 802.3 length field */
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_UNKNOWN_ETHERTYPE);
	fx_free(x);
}

static void test_drop_vlan(void **state)
{
	struct tcps_if_conf c;
	struct fx *x = fx_new(NULL), *y;
	struct pkt p;

	(void)state;
	/* VLAN in VLAN */
	pk_eth(&p, OUR_MAC, PEER_MAC, 5, 0x8100);
	pk_put(&p, 2)[1] = 5;
	pk_put(&p, 2)[0] = 0x08;
	pk_put(&p, 40);
	expect_drop(x, &p, TCPS_DROP_VLAN);
	/* 802.1ad outer tag */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x88a8);
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_VLAN);
	/* 802.1ad inner type under a C-tag */
	pk_eth(&p, OUR_MAC, PEER_MAC, 5, 0x88a8);
	pk_put(&p, 46);
	expect_drop(x, &p, TCPS_DROP_VLAN);
	/* tagged while we are untagged */
	build_echo4(&p, 5, 1, 8);
	expect_drop(x, &p, TCPS_DROP_VLAN);
	fx_free(x);

	conf_default(&c);
	c.vlan = 100;
	y = fx_new(&c);
	build_echo4(&p, 101, 1, 8); /* wrong VLAN */
	expect_drop(y, &p, TCPS_DROP_VLAN);
	build_echo4(&p, -1, 1, 8); /* untagged on a tagged interface */
	expect_drop(y, &p, TCPS_DROP_VLAN);
	build_echo4(&p, 0, 1, 8); /* priority-tagged on a tagged interface */
	expect_drop(y, &p, TCPS_DROP_VLAN);
	fx_free(y);
}

/* --- IPv4 drops --- */

static void test_drop_ip4_header(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint8_t *ip;

	(void)state;
	build_echo4(&p, -1, 1, 8);
	p.len = 14 + 19;
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo4(&p, -1, 1, 8);
	p.b[14] = 0x65; /* version 6 under ethertype IPv4 */
	expect_drop(x, &p, TCPS_DROP_BAD_VERSION);

	build_echo4(&p, -1, 1, 8);
	p.b[14] = 0x44; /* IHL 4 */
	expect_drop(x, &p, TCPS_DROP_BAD_IHL);

	build_echo4(&p, -1, 1, 8);
	p.b[14] = 0x40; /* IHL 0 */
	expect_drop(x, &p, TCPS_DROP_BAD_IHL);

	build_echo4(&p, -1, 1, 8);
	p.b[14] = 0x4f; /* 60-byte header in a 36-byte packet */
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo4(&p, -1, 1, 8);
	p.b[14 + 10] ^= 0x01;
	expect_drop(x, &p, TCPS_DROP_BAD_CSUM);

	/* total length larger than the frame, by one and by a lot */
	build_echo4(&p, -1, 1, 8);
	ip = p.b + 14;
	ip[3]++;
	ip[10] = ip[11] = 0;
	ip[10] = (uint8_t)(~ref_sum(ip, 20, 0) >> 8);
	ip[11] = (uint8_t)~ref_sum(ip, 20, 0);
	expect_drop(x, &p, TCPS_DROP_BAD_LEN);

	build_echo4(&p, -1, 1, 8);
	ip = p.b + 14;
	ip[2] = ip[3] = 0xff; /* jumbo length field */
	ip[10] = ip[11] = 0;
	ip[10] = (uint8_t)(~ref_sum(ip, 20, 0) >> 8);
	ip[11] = (uint8_t)~ref_sum(ip, 20, 0);
	expect_drop(x, &p, TCPS_DROP_BAD_LEN);

	/* total length smaller than the header */
	build_echo4(&p, -1, 1, 8);
	ip = p.b + 14;
	ip[2] = 0;
	ip[3] = 19;
	ip[10] = ip[11] = 0;
	ip[10] = (uint8_t)(~ref_sum(ip, 20, 0) >> 8);
	ip[11] = (uint8_t)~ref_sum(ip, 20, 0);
	expect_drop(x, &p, TCPS_DROP_BAD_LEN);

	/* fragments: MF set, and a non-zero offset */
	build_echo4(&p, -1, 1, 8);
	p.b[14 + 6] = 0x20;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_FRAGMENT);
	build_echo4(&p, -1, 1, 8);
	p.b[14 + 6] = 0x40;
	p.b[14 + 7] = 0x01;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_FRAGMENT);
	fx_free(x);
}

static void expect_ip4_addr_drop(struct fx *x, const char *src, const char *dst,
				 enum tcps_drop why)
{
	struct pkt p;

	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, src, dst, 1, 0);
	pk_echo(&p, 8, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, why);
}

static void test_drop_ip4_addresses(void **state)
{
	struct fx *x = fx_new(NULL);
	struct tcps_if_conf c;
	struct pkt p;

	(void)state;
	expect_ip4_addr_drop(x, PEER_V4, "198.18.0.3", TCPS_DROP_NOT_FOR_US);
	expect_ip4_addr_drop(x, PEER_V4, "198.18.0.255", TCPS_DROP_NOT_FOR_US);
	expect_ip4_addr_drop(x, PEER_V4, "255.255.255.255", TCPS_DROP_NOT_FOR_US);
	expect_ip4_addr_drop(x, "224.0.0.5", OUR_V4, TCPS_DROP_BAD_SRC);
	expect_ip4_addr_drop(x, "255.255.255.255", OUR_V4, TCPS_DROP_BAD_SRC);
	expect_ip4_addr_drop(x, "198.18.0.255", OUR_V4, TCPS_DROP_BAD_SRC);
	expect_ip4_addr_drop(x, "0.0.0.0", OUR_V4, TCPS_DROP_BAD_SRC);
	expect_ip4_addr_drop(x, OUR_V4, OUR_V4, TCPS_DROP_BAD_SRC);
	expect_ip4_addr_drop(x, "127.0.0.1", OUR_V4, TCPS_DROP_BAD_SRC);
	/* off-link sources through the gateway are fine */
	build_echo4(&p, -1, 1, 8);
	memcpy(p.b + 14 + 12, ip_of("203.0.113.9").a, 4);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_REPLY);
	/* IPv4 through a broadcast MAC (RFC 1122 3.3.6) */
	build_echo4(&p, -1, 1, 8);
	mac_of("ff:ff:ff:ff:ff:ff", p.b);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);

	/* no IPv4 configured */
	conf_default(&c);
	c.has_v4 = c.has_v4_gw = false;
	x = fx_new(&c);
	build_echo4(&p, -1, 1, 8);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);
}

static void test_drop_ip4_payload(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint8_t *m;

	(void)state;
	/* ICMP shorter than its 8-byte header */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 1, 0);
	pk_put(&p, 7)[0] = 8;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);

	build_echo4(&p, -1, 1, 8);
	p.b[p.len - 1] ^= 0x40;
	expect_drop(x, &p, TCPS_DROP_BAD_CSUM);

	/* echo reply, destination unreachable: not ours to handle */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 1, 0);
	pk_echo(&p, 0, 1, 1, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 1, 0);
	m = pk_put(&p, 36);
	m[0] = 3;
	m[1] = 4;
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_ICMP_UNHANDLED);

	/* GRE */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 47, 0);
	pk_put(&p, 8);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_PROTO_UNHANDLED);

	/* TCP and UDP shorter than their headers */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 6, 0);
	pk_put(&p, 19);
	pk_fix(&p);
	pk_put(&p, 7); /* padding must not count */
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0800);
	pk_ip4(&p, PEER_V4, OUR_V4, 17, 0);
	pk_put(&p, 7);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	fx_free(x);
}

/* --- checksums --- */

static uint16_t ref_l4(const struct mxg_ip *s, const struct mxg_ip *d, uint8_t proto,
		       const uint8_t *l4, uint16_t len)
{
	unsigned alen = s->family == 4 ? 4 : 16;
	uint32_t sum = ref_sum(s->a, alen, 0);

	sum = ref_sum(d->a, alen, sum);
	sum += proto;
	sum += len;
	return ref_sum(l4, len, sum);
}

static void test_l4_csum(void **state)
{
	struct mxg_ip s4 = ip_of(PEER_V4), d4 = ip_of(OUR_V4);
	struct mxg_ip s6 = ip_of(PEER_V6), d6 = ip_of(OUR_V6);
	uint8_t seg[1501];
	uint16_t len, c;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(seg); i++)
		seg[i] = (uint8_t)(i * 31 + 7);
	for (len = 20; len <= 1501; len = (uint16_t)(len * 3 / 2 + 1)) {
		seg[16] = seg[17] = 0;
		c = tcps_l4_csum(&s4, &d4, 6, seg, len);
		seg[16] = (uint8_t)(c >> 8);
		seg[17] = (uint8_t)c;
		assert_int_equal(ref_l4(&s4, &d4, 6, seg, len), 0xffff);
		seg[16] = seg[17] = 0;
		c = tcps_l4_csum(&s6, &d6, 6, seg, len);
		seg[16] = (uint8_t)(c >> 8);
		seg[17] = (uint8_t)c;
		assert_int_equal(ref_l4(&s6, &d6, 6, seg, len), 0xffff);
	}
	/* UDP: a computed zero goes out as 0xffff (RFC 768) */
	memset(seg, 0, 8);
	for (i = 0; i < 0x10000; i++) {
		seg[8] = (uint8_t)(i >> 8);
		seg[9] = (uint8_t)i;
		seg[6] = seg[7] = 0;
		if (ref_l4(&s4, &d4, 17, seg, 10) == 0xffff)
			break;
	}
	assert_true(i < 0x10000);
	assert_int_equal(tcps_l4_csum(&s4, &d4, 17, seg, 10), 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_conf),
		cmocka_unit_test(test_new_defaults),
		cmocka_unit_test(test_new_alloc_failure),
		cmocka_unit_test(test_drop_names),
		cmocka_unit_test(test_icmp4_echo_reply),
		cmocka_unit_test(test_icmp4_echo_csum_sweep),
		cmocka_unit_test(test_icmp4_echo_padding_and_options),
		cmocka_unit_test(test_icmp4_echo_vlan),
		cmocka_unit_test(test_priority_tag_accepted),
		cmocka_unit_test(test_ip4_tcp_to_l4),
		cmocka_unit_test(test_ip4_udp_to_l4_vlan),
		cmocka_unit_test(test_drop_l2),
		cmocka_unit_test(test_drop_vlan),
		cmocka_unit_test(test_drop_ip4_header),
		cmocka_unit_test(test_drop_ip4_addresses),
		cmocka_unit_test(test_drop_ip4_payload),
		cmocka_unit_test(test_l4_csum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
