/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_net_neigh.c - tcpstack/tcps_net_neigh.c: ARP, announcements at
 * start, the neighbor cache (learning, aging, eviction, refresh), output
 * (routing, VLAN tagging, headers), resolution with held frames, retries
 * and give-up driven by an advancing clock, buffer exhaustion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "net_test.h"

#define BCAST "ff:ff:ff:ff:ff:ff"
#define ZERO_MAC "00:00:00:00:00:00"

/* fill callback: a recognisable pattern, and what it was told */
struct fill_arg {
	unsigned calls;
	struct mxg_ip src, dst;
	uint8_t tag;
};

static void fill(uint8_t *l4, uint16_t len, const struct mxg_ip *src, const struct mxg_ip *dst,
		 void *arg)
{
	struct fill_arg *a = arg;
	uint16_t i;

	a->calls++;
	a->src = *src;
	a->dst = *dst;
	for (i = 0; i < len; i++)
		l4[i] = (uint8_t)(a->tag + i);
}

static int out(struct fx *x, const char *dst, uint16_t len, struct fill_arg *a)
{
	struct mxg_ip d = ip_of(dst);

	return tcps_if_output(x->ifc, NULL, &d, 6, len, fill, a, x->now);
}

static void check_arp(const uint8_t *f, uint16_t l3, const char *dmac, uint16_t op,
		      const char *sha, const char *spa, const char *tha, const char *tpa)
{
	const uint8_t *a = f + l3;
	struct mxg_ip s = ip_of(spa), t = ip_of(tpa);
	uint8_t m[6];

	mac_of(dmac, m);
	assert_memory_equal(f, m, 6);
	mac_of(OUR_MAC, m);
	assert_memory_equal(f + 6, m, 6);
	assert_int_equal(be16(f + l3 - 2), 0x0806);
	assert_int_equal(be16(a), 1);
	assert_int_equal(be16(a + 2), 0x0800);
	assert_int_equal(a[4], 6);
	assert_int_equal(a[5], 4);
	assert_int_equal(be16(a + 6), op);
	mac_of(sha, m);
	assert_memory_equal(a + 8, m, 6);
	assert_memory_equal(a + 14, s.a, 4);
	mac_of(tha, m);
	assert_memory_equal(a + 18, m, 6);
	assert_memory_equal(a + 24, t.a, 4);
}

static void build_arp(struct pkt *p, const char *dmac, uint16_t op, const char *spa,
		      const char *tpa, const char *tha)
{
	pk_eth(p, dmac, PEER_MAC, -1, 0x0806);
	pk_arp(p, op, PEER_MAC, spa, tha, tpa);
	pk_put(p, 18); /* padding to 60 bytes */
}

/* Checks a data frame we sent: L2 to |dmac|, IPv4 header, fill pattern. */
static void check_out4(const struct fake_frame *fr, uint16_t l3, const char *dmac,
		       const char *dst, uint16_t l4len, uint8_t tag)
{
	const uint8_t *ip = fr->buf + l3;
	struct mxg_ip us = ip_of(OUR_V4), d = ip_of(dst);
	uint8_t m[6];
	uint16_t i;

	assert_int_equal(fr->len, l3 + 20 + l4len);
	mac_of(dmac, m);
	assert_memory_equal(fr->buf, m, 6);
	mac_of(OUR_MAC, m);
	assert_memory_equal(fr->buf + 6, m, 6);
	assert_int_equal(be16(fr->buf + l3 - 2), 0x0800);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[1], 0);
	assert_int_equal(be16(ip + 2), 20 + l4len);
	assert_int_equal(be16(ip + 6), 0x4000);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], 6);
	assert_memory_equal(ip + 12, us.a, 4);
	assert_memory_equal(ip + 16, d.a, 4);
	check_ip4(ip);
	for (i = 0; i < l4len; i++)
		assert_int_equal(ip[20 + i], (uint8_t)(tag + i));
}

/* --- ARP --- */

