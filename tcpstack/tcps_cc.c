/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_cc.c - congestion control: NewReno (RFC 5681, RFC 6582) and CUBIC
 * (RFC 9438), selected per connection (listener or connect argument).
 *
 * Initial window 10 segments (RFC 6928). Slow start grows by the bytes
 * acknowledged, at most 2 SMSS per ACK (RFC 3465, L = 2). Fast recovery
 * window inflation/deflation lives in tcps_conn.c (it is the same for both
 * controllers); this file decides ssthresh and the growth in congestion
 * avoidance. CUBIC uses double arithmetic (C = 0.4, beta = 0.7) with its own
 * Newton cube root, so the core does not link libm; it includes the
 * Reno-friendly region (4.3) and fast convergence (4.7).
 */
#include "tcps_int.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))

static double cbrt_d(double x)
{
	double y;

	if (x <= 0)
		return 0;
	y = x > 1 ? x / 3 : 1;
	for (int i = 0; i < 60; i++) {
		double ny = y - (y * y * y - x) / (3 * y * y);

		if (ny == y)
			break;
		y = ny;
	}
	return y;
}

void tcps_cc_init(struct tcps_conn *c)
{
	c->cwnd = 10u * c->mss;
	c->ssthresh = UINT32_MAX;
	c->bytes_acked = 0;
	memset(&c->cubic, 0, sizeof(c->cubic));
}

static void cubic_ca(struct tcps_conn *c, uint32_t acked, mxg_tstamp now)
{
	double mss = c->mss, cw = (double)c->cwnd / mss, t, target, inc;

	if (c->cubic.epoch == 0) {
		c->cubic.epoch = now ? now : 1;
		if (cw < c->cubic.w_max) {
			c->cubic.k = cbrt_d((c->cubic.w_max - cw) / CUBIC_C);
		} else {
			c->cubic.k = 0;
			c->cubic.w_max = cw;
		}
		c->cubic.w_est = cw;
	}
	t = (double)(now - c->cubic.epoch + c->srtt) / MXG_NSEC_PER_SEC;
	target = CUBIC_C * (t - c->cubic.k) * (t - c->cubic.k) * (t - c->cubic.k) +
		 c->cubic.w_max;
	if (target < cw)
		target = cw;
	if (target > 1.5 * cw)
		target = 1.5 * cw;
	c->cubic.w_est += CUBIC_ALPHA * ((double)acked / mss) / cw;
	if (c->cubic.w_est > target)
		target = c->cubic.w_est;
	/* cwnd += (target - cwnd) / cwnd per segment acknowledged, with the
	 * fraction carried in bytes_acked so small ACKs still count. */
	inc = (target - cw) / cw * (double)acked + c->bytes_acked;
	if (inc >= 1) {
		uint64_t add = (uint64_t)inc;

		c->bytes_acked = 0;
		if ((uint64_t)c->cwnd + add > UINT32_MAX / 2)
			c->cwnd = UINT32_MAX / 2;
		else
			c->cwnd += (uint32_t)add;
	} else {
		c->bytes_acked = (uint32_t)(inc > 0 ? inc : 0);
	}
}

void tcps_cc_on_ack(struct tcps_conn *c, uint32_t acked, mxg_tstamp now)
{
	if (c->cwnd < c->ssthresh) {
		c->cwnd += tcps_min_u32(acked, 2u * c->mss);
		return;
	}
	if (c->cc == TCPS_CC_CUBIC) {
		cubic_ca(c, acked, now);
		return;
	}
	c->bytes_acked += acked;
	if (c->bytes_acked >= c->cwnd) {
		c->bytes_acked -= c->cwnd;
		if (c->cwnd < UINT32_MAX / 2)
			c->cwnd += c->mss;
	}
}

void tcps_cc_on_loss(struct tcps_conn *c, mxg_tstamp now)
{
	uint32_t flight = tcps_flight(c);

	/* with RACK the sequence space in flight may hold SACKed data far
	 * beyond cwnd (tcps_rack.c): halve what the window allowed */
	if (tcps_rack_on(c))
		flight = tcps_min_u32(flight, c->cwnd);
	c->bytes_acked = 0;
	if (c->cc == TCPS_CC_CUBIC) {
		double cw = (double)c->cwnd / c->mss;

		/* fast convergence (RFC 9438 4.7) */
		if (cw < c->cubic.w_max)
			c->cubic.w_max = cw * (1.0 + CUBIC_BETA) / 2.0;
		else
			c->cubic.w_max = cw;
		c->cubic.epoch = 0;
		c->ssthresh = tcps_max_u32((uint32_t)(c->cwnd * CUBIC_BETA), 2u * c->mss);
		return;
	}
	c->ssthresh = tcps_max_u32(flight / 2, 2u * c->mss);
}

void tcps_cc_on_rto(struct tcps_conn *c, mxg_tstamp now)
{
	/* RFC 5681 (4): only the first timeout of a series lowers ssthresh */
	if (c->nrtx == 0)
		tcps_cc_on_loss(c, now);
	c->cwnd = c->mss;
	c->bytes_acked = 0;
}
