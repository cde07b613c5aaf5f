/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net_test.c - shared helpers of the tcps_net unit tests (net_test.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_test.h"

/* --- fake frame_ops --- */

static uint8_t *fake_alloc(void *io_, uint16_t len, void **h)
{
	struct fake_io *io = io_;
	struct fake_frame *fr;

	if (io->fail)
		return NULL;
	assert_true(io->nalloc < FAKE_MAX);
	assert_true(len <= PKT_MAX);
	fr = &io->fr[io->nalloc++];
	fr->state = FR_ALLOCATED;
	fr->len = len;
	/* Poison so that unwritten bytes show up in checks. */
	memset(fr->buf, 0xa5, len);
	*h = fr;
	return fr->buf;
}

static void fake_send(void *io_, void *h)
{
	struct fake_io *io = io_;
	struct fake_frame *fr = h;

	assert_int_equal(fr->state, FR_ALLOCATED);
	fr->state = FR_SENT;
	io->sent[io->nsent++] = (unsigned)(fr - io->fr);
}

static void fake_free(void *io_, void *h)
{
	struct fake_io *io = io_;
	struct fake_frame *fr = h;

	assert_int_equal(fr->state, FR_ALLOCATED);
	fr->state = FR_FREED;
	io->nfreed++;
}

const struct tcps_frame_ops fake_ops = {
	.alloc = fake_alloc,
	.send = fake_send,
	.free = fake_free,
};

struct fake_frame *fake_sent(struct fake_io *io, unsigned k)
{
	assert_true(k < io->nsent);
	return &io->fr[io->sent[k]];
}

void fake_check_balanced(const struct fake_io *io)
{
	unsigned i;

	for (i = 0; i < io->nalloc; i++)
		assert_true(io->fr[i].state == FR_SENT || io->fr[i].state == FR_FREED);
}

/* --- failing allocator --- */

static bool fm_fail(struct fail_mem *fm)
{
	return ++fm->calls == fm->fail_at;
}

static void *fm_malloc(size_t n, void *ud)
{
	struct fail_mem *fm = ud;
	void *p;

	if (fm_fail(fm))
		return NULL;
	p = malloc(n);
	if (p)
		fm->live++;
	return p;
}

static void *fm_calloc(size_t n, size_t sz, void *ud)
{
	struct fail_mem *fm = ud;
	void *p;

	if (fm_fail(fm))
		return NULL;
	p = calloc(n, sz);
	if (p)
		fm->live++;
	return p;
}

static void *fm_realloc(void *old, size_t n, void *ud)
{
	struct fail_mem *fm = ud;
	void *p;

	if (fm_fail(fm))
		return NULL;
	p = realloc(old, n);
	if (p && !old)
		fm->live++;
	return p;
}

static void fm_free(void *p, void *ud)
{
	struct fail_mem *fm = ud;

	if (p)
		fm->live--;
	free(p);
}

void fail_mem_init(struct fail_mem *fm, unsigned fail_at)
{
	memset(fm, 0, sizeof(*fm));
	fm->fail_at = fail_at;
	fm->mem.ud = fm;
	fm->mem.malloc = fm_malloc;
	fm->mem.calloc = fm_calloc;
	fm->mem.realloc = fm_realloc;
	fm->mem.free = fm_free;
}

/* --- fixture --- */

struct mxg_ip ip_of(const char *s)
{
	struct mxg_ip ip;

	assert_int_equal(mxg_ip_parse(s, &ip), 0);
	return ip;
}

void mac_of(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int i;

	assert_int_equal(sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
				&v[5]),
			 6);
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

void conf_default(struct tcps_if_conf *c)
{
	memset(c, 0, sizeof(*c));
	mac_of(OUR_MAC, c->mac);
	c->mtu = 1500;
	c->has_v4 = true;
	assert_int_equal(mxg_prefix_parse(OUR_V4 "/24", &c->v4), 0);
	c->has_v4_gw = true;
	c->v4_gw = ip_of(GW_V4);
	c->has_v6 = true;
	assert_int_equal(mxg_prefix_parse(OUR_V6 "/64", &c->v6), 0);
	c->has_v6_gw = true;
	c->v6_gw = ip_of(GW_V6);
}

struct fx *fx_new(const struct tcps_if_conf *c)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	if (c)
		x->conf = *c;
	else
		conf_default(&x->conf);
	x->now = 1000 * SEC;
	x->ifc = tcps_if_new(&x->conf, &fake_ops, &x->io, NULL);
	assert_non_null(x->ifc);
	return x;
}