static void test_arp_request_reply(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct mxg_ip peer = ip_of(PEER_V4);
	struct pkt p;
	uint16_t rlen;
	uint8_t m[6], want[6];

	(void)state;
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	assert_int_equal(rlen, 42);
	check_arp(p.b, 14, PEER_MAC, 2, OUR_MAC, OUR_V4, PEER_MAC, PEER_V4);
	assert_int_equal(st->arp_req_rx, 1);
	assert_int_equal(st->arp_reply_tx, 1);
	assert_int_equal(st->tx_pkts, 1);
	assert_int_equal(st->tx_bytes, 42);
	/* the requester was learned */
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	mac_of(PEER_MAC, want);
	assert_memory_equal(m, want, 6);
	assert_int_equal(tcps_if_deadline(x->ifc), x->now + 30 * SEC);

	/* unicast request (a refresh) is answered the same way */
	build_arp(&p, OUR_MAC, 1, PEER_V4, OUR_V4, OUR_MAC);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_arp(p.b, 14, PEER_MAC, 2, OUR_MAC, OUR_V4, PEER_MAC, PEER_V4);
	assert_int_equal(x->io.nalloc, 0);
	fx_free(x);
}

static void test_arp_vlan(void **state)
{
	struct tcps_if_conf c;
	struct fx *x;
	struct pkt p;
	uint16_t rlen;

	(void)state;
	conf_default(&c);
	c.vlan = 33;
	x = fx_new(&c);
	pk_eth(&p, BCAST, PEER_MAC, 33, 0x0806);
	pk_arp(&p, 1, PEER_MAC, PEER_V4, ZERO_MAC, OUR_V4);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	assert_int_equal(rlen, 46);
	assert_int_equal(be16(p.b + 14) & 0xfff, 33);
	check_arp(p.b, 18, PEER_MAC, 2, OUR_MAC, OUR_V4, PEER_MAC, PEER_V4);
	fx_free(x);
}

/* A probe from 0.0.0.0 (RFC 5227) for our address is answered, not learned. */
static void test_arp_probe(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;
	uint16_t rlen;

	(void)state;
	build_arp(&p, BCAST, 1, "0.0.0.0", OUR_V4, ZERO_MAC);
	assert_int_equal(rx(x, &p, NULL, &rlen, NULL), TCPS_RX_REPLY);
	check_arp(p.b, 14, PEER_MAC, 2, OUR_MAC, OUR_V4, PEER_MAC, "0.0.0.0");
	assert_int_equal(tcps_if_deadline(x->ifc), MXG_TS_NONE);
	/* a probe for someone else is not ours */
	build_arp(&p, BCAST, 1, "0.0.0.0", "198.18.0.7", ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);
}

