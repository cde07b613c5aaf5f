/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_test.c - shared helpers of the TCP unit tests (tcp_test.h).
 */
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "tcp_test.h"
#include "tcps_net.h" /* tcps_l4_csum */

static int tt_output(void *io_, const struct mxg_ip *src, const struct mxg_ip *dst,
		     const uint8_t *seg, uint16_t len, mxg_tstamp now)
{
	struct tt_io *io = io_;
	struct tt_cap *c;

	if (io->n == TT_QMAX)
		return MXG_E_NOBUFS;
	c = &io->q[io->n++];
	memcpy(c->b, seg, len);
	c->len = len;
	c->ts = now;
	c->src = *src;
	c->dst = *dst;
	return 0;
}

void tt_io_init(struct tt_io *io)
{
	memset(io, 0, sizeof(*io));
	io->q = calloc(TT_QMAX, sizeof(*io->q));
	io->ops.output = tt_output;
}

void tt_io_fini(struct tt_io *io)
{
	free(io->q);
	io->q = NULL;
}

void tt_conf(struct tcps_stack_conf *cf)
{
	memset(cf, 0, sizeof(*cf));
	for (int i = 0; i < 16; i++)
		cf->secret[i] = (uint8_t)(0xa5 ^ (i * 29));
	cf->rcvbuf = 65536;
	cf->sndbuf = 65536;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

uint16_t tt_build(uint8_t *b, const struct mxg_ip *src, const struct mxg_ip *dst,
		  const struct tt_seg *s)
{
	unsigned ol = (s->optlen + 3) & ~3u, hl = 20 + ol;

	put16(b, s->sport);
	put16(b + 2, s->dport);
	put32(b + 4, s->seq);
	put32(b + 8, s->ack);
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = s->flags;
	put16(b + 14, s->win);
	put32(b + 16, 0);
	memset(b + 20, 0, ol);
	if (s->optlen)
		memcpy(b + 20, s->opt, s->optlen);
	if (s->len)
		memcpy(b + hl, s->data, s->len);
	put16(b + 16, tcps_l4_csum(src, dst, 6, b, (uint16_t)(hl + s->len)));
	return (uint16_t)(hl + s->len);
}

void tt_input(struct tcps_stack *st, const struct mxg_ip *src, const struct mxg_ip *dst,
	      const struct tt_seg *s, mxg_tstamp now)
{
	uint8_t b[TT_SEGMAX];
	uint16_t n = tt_build(b, src, dst, s);

	tcps_stack_input(st, src, dst, b, n, now);
}

void tt_parse(const struct tt_cap *c, struct tt_seg *s)
{
	unsigned hl = (unsigned)(c->b[12] >> 4) * 4;

	s->sport = get16(c->b);
	s->dport = get16(c->b + 2);
	s->seq = get32(c->b + 4);
	s->ack = get32(c->b + 8);
	s->flags = c->b[13];
	s->win = get16(c->b + 14);
	s->opt = c->b + 20;
	s->optlen = hl - 20;
	s->data = c->b + hl;
	s->len = c->len - hl;
}

const uint8_t *tt_opt(const struct tt_seg *s, uint8_t kind)
{
	for (unsigned i = 0; i < s->optlen;) {
		if (s->opt[i] == 0)
			return NULL;
		if (s->opt[i] == 1) {
			i++;
			continue;
		}
		if (s->opt[i] == kind)
			return s->opt + i;
		if (i + 1 >= s->optlen || s->opt[i + 1] < 2)
			return NULL;
		i += s->opt[i + 1];
	}
	return NULL;
}

void tt_advance(struct tcps_stack *st, mxg_tstamp *now, mxg_tstamp t)
{
	mxg_tstamp dl;

	while ((dl = tcps_stack_deadline(st)) != MXG_TS_NONE && dl <= t) {
		if (dl > *now)
			*now = dl;
		tcps_stack_on_timer(st, *now);
	}
	if (t > *now)
		*now = t;
}

static void *fm_malloc(size_t n, void *ud)
{
	struct tt_failmem *f = ud;

	if (f->budget >= 0 && f->count >= f->budget)
		return NULL;
	f->count++;
	return malloc(n);
}

static void *fm_calloc(size_t n, size_t sz, void *ud)
{
	struct tt_failmem *f = ud;

	if (f->budget >= 0 && f->count >= f->budget)
		return NULL;
	f->count++;
	return calloc(n, sz);
}

static void *fm_realloc(void *p, size_t n, void *ud)
{
	struct tt_failmem *f = ud;

	if (f->budget >= 0 && f->count >= f->budget)
		return NULL;
	f->count++;
	return realloc(p, n);
}

static void fm_free(void *p, void *ud)
{
	free(p);
}

void tt_failmem_init(struct tt_failmem *f, long budget)
{
	f->mem.ud = f;
	f->mem.malloc = fm_malloc;
	f->mem.calloc = fm_calloc;
	f->mem.realloc = fm_realloc;
	f->mem.free = fm_free;
	f->budget = budget;
	f->count = 0;
}

uint64_t tt_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}