void fx_free(struct fx *x)
{
	tcps_if_free(x->ifc);
	fake_check_balanced(&x->io);
	free(x);
}

/* --- builders --- */

void pk_eth(struct pkt *p, const char *dst, const char *src, int vlan, uint16_t type)
{
	memset(p, 0, sizeof(*p));
	mac_of(dst, p->b);
	mac_of(src, p->b + 6);
	if (vlan >= 0) {
		p->b[12] = 0x81;
		p->b[13] = 0x00;
		p->b[14] = (uint8_t)(vlan >> 8);
		p->b[15] = (uint8_t)vlan;
		p->len = 16;
	} else {
		p->len = 12;
	}
	p->b[p->len] = (uint8_t)(type >> 8);
	p->b[p->len + 1] = (uint8_t)type;
	p->len += 2;
	p->l3 = p->len;
}

uint8_t *pk_put(struct pkt *p, uint16_t n)
{
	uint8_t *r = p->b + p->len;

	assert_true(p->len + n <= PKT_MAX);
	memset(r, 0, n);
	p->len += n;
	return r;
}

uint8_t *pk_ip4(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		unsigned optlen)
{
	struct mxg_ip s = ip_of(src), d = ip_of(dst);
	uint8_t *ip = pk_put(p, (uint16_t)(20 + optlen));

	ip[0] = (uint8_t)(0x40 | (5 + optlen / 4));
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, s.a, 4);
	memcpy(ip + 16, d.a, 4);
	memset(ip + 20, 1, optlen); /* NOP options */
	return ip;
}

uint8_t *pk_ip6(struct pkt *p, const char *src, const char *dst, uint8_t nh, uint8_t hlim)
{
	struct mxg_ip s = ip_of(src), d = ip_of(dst);
	uint8_t *ip = pk_put(p, 40);

	ip[0] = 0x60;
	ip[6] = nh;
	ip[7] = hlim;
	memcpy(ip + 8, s.a, 16);
	memcpy(ip + 24, d.a, 16);
	return ip;
}

uint8_t *pk_ext6(struct pkt *p, uint8_t nh, uint8_t len8)
{
	uint16_t n = (uint16_t)((len8 + 1) * 8);
	uint8_t *e = pk_put(p, n);

	e[0] = nh;
	e[1] = len8;
	/* Routing header (type 4, segments left 0) or PadN over the rest. */
	e[2] = 1;
	e[3] = (uint8_t)(n - 4);
	return e;
}

uint8_t *pk_echo(struct pkt *p, uint8_t type, uint16_t id, uint16_t seq, uint16_t n)
{
	uint8_t *m = pk_put(p, (uint16_t)(8 + n));
	unsigned i;

	m[0] = type;
	m[4] = (uint8_t)(id >> 8);
	m[5] = (uint8_t)id;
	m[6] = (uint8_t)(seq >> 8);
	m[7] = (uint8_t)seq;
	for (i = 0; i < n; i++)
		m[8 + i] = (uint8_t)(i * 7 + 3);
	return m;
}

void pk_arp(struct pkt *p, uint16_t op, const char *sha, const char *spa, const char *tha,
	    const char *tpa)
{
	struct mxg_ip s = ip_of(spa), t = ip_of(tpa);
	uint8_t *a = pk_put(p, 28);

	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = (uint8_t)op;
	mac_of(sha, a + 8);
	memcpy(a + 14, s.a, 4);
	mac_of(tha, a + 18);
	memcpy(a + 24, t.a, 4);
}

uint8_t *pk_nd(struct pkt *p, uint8_t type, uint8_t flags, const char *target,
	       uint8_t opt_type, const char *lla)
{
	struct mxg_ip t = ip_of(target);
	uint8_t *m = pk_put(p, (uint16_t)(lla ? 32 : 24));

	m[0] = type;
	m[4] = flags;
	memcpy(m + 8, t.a, 16);
	if (lla) {
		m[24] = opt_type;
		m[25] = 1;
		mac_of(lla, m + 26);
	}
	return m;
}