static void test_arp_learning_rules(void **state)
{
	struct fx *x = fx_new(NULL);
	struct mxg_ip peer = ip_of(PEER_V4), far = ip_of("198.18.0.3");
	struct pkt p;
	uint8_t m[6], want[6];

	(void)state;
	/* a request for someone else from an unknown sender: not learned */
	build_arp(&p, BCAST, 1, PEER_V4, "198.18.0.9", ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	assert_false(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	/* a reply to us: learned */
	build_arp(&p, OUR_MAC, 2, PEER_V4, OUR_V4, OUR_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(tcps_if_stats(x->ifc)->arp_reply_rx, 1);
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	/* a gratuitous ARP from a known sender with a new MAC: merged */
	pk_eth(&p, BCAST, "02:00:00:00:00:77", -1, 0x0806);
	pk_arp(&p, 1, "02:00:00:00:00:77", PEER_V4, ZERO_MAC, PEER_V4);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	mac_of("02:00:00:00:00:77", want);
	assert_memory_equal(m, want, 6);
	/* a request for us from an off-link sender: answered, not learned */
	build_arp(&p, BCAST, 1, "203.0.113.1", OUR_V4, ZERO_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_REPLY);
	far = ip_of("203.0.113.1");
	assert_false(tcps_if_neigh_lookup(x->ifc, &far, x->now, m));
	fx_free(x);
}

static void test_drop_arp(void **state)
{
	struct fx *x = fx_new(NULL);
	struct pkt p;

	(void)state;
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	p.len = 14 + 27;
	expect_drop(x, &p, TCPS_DROP_TRUNCATED);
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	p.b[15] = 6; /* hardware type IEEE 802 */
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	p.b[16] = 0x86; /* protocol IPv6 */
	p.b[17] = 0xdd;
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	p.b[19] = 16; /* protocol address length */
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	build_arp(&p, BCAST, 3, PEER_V4, OUR_V4, ZERO_MAC); /* RARP request */
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	pk_eth(&p, BCAST, PEER_MAC, -1, 0x0806);
	pk_arp(&p, 1, "01:00:5e:00:00:01", PEER_V4, ZERO_MAC, OUR_V4);
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	pk_eth(&p, BCAST, PEER_MAC, -1, 0x0806);
	pk_arp(&p, 1, ZERO_MAC, PEER_V4, ZERO_MAC, OUR_V4);
	expect_drop(x, &p, TCPS_DROP_BAD_ARP);
	/* sender addresses we never learn: ours (a conflict), group, bcast */
	build_arp(&p, BCAST, 1, OUR_V4, OUR_V4, ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_arp(&p, BCAST, 1, "224.0.0.1", OUR_V4, ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_arp(&p, BCAST, 1, "198.18.0.255", OUR_V4, ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	build_arp(&p, BCAST, 1, "127.0.0.1", OUR_V4, ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_BAD_SRC);
	/* ARP through an IPv6 multicast MAC */
	build_arp(&p, "33:33:00:00:00:01", 1, PEER_V4, OUR_V4, ZERO_MAC);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	fx_free(x);
}

/* --- start --- */

static void test_start_announces(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct fake_frame *fr;
	struct mxg_ip a;
	unsigned k;

	(void)state;
	assert_int_equal(tcps_if_start(x->ifc, x->now), 0);
	assert_int_equal(x->io.nsent, 3);
	/* gratuitous ARP: request, sender = target = us, broadcast */
	fr = fake_sent(&x->io, 0);
	assert_int_equal(fr->len, 42);
	check_arp(fr->buf, 14, BCAST, 1, OUR_MAC, OUR_V4, ZERO_MAC, OUR_V4);
	/* unsolicited NAs for the global and the link-local address */
	for (k = 1; k < 3; k++) {
		const uint8_t *ip;

		fr = fake_sent(&x->io, k);
		ip = fr->buf + 14;
		assert_int_equal(fr->len, 14 + 72);
		assert_int_equal(be16(fr->buf), 0x3333);
		assert_int_equal(ip[7], 255);
		assert_int_equal(ip[40], 136);
		assert_int_equal(ip[44], 0); /* R, S, O all clear */
		a = ip_of(k == 1 ? OUR_V6 : OUR_LL6);
		assert_memory_equal(ip + 8, a.a, 16);
		assert_memory_equal(ip + 48, a.a, 16);
		a = ip_of("ff02::1");
		assert_memory_equal(ip + 24, a.a, 16);
		assert_int_equal(ip[64], 2);
		check_icmp6(ip);
	}
	assert_int_equal(st->arp_req_tx, 1);
	assert_int_equal(st->na_tx, 2);
	assert_int_equal(st->tx_pkts, 3);
	assert_int_equal(st->tx_bytes, 42 + 2 * 86);
	fx_free(x);
}

static void test_start_nobufs(void **state)
{
	struct fx *x = fx_new(NULL);

	(void)state;
	x->io.fail = true;
	assert_int_equal(tcps_if_start(x->ifc, x->now), MXG_E_NOBUFS);
	assert_int_equal(tcps_if_stats(x->ifc)->drop[TCPS_DROP_NOBUF], 3);
	assert_int_equal(tcps_if_stats(x->ifc)->tx_pkts, 0);
	fx_free(x);
}

/* --- resolution --- */

static void test_output_resolve_v4(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct fill_arg a = { .tag = 0x10 };
	struct mxg_ip us = ip_of(OUR_V4), peer = ip_of(PEER_V4);
	struct pkt p;
	unsigned k;

	(void)state;
	for (k = 0; k < 4; k++)
		assert_int_equal(out(x, PEER_V4, 30, &a), 0);
	assert_int_equal(a.calls, 4);
	assert_memory_equal(a.src.a, us.a, 16);
	assert_memory_equal(a.dst.a, peer.a, 16);
	/* one ARP request, the data frames are held */
	assert_int_equal(x->io.nsent, 1);
	check_arp(fake_sent(&x->io, 0)->buf, 14, BCAST, 1, OUR_MAC, OUR_V4, ZERO_MAC, PEER_V4);
	assert_int_equal(st->arp_req_tx, 1);
	/* the fifth does not fit the queue */
	assert_int_equal(out(x, PEER_V4, 30, &a), MXG_E_AGAIN);
	assert_int_equal(st->drop[TCPS_DROP_NO_NEIGH], 1);
	assert_int_equal(a.calls, 4);
	assert_int_equal(tcps_if_deadline(x->ifc), x->now + SEC);

	/* the reply flushes them, in order, to the peer's MAC */
	x->now += 5 * MS;
	build_arp(&p, OUR_MAC, 2, PEER_V4, OUR_V4, OUR_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 5);
	for (k = 1; k < 5; k++)
		check_out4(fake_sent(&x->io, k), 14, PEER_MAC, PEER_V4, 30, 0x10);
	/* IPv4 identification differs per packet */
	assert_int_not_equal(be16(fake_sent(&x->io, 1)->buf + 18),
			     be16(fake_sent(&x->io, 2)->buf + 18));
	assert_int_equal(st->tx_pkts, 5);
	/* resolved now: sent directly */
	assert_int_equal(out(x, PEER_V4, 1, &a), 0);
	assert_int_equal(x->io.nsent, 6);
	check_out4(fake_sent(&x->io, 5), 14, PEER_MAC, PEER_V4, 1, 0x10);
	assert_int_equal(tcps_if_deadline(x->ifc), x->now + 30 * SEC);
	fx_free(x);
}

static void test_output_via_gateway_and_no_route(void **state)
{
	struct fx *x = fx_new(NULL);
	struct tcps_if_conf c;
	struct fill_arg a = { .tag = 1 };
	struct mxg_ip gw = ip_of(GW_V4), d;
	uint8_t m[6];

	(void)state;
	mac_of(GW_MAC, m);
	tcps_if_neigh_learn(x->ifc, &gw, m, x->now);
	assert_int_equal(out(x, "203.0.113.5", 40, &a), 0);
	assert_int_equal(x->io.nsent, 1);
	check_out4(fake_sent(&x->io, 0), 14, GW_MAC, "203.0.113.5", 40, 1);
	/* not routable at all */
	assert_int_equal(out(x, OUR_V4, 10, &a), MXG_E_NOENT);
	assert_int_equal(out(x, "198.18.0.255", 10, &a), MXG_E_NOENT);
	assert_int_equal(out(x, "224.0.0.1", 10, &a), MXG_E_NOENT);
	assert_int_equal(tcps_if_stats(x->ifc)->drop[TCPS_DROP_NO_ROUTE], 3);
	/* too big for the MTU */
	assert_int_equal(out(x, PEER_V4, 1481, &a), MXG_E_RANGE);
	assert_int_equal(out(x, PEER_V6, 1461, &a), MXG_E_RANGE);
	/* family mismatch between src and dst */
	d = ip_of(PEER_V4);
	assert_int_equal(tcps_if_output(x->ifc, &gw, &d, 6, 10, fill, &a, x->now), 0);
	gw = ip_of(OUR_V6);
	assert_int_equal(tcps_if_output(x->ifc, &gw, &d, 6, 10, fill, &a, x->now), MXG_E_INVAL);
	fx_free(x);

	/* no gateways */
	conf_default(&c);
	c.has_v4_gw = c.has_v6_gw = false;
	x = fx_new(&c);
	assert_int_equal(out(x, "203.0.113.5", 40, &a), MXG_E_NOENT);
	assert_int_equal(out(x, "2001:db8:1::5", 40, &a), MXG_E_NOENT);
	assert_int_equal(tcps_if_stats(x->ifc)->drop[TCPS_DROP_NO_ROUTE], 2);
	assert_int_equal(x->io.nalloc, 0);
	fx_free(x);
	/* no IPv6 at all */
	c.has_v6 = false;
	x = fx_new(&c);
	assert_int_equal(out(x, PEER_V6, 40, &a), MXG_E_NOENT);
	assert_int_equal(tcps_if_stats(x->ifc)->drop[TCPS_DROP_NO_ROUTE], 1);
	fx_free(x);
}

/* Three solicitations neigh_retrans apart, then the held frames go. */
static void test_resolve_retry_and_give_up(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct fill_arg a = { .tag = 2 };
	mxg_tstamp t0 = x->now;

	(void)state;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(x->io.nsent, 1);
	assert_int_equal(tcps_if_deadline(x->ifc), t0 + SEC);
	/* early timer: nothing */
	tcps_if_on_timer(x->ifc, t0 + SEC - 1);
	assert_int_equal(x->io.nsent, 1);
	tcps_if_on_timer(x->ifc, t0 + SEC);
	assert_int_equal(x->io.nsent, 2);
	check_arp(fake_sent(&x->io, 1)->buf, 14, BCAST, 1, OUR_MAC, OUR_V4, ZERO_MAC, PEER_V4);
	assert_int_equal(tcps_if_deadline(x->ifc), t0 + 2 * SEC);
	tcps_if_on_timer(x->ifc, t0 + 2 * SEC);
	assert_int_equal(x->io.nsent, 3);
	assert_int_equal(st->arp_req_tx, 3);
	assert_int_equal(st->drop[TCPS_DROP_NO_NEIGH], 0);
	tcps_if_on_timer(x->ifc, t0 + 3 * SEC);
	assert_int_equal(x->io.nsent, 3);
	assert_int_equal(st->drop[TCPS_DROP_NO_NEIGH], 2);
	assert_int_equal(x->io.nfreed, 2);
	assert_int_equal(tcps_if_deadline(x->ifc), MXG_TS_NONE);
	/* a new output starts over */
	x->now = t0 + 4 * SEC;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(x->io.nsent, 4);
	fx_free(x);
}

static void test_output_resolve_v6(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct fill_arg a = { .tag = 3 };
	struct mxg_ip us = ip_of(OUR_V6), ll = ip_of(OUR_LL6), t;
	struct fake_frame *fr;
	const uint8_t *ip;
	struct pkt p;

	(void)state;
	assert_int_equal(out(x, PEER_V6, 100, &a), 0);
	assert_memory_equal(a.src.a, us.a, 16);
	assert_int_equal(x->io.nsent, 1);
	/* NS to the solicited-node group, from our global address, SLLA */
	fr = fake_sent(&x->io, 0);
	ip = fr->buf + 14;
	assert_int_equal(fr->len, 14 + 72);
	assert_int_equal(be16(fr->buf), 0x3333);
	assert_int_equal(fr->buf[2], 0xff);
	assert_int_equal(ip[7], 255);
	assert_memory_equal(ip + 8, us.a, 16);
	t = ip_of("ff02::1:ff00:2");
	assert_memory_equal(ip + 24, t.a, 16);
	assert_int_equal(ip[40], 135);
	t = ip_of(PEER_V6);
	assert_memory_equal(ip + 48, t.a, 16);
	assert_int_equal(ip[64], 1);
	assert_int_equal(ip[65], 1);
	check_icmp6(ip);
	assert_int_equal(st->ns_tx, 1);

	/* solicited NA with TLLA resolves and flushes */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x60, PEER_V6, 2, PEER_MAC);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(st->na_rx, 1);
	assert_int_equal(x->io.nsent, 2);
	fr = fake_sent(&x->io, 1);
	ip = fr->buf + 14;
	assert_int_equal(fr->len, 14 + 40 + 100);
	assert_int_equal(be16(fr->buf + 12), 0x86dd);
	assert_int_equal(fr->buf[5], 0x02);
	assert_int_equal(ip[0], 0x60);
	assert_int_equal(be16(ip + 4), 100);
	assert_int_equal(ip[6], 6);
	assert_int_equal(ip[7], 64);
	assert_memory_equal(ip + 8, us.a, 16);
	assert_memory_equal(ip + 24, t.a, 16);
	assert_int_equal(ip[40], 3);

	/* a link-local destination goes out from our link-local address */
	assert_int_equal(out(x, PEER_LL6, 10, &a), 0);
	assert_memory_equal(a.src.a, ll.a, 16);
	fr = fake_sent(&x->io, 2);
	assert_memory_equal(fr->buf + 14 + 8, ll.a, 16);
	/* off-link goes to the link-local gateway */
	assert_int_equal(out(x, "2001:db8:5::1", 10, &a), 0);
	fr = fake_sent(&x->io, 3);
	t = ip_of("ff02::1:ff00:fe");
	assert_memory_equal(fr->buf + 14 + 24, t.a, 16);
	t = ip_of(GW_V6);
	assert_memory_equal(fr->buf + 14 + 48, t.a, 16);
	fx_free(x);
}

/* An NA without the O flag does not replace a known MAC; one without a
 * TLLA does not resolve an INCOMPLETE entry. */
static void test_na_override_rules(void **state)
{
	struct fx *x = fx_new(NULL);
	struct fill_arg a = { .tag = 3 };
	struct mxg_ip peer = ip_of(PEER_V6);
	struct pkt p;
	uint8_t m[6], want[6];

	(void)state;
	assert_int_equal(out(x, PEER_V6, 10, &a), 0);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x40, PEER_V6, 0, NULL);
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	assert_int_equal(x->io.nsent, 1);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x40, PEER_V6, 2, PEER_MAC);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 2);
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x40, PEER_V6, 2, "02:00:00:00:00:66");
	pk_fix(&p);
	expect_drop(x, &p, TCPS_DROP_NOT_FOR_US);
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	mac_of(PEER_MAC, want);
	assert_memory_equal(m, want, 6);
	/* with O set it does */
	p.b[14 + 44] = 0x60;
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	mac_of("02:00:00:00:00:66", want);
	assert_memory_equal(m, want, 6);
	/* a confirmation without TLLA refreshes it */
	x->now += 10 * SEC;
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x86dd);
	pk_ip6(&p, PEER_V6, OUR_V6, 58, 255);
	pk_nd(&p, 136, 0x40, PEER_V6, 0, NULL);
	pk_fix(&p);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(tcps_if_deadline(x->ifc), x->now + 30 * SEC);
	fx_free(x);
}

