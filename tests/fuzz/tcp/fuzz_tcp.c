/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_tcp.c - libFuzzer target for the TCP core. One stack (IPv4 and
 * IPv6 listeners, small buffers and limits so they are hit) is driven by a
 * byte program:
 *
 *	0: segment to the listener or a tracked connection, built from the
 *	   input with sequence/ack numbers relative to the connection's state
 *	   or to the last segment the stack sent (so the fuzzer completes
 *	   handshakes and reaches in-window paths), arbitrary flags, window,
 *	   options and payload
 *	1: advance time (up to ~65 s) and run the timers
 *	2: application call on a tracked connection (send, recv, peek,
 *	   shutdown, close, abort)
 *	3: active open
 *	4: raw bytes as a segment (header parser)
 *
 * Checksums are not verified (rx_csum_ok) so the inputs reach the state
 * machine. Invariants: sanitizers, MXG_BUG_ON (aborts in debug builds),
 * connection and memory limits, and every segment the stack emits must be
 * well formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxg_err.h"
#include "tcps.h"

#define NCONN 8

struct fz {
	struct tcps_stack *s;
	struct tcps_conn *c[NCONN];
	mxg_tstamp now;
	const uint8_t *p;
	size_t n;
};

static struct fz *cur;

/* The last segment the stack sent: "reply" mode builds on it, so the
 * fuzzer completes handshakes without guessing our ISN. */
static struct {
	bool valid;
	struct mxg_ip src, dst;
	uint16_t sport, dport;
	uint32_t next_seq, ack;
} last;

static int out(void *io, const struct mxg_ip *src, const struct mxg_ip *dst, const uint8_t *seg,
	       uint16_t len, mxg_tstamp now)
{
	unsigned doff;

	if (len < 20)
		abort();
	doff = (unsigned)(seg[12] >> 4) * 4;
	if (doff < 20 || doff > len || src->family != dst->family)
		abort();
	if (!(seg[13] & 0x04)) {
		last.valid = true;
		last.src = *src;
		last.dst = *dst;
		last.sport = (uint16_t)(seg[0] << 8 | seg[1]);
		last.dport = (uint16_t)(seg[2] << 8 | seg[3]);
		last.next_seq = ((uint32_t)seg[4] << 24 | (uint32_t)seg[5] << 16 |
				 (uint32_t)seg[6] << 8 | seg[7]) +
				(len - doff) + !!(seg[13] & 0x03);
		last.ack = (uint32_t)seg[8] << 24 | (uint32_t)seg[9] << 16 |
			   (uint32_t)seg[10] << 8 | seg[11];
	}
	return 0;
}

static const struct tcps_io_ops ops = {.output = out};

static void forget(struct tcps_conn *c)
{
	for (int i = 0; i < NCONN; i++)
		if (cur->c[i] == c)
			cur->c[i] = NULL;
}

static void on_readable(struct tcps_conn *c, void *ud)
{
	uint8_t buf[512];

	/* read a little, sometimes not at all, to exercise back-pressure */
	if (((uintptr_t)c >> 4) & 1)
		tcps_conn_recv(c, buf, sizeof(buf), cur->now);
}

static void on_error(struct tcps_conn *c, enum tcps_err e, void *ud)
{
	if (((uintptr_t)c >> 5) & 1) {
		forget(c);
		tcps_conn_close(c, cur->now); /* close from inside a callback */
	}
}

static void on_writable(struct tcps_conn *c, void *ud)
{
	static const uint8_t z[300];

	tcps_conn_send(c, z, sizeof(z), cur->now);
}

static const struct tcps_conn_callbacks cbs = {
	.on_readable = on_readable,
	.on_error = on_error,
	.on_writable = on_writable,
};

static int on_accept(struct tcps_listener *l, struct tcps_conn *c, void *ud)
{
	for (int i = 0; i < NCONN; i++)
		if (cur->c[i] == NULL) {
			cur->c[i] = c;
			tcps_conn_set_callbacks(c, &cbs, NULL);
			return 0;
		}
	return -1;
}

static const struct tcps_listener_callbacks lcbs = {.on_accept = on_accept};

static int take(struct fz *f, void *dst, size_t n)
{
	if (f->n < n)
		return -1;
	memcpy(dst, f->p, n);
	f->p += n;
	f->n -= n;
	return 0;
}

static uint8_t byte(struct fz *f)
{
	uint8_t b = 0;

	take(f, &b, 1);
	return b;
}