uint16_t ref_sum(const uint8_t *p, size_t n, uint32_t init)
{
	uint32_t s = init;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t pseudo6(const uint8_t *ip, uint32_t len, uint8_t nh)
{
	uint32_t s = ref_sum(ip + 8, 32, 0);

	return s + (len >> 16) + (len & 0xffff) + nh;
}

void pk_fix(struct pkt *p)
{
	uint8_t *ip = p->b + p->l3, nh, *l4;
	uint16_t rest = (uint16_t)(p->len - p->l3), off, c;

	if ((ip[0] >> 4) == 4) {
		uint16_t hl = (uint16_t)((ip[0] & 15) * 4);

		ip[2] = (uint8_t)(rest >> 8);
		ip[3] = (uint8_t)rest;
		ip[10] = ip[11] = 0;
		c = (uint16_t)~ref_sum(ip, hl, 0);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		if (ip[9] == 1 && rest >= hl + 4) {
			l4 = ip + hl;
			l4[2] = l4[3] = 0;
			c = (uint16_t)~ref_sum(l4, rest - hl, 0);
			l4[2] = (uint8_t)(c >> 8);
			l4[3] = (uint8_t)c;
		}
		return;
	}
	ip[4] = (uint8_t)((rest - 40) >> 8);
	ip[5] = (uint8_t)(rest - 40);
	nh = ip[6];
	off = 40;
	while ((nh == 0 || nh == 43 || nh == 60) && off + 8 <= rest) {
		nh = ip[off];
		off = (uint16_t)(off + (ip[off + 1] + 1) * 8);
	}
	if (nh == 58 && off + 4 <= rest) {
		l4 = ip + off;
		l4[2] = l4[3] = 0;
		c = (uint16_t)~ref_sum(l4, rest - off, pseudo6(ip, rest - off, 58));
		l4[2] = (uint8_t)(c >> 8);
		l4[3] = (uint8_t)c;
	}
}

void check_ip4(const uint8_t *ip)
{
	uint16_t hl = (uint16_t)((ip[0] & 15) * 4), tot = be16(ip + 2);

	assert_int_equal(ref_sum(ip, hl, 0), 0xffff);
	if (ip[9] == 1)
		assert_int_equal(ref_sum(ip + hl, tot - hl, 0), 0xffff);
}

void check_icmp6(const uint8_t *ip)
{
	uint16_t plen = be16(ip + 4);

	assert_int_equal(ip[6], 58);
	assert_int_equal(ref_sum(ip + 40, plen, pseudo6(ip, plen, 58)), 0xffff);
}

enum tcps_rx_action rx(struct fx *x, struct pkt *p, enum tcps_drop *drop, uint16_t *rlen,
		       struct tcps_pktinfo *pi)
{
	enum tcps_drop d = TCPS_DROP__MAX;
	uint16_t r = 0;
	struct tcps_pktinfo tmp;

	return tcps_if_input(x->ifc, p->b, p->len, x->now, drop ? drop : &d, rlen ? rlen : &r,
			     pi ? pi : &tmp);
}

static uint64_t drops_total(const struct tcps_if_stats *st)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < TCPS_DROP__MAX; i++)
		n += st->drop[i];
	return n;
}

void expect_drop(struct fx *x, struct pkt *p, enum tcps_drop why)
{
	const struct tcps_if_stats *st = tcps_if_stats(x->ifc);
	uint64_t before = st->drop[why], total = drops_total(st), rxp = st->rx_pkts;
	enum tcps_drop d = TCPS_DROP__MAX;

	if (rx(x, p, &d, NULL, NULL) != TCPS_RX_DROP || d != why)
		fail_msg("expected drop %s, got action with drop %s", tcps_drop_name(why),
			 d == TCPS_DROP__MAX ? "(none)" : tcps_drop_name(d));
	assert_int_equal(st->drop[why], before + 1);
	assert_int_equal(drops_total(st), total + 1);
	assert_int_equal(st->rx_pkts, rxp + 1);
}