static void test_output_vlan_tagging(void **state)
{
	struct tcps_if_conf c;
	struct fill_arg a = { .tag = 4 };
	struct fx *x;
	struct pkt p;

	(void)state;
	conf_default(&c);
	c.vlan = 42;
	x = fx_new(&c);
	assert_int_equal(out(x, PEER_V4, 20, &a), 0);
	assert_int_equal(be16(fake_sent(&x->io, 0)->buf + 12), 0x8100);
	assert_int_equal(be16(fake_sent(&x->io, 0)->buf + 14), 42);
	check_arp(fake_sent(&x->io, 0)->buf, 18, BCAST, 1, OUR_MAC, OUR_V4, ZERO_MAC, PEER_V4);
	pk_eth(&p, OUR_MAC, PEER_MAC, 42, 0x0806);
	pk_arp(&p, 2, PEER_MAC, PEER_V4, OUR_MAC, OUR_V4);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 2);
	assert_int_equal(be16(fake_sent(&x->io, 1)->buf + 12), 0x8100);
	assert_int_equal(be16(fake_sent(&x->io, 1)->buf + 14), 42);
	check_out4(fake_sent(&x->io, 1), 18, PEER_MAC, PEER_V4, 20, 4);
	/* the NS too */
	assert_int_equal(out(x, PEER_V6, 20, &a), 0);
	assert_int_equal(be16(fake_sent(&x->io, 2)->buf + 12), 0x8100);
	assert_int_equal(be16(fake_sent(&x->io, 2)->buf + 16), 0x86dd);
	check_icmp6(fake_sent(&x->io, 2)->buf + 18);
	/* the MTU is an IP MTU: a full-size packet fits with the tag */
	assert_int_equal(out(x, PEER_V4, 1480, &a), 0);
	fx_free(x);
}