static uint16_t u16(struct fz *f)
{
	return (uint16_t)(byte(f) | byte(f) << 8);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

static struct mxg_ip ip_l4, ip_r4, ip_l6, ip_r6;

static void op_segment(struct fz *f)
{
	uint8_t seg[1600];
	uint8_t sel = byte(f), flags = byte(f), optlen = byte(f) % 41;
	int16_t dseq = (int16_t)u16(f), dack = (int16_t)u16(f);
	uint16_t win = u16(f), plen = u16(f) % 1400;
	bool v6 = sel & 0x80;
	uint16_t sport = (uint16_t)(40000 + (sel & 7)), dport = 25;
	uint32_t seq = (uint32_t)dseq, ack = (uint32_t)dack;
	struct tcps_conn *c = cur->c[(sel >> 3) & (NCONN - 1)];
	struct mxg_ip la, ra;
	unsigned hl;

	if ((sel & 0x40) && c) {
		struct tcps_conn_info ci;

		tcps_conn_info(c, &ci);
		tcps_conn_addrs(c, &la, &dport, &ra, &sport);
		seq += ci.rcv_nxt;
		ack += ci.snd_una;
		v6 = la.family == 6;
	}
	la = v6 ? ip_l6 : ip_l4;
	ra = v6 ? ip_r6 : ip_r4;
	if (c && (sel & 0x40))
		tcps_conn_addrs(c, &la, NULL, &ra, NULL);
	if (!c && (sel & 0x40) && last.valid) {
		/* reply to the last segment we saw */
		la = last.src;
		ra = last.dst;
		dport = last.sport;
		sport = last.dport;
		seq += last.ack;
		ack += last.next_seq;
	}
	optlen &= ~3u;
	hl = 20 + optlen;
	put16(seg, sport);
	put16(seg + 2, dport);
	put32(seg + 4, seq);
	put32(seg + 8, ack);
	seg[12] = (uint8_t)((hl / 4) << 4);
	seg[13] = flags;
	put16(seg + 14, win);
	put32(seg + 16, 0);
	memset(seg + 20, 0, optlen);
	take(f, seg + 20, optlen);
	memset(seg + hl, 'x', plen);
	tcps_stack_input(cur->s, &ra, &la, seg, (uint16_t)(hl + plen), cur->now);
}

static void op_app(struct fz *f)
{
	uint8_t sel = byte(f), what = byte(f);
	uint16_t n = u16(f) % 5000;
	struct tcps_conn *c = cur->c[sel % NCONN];
	static uint8_t buf[5000];
	const uint8_t *p;

	if (c == NULL)
		return;
	switch (what % 7) {
	case 0:
		tcps_conn_send(c, buf, n, cur->now);
		break;
	case 1:
		tcps_conn_recv(c, buf, n, cur->now);
		break;
	case 2: {
		size_t k = tcps_conn_peek(c, &p);

		if (k > n)
			k = n;
		tcps_conn_consume(c, k, cur->now);
		break;
	}
	case 3:
		tcps_conn_shutdown(c, cur->now);
		break;
	case 4:
		forget(c);
		tcps_conn_close(c, cur->now);
		break;
	case 5:
		forget(c);
		tcps_conn_abort(c, cur->now);
		break;
	case 6:
		(void)tcps_conn_writable(c);
		(void)tcps_conn_eof(c);
		(void)tcps_conn_state(c);
		break;
	}
}

static void op_connect(struct fz *f)
{
	uint8_t sel = byte(f);
	struct tcps_conn *c;
	bool v6 = sel & 1;

	for (int i = 0; i < NCONN; i++)
		if (cur->c[i] == NULL) {
			if (tcps_connect(cur->s, v6 ? &ip_l6 : &ip_l4, (uint16_t)(50000 + (sel >> 1)),
					 v6 ? &ip_r6 : &ip_r4, 25,
					 (sel & 2) ? TCPS_CC_CUBIC : TCPS_CC_NEWRENO, &cbs, NULL,
					 cur->now, &c) == 0)
				cur->c[i] = c;
			return;
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcps_stack_conf cf;
	struct tcps_listen_conf lc = {.backlog = 2};
	struct fz f;
	const struct tcps_stats *st;

	memset(&f, 0, sizeof(f));
	memset(&cf, 0, sizeof(cf));
	cf.secret[0] = 1;
	cf.rcvbuf = 4096;
	cf.sndbuf = 4096;
	cf.max_conns = 16;
	cf.mem_max = 6 * 8192;
	cf.ooo_max_ranges = 4;
	cf.rx_csum_ok = true;
	cf.keepalive_idle = 5 * MXG_NSEC_PER_SEC;
	cf.time_wait = 3 * MXG_NSEC_PER_SEC;
	mxg_ip_parse("10.0.0.1", &ip_l4);
	mxg_ip_parse("10.0.0.2", &ip_r4);
	mxg_ip_parse("2001:db8::1", &ip_l6);
	mxg_ip_parse("2001:db8::2", &ip_r6);
	f.p = data;
	f.n = size;
	memset(&last, 0, sizeof(last));
	f.now = MXG_NSEC_PER_SEC;
	cur = &f;
	f.s = tcps_stack_new(&cf, &ops, &f, NULL);
	if (f.s == NULL)
		return 0;
	if (size > 0 && (data[0] & 1))
		lc.cc = TCPS_CC_CUBIC;
	tcps_listen(f.s, &ip_l4, 25, &lc, &lcbs, NULL, NULL);
	{
		struct mxg_ip any6 = {.family = 6};

		tcps_listen(f.s, &any6, 25, &lc, &lcbs, NULL, NULL);
	}
	st = tcps_stack_stats(f.s);
	while (f.n > 0) {
		switch (byte(&f) % 5) {
		case 0:
			op_segment(&f);
			break;
		case 1: {
			mxg_tstamp d = (mxg_tstamp)u16(&f) * MXG_NSEC_PER_MSEC;

			f.now += d;
			if (tcps_stack_deadline(f.s) <= f.now)
				tcps_stack_on_timer(f.s, f.now);
			break;
		}
		case 2:
			op_app(&f);
			break;
		case 3:
			op_connect(&f);
			break;
		case 4: {
			uint8_t raw[200];
			uint8_t n = byte(&f) % 200;

			memset(raw, 0, sizeof(raw));
			take(&f, raw, n);
			tcps_stack_input(f.s, &ip_r4, &ip_l4, raw, n, f.now);
			break;
		}
		}
		if (st->conns > cf.max_conns || st->mem_used > cf.mem_max)
			abort();
	}
	/* drain: long time passes, every timer runs */
	for (int i = 0; i < 50; i++) {
		f.now += 10 * MXG_NSEC_PER_SEC;
		tcps_stack_on_timer(f.s, f.now);
	}
	tcps_stack_free(f.s);
	cur = NULL;
	return 0;
}