/* --- cache --- */

static void test_aging_and_refresh(void **state)
{
	struct fx *x = fx_new(NULL);
	struct fill_arg a = { .tag = 5 };
	struct mxg_ip peer = ip_of(PEER_V4);
	mxg_tstamp t0 = x->now;
	struct pkt p;
	uint8_t m[6];

	(void)state;
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_REPLY);
	/* used well before expiry: no probe */
	x->now = t0 + 20 * SEC;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(x->io.nsent, 1);
	/* used within 3 s of expiry: one unicast probe, once */
	x->now = t0 + 28 * SEC;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(x->io.nsent, 4);
	check_arp(fake_sent(&x->io, 2)->buf, 14, PEER_MAC, 1, OUR_MAC, OUR_V4, ZERO_MAC, PEER_V4);
	check_out4(fake_sent(&x->io, 3), 14, PEER_MAC, PEER_V4, 10, 5);
	/* no answer: expires at t0 + 30 s */
	assert_true(tcps_if_neigh_lookup(x->ifc, &peer, t0 + 30 * SEC - 1, m));
	assert_false(tcps_if_neigh_lookup(x->ifc, &peer, t0 + 30 * SEC, m));
	assert_int_equal(tcps_if_deadline(x->ifc), t0 + 30 * SEC);
	/* used after expiry before the timer ran: resolves again */
	x->now = t0 + 31 * SEC;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(x->io.nsent, 5);
	check_arp(fake_sent(&x->io, 4)->buf, 14, BCAST, 1, OUR_MAC, OUR_V4, ZERO_MAC, PEER_V4);
	/* the reply to a refresh probe keeps the entry alive */
	build_arp(&p, OUR_MAC, 2, PEER_V4, OUR_V4, OUR_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	assert_int_equal(x->io.nsent, 6);
	assert_int_equal(tcps_if_deadline(x->ifc), x->now + 30 * SEC);
	/* the timer reaps expired entries */
	tcps_if_on_timer(x->ifc, x->now + 30 * SEC);
	assert_int_equal(tcps_if_deadline(x->ifc), MXG_TS_NONE);
	assert_false(tcps_if_neigh_lookup(x->ifc, &peer, x->now, m));
	fx_free(x);
}

static void test_eviction(void **state)
{
	struct tcps_if_conf c;
	struct fill_arg a = { .tag = 6 };
	struct fx *x;
	struct mxg_ip ip;
	struct pkt p;
	uint8_t m[6];
	char s[32];
	unsigned k;

	(void)state;
	conf_default(&c);
	c.neigh_max = 4;
	x = fx_new(&c);
	mac_of(PEER_MAC, m);
	for (k = 0; k < 6; k++) {
		snprintf(s, sizeof(s), "198.18.0.%u", 10 + k);
		ip = ip_of(s);
		tcps_if_neigh_learn(x->ifc, &ip, m, x->now);
		x->now += MS;
	}
	assert_int_equal(tcps_if_stats(x->ifc)->neigh_evicted, 2);
	for (k = 0; k < 6; k++) {
		snprintf(s, sizeof(s), "198.18.0.%u", 10 + k);
		ip = ip_of(s);
		assert_int_equal(tcps_if_neigh_lookup(x->ifc, &ip, x->now, m), k >= 2);
	}
	fx_free(x);

	/* four resolutions in progress: learning from the wire does not
	 * evict them, output does (oldest first, its frames dropped) */
	x = fx_new(&c);
	for (k = 0; k < 4; k++) {
		snprintf(s, sizeof(s), "198.18.0.%u", 10 + k);
		assert_int_equal(out(x, s, 10, &a), 0);
	}
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_REPLY);
	ip = ip_of(PEER_V4);
	assert_false(tcps_if_neigh_lookup(x->ifc, &ip, x->now, m));
	assert_int_equal(tcps_if_stats(x->ifc)->neigh_evicted, 0);
	assert_int_equal(out(x, "198.18.0.20", 10, &a), 0);
	assert_int_equal(tcps_if_stats(x->ifc)->neigh_evicted, 1);
	assert_int_equal(tcps_if_stats(x->ifc)->drop[TCPS_DROP_NO_NEIGH], 1);
	assert_int_equal(x->io.nfreed, 1);
	/* the evicted one's ARP reply no longer matches anything */
	pk_eth(&p, OUR_MAC, PEER_MAC, -1, 0x0806);
	pk_arp(&p, 2, PEER_MAC, "198.18.0.10", OUR_MAC, OUR_V4);
	assert_int_equal(rx(x, &p, NULL, NULL, NULL), TCPS_RX_CONSUMED);
	fx_free(x); /* frees the frames still held */
}

static void test_neigh_learn_api_flushes(void **state)
{
	struct fx *x = fx_new(NULL);
	struct fill_arg a = { .tag = 7 };
	struct mxg_ip peer = ip_of(PEER_V4), v6 = ip_of(PEER_V6);
	uint8_t m[6];

	(void)state;
	assert_int_equal(out(x, PEER_V4, 10, &a), 0);
	assert_int_equal(out(x, PEER_V4, 11, &a), 0);
	mac_of(PEER_MAC, m);
	tcps_if_neigh_learn(x->ifc, &peer, m, x->now);
	assert_int_equal(x->io.nsent, 3);
	check_out4(fake_sent(&x->io, 1), 14, PEER_MAC, PEER_V4, 10, 7);
	check_out4(fake_sent(&x->io, 2), 14, PEER_MAC, PEER_V4, 11, 7);
	/* group MACs are refused */
	mac_of("33:33:00:00:00:01", m);
	tcps_if_neigh_learn(x->ifc, &v6, m, x->now);
	assert_false(tcps_if_neigh_lookup(x->ifc, &v6, x->now, m));
	fx_free(x);
}

static struct mxg_ip learned_ip;
static uint8_t learned_mac[6];
static unsigned learned_calls;

static void on_learned(void *io, const struct mxg_ip *ip, const uint8_t *mac)
{
	(void)io;
	learned_ip = *ip;
	memcpy(learned_mac, mac, 6);
	learned_calls++;
}

/* A neighbor learned from the wire is reported (so the dataplane can relay
 * it to other lcores); one learned through the API is not (no loops). */
static void test_neigh_learned_hook(void **state)
{
	struct tcps_frame_ops ops = fake_ops;
	struct mxg_ip peer = ip_of(PEER_V4), other = ip_of("198.18.0.9");
	struct tcps_if_conf c;
	struct fake_io *io = calloc(1, sizeof(*io));
	struct tcps_if *ifc;
	struct pkt p;
	enum tcps_drop why;
	uint16_t rlen;
	struct tcps_pktinfo pi;
	uint8_t m[6], want[6];

	(void)state;
	assert_non_null(io);
	ops.neigh_learned = on_learned;
	learned_calls = 0;
	conf_default(&c);
	ifc = tcps_if_new(&c, &ops, io, NULL);
	assert_non_null(ifc);
	build_arp(&p, BCAST, 1, PEER_V4, OUR_V4, ZERO_MAC);
	assert_int_equal(tcps_if_input(ifc, p.b, p.len, 1, &why, &rlen, &pi), TCPS_RX_REPLY);
	assert_int_equal(learned_calls, 1);
	assert_int_equal(learned_ip.family, 4);
	assert_memory_equal(learned_ip.a, peer.a, 16);
	mac_of(PEER_MAC, want);
	assert_memory_equal(learned_mac, want, 6);
	mac_of("02:00:00:00:00:09", m);
	tcps_if_neigh_learn(ifc, &other, m, 2);
	assert_int_equal(learned_calls, 1);
	assert_true(tcps_if_neigh_lookup(ifc, &other, 2, m));
	tcps_if_free(ifc);
	free(io);
}

/* Frames held for unresolved neighbors are bounded per interface too: a
 * flood of unresolvable destinations cannot pin the buffer pool. */
static void test_pending_total_cap(void **state)
{
	struct tcps_if_conf c;
	struct fx *x;
	struct fill_arg a = { .tag = 1 };
	const struct tcps_if_stats *st;
	struct mxg_ip peer;
	uint8_t m[6];

	(void)state;
	conf_default(&c);
	c.neigh_pending_total = 3;
	x = fx_new(&c);
	st = tcps_if_stats(x->ifc);
	assert_int_equal(out(x, "198.18.0.11", 10, &a), 0);
	assert_int_equal(out(x, "198.18.0.11", 10, &a), 0);
	assert_int_equal(out(x, "198.18.0.12", 10, &a), 0);
	/* full: neither a new destination nor a known one may hold more */
	assert_int_equal(out(x, "198.18.0.13", 10, &a), MXG_E_AGAIN);
	assert_int_equal(out(x, "198.18.0.11", 10, &a), MXG_E_AGAIN);
	assert_int_equal(st->drop[TCPS_DROP_NO_NEIGH], 2);
	/* resolving one releases its frames and makes room again */
	peer = ip_of("198.18.0.11");
	mac_of(PEER_MAC, m);
	tcps_if_neigh_learn(x->ifc, &peer, m, x->now);
	assert_int_equal(out(x, "198.18.0.13", 10, &a), 0);
	fx_free(x);
}

static void test_nobufs(void **state)
{
	struct fx *x = fx_new(NULL);
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	struct fill_arg a = { .tag = 8 };
	struct mxg_ip peer = ip_of(PEER_V4);
	uint8_t m[6];

	(void)state;
	mac_of(PEER_MAC, m);
	tcps_if_neigh_learn(x->ifc, &peer, m, x->now);
	x->io.fail = true;
	assert_int_equal(out(x, PEER_V4, 10, &a), MXG_E_NOBUFS);
	assert_int_equal(st->drop[TCPS_DROP_NOBUF], 1);
	assert_int_equal(a.calls, 0);
	/* unresolved: neither the ARP request nor the frame */
	assert_int_equal(out(x, "198.18.0.3", 10, &a), MXG_E_NOBUFS);
	assert_int_equal(st->drop[TCPS_DROP_NOBUF], 3);
	/* the resolution still retries once buffers are back */
	x->io.fail = false;
	tcps_if_on_timer(x->ifc, x->now + SEC);
	assert_int_equal(x->io.nsent, 1);
	assert_int_equal(st->tx_pkts, 1);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_request_reply),
		cmocka_unit_test(test_arp_vlan),
		cmocka_unit_test(test_arp_probe),
		cmocka_unit_test(test_arp_learning_rules),
		cmocka_unit_test(test_drop_arp),
		cmocka_unit_test(test_start_announces),
		cmocka_unit_test(test_start_nobufs),
		cmocka_unit_test(test_output_resolve_v4),
		cmocka_unit_test(test_output_via_gateway_and_no_route),
		cmocka_unit_test(test_resolve_retry_and_give_up),
		cmocka_unit_test(test_output_resolve_v6),
		cmocka_unit_test(test_na_override_rules),
		cmocka_unit_test(test_output_vlan_tagging),
		cmocka_unit_test(test_aging_and_refresh),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_neigh_learn_api_flushes),
		cmocka_unit_test(test_neigh_learned_hook),
		cmocka_unit_test(test_pending_total_cap),
		cmocka_unit_test(test_nobufs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
