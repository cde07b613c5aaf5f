/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_conn.c - the connection state machine: segment arrival in every
 * synchronized state and in SYN_SENT (RFC 9293 3.10.7), ACK processing
 * with RTT measurement (RFC 6298, RFC 7323 4), fast retransmit and NewReno
 * recovery (RFC 5681 3.2, RFC 6582) with SACK-guided retransmission (a
 * simplified RFC 6675: holes below the highest SACKed byte are resent one
 * per ACK, SACKed ranges are skipped), receive path with out-of-order
 * reassembly (tcps_rob.c), delayed ACKs (RFC 1122 4.2.3.2: every second
 * full segment, or delack timer), FIN handling incl. out-of-order FIN.
 *
 * Security stance (RFC 5961): an RST is honoured only when its sequence
 * number is exactly RCV.NXT; an in-window RST or any SYN on a synchronized
 * connection draws a rate-limited challenge ACK; an ACK above SND.MAX or
 * below SND.UNA - MAX.SND.WND is answered with an ACK and dropped. PAWS
 * (RFC 7323 5) drops old duplicates before the window test. Data is
 * trimmed to the window before it touches the buffer; overlaps follow the
 * one policy of tcps_rob.c (first received bytes win). Urgent data is not
 * supported: the URG flag and pointer are ignored and the bytes delivered
 * inline (RFC 6093 recommends against new uses of urgent data).
 */
#include "tcps_int.h"

static const char *const state_names[TCPS_ST__MAX] = {
	[TCPS_ST_CLOSED] = "CLOSED",         [TCPS_ST_LISTEN] = "LISTEN",
	[TCPS_ST_SYN_SENT] = "SYN_SENT",     [TCPS_ST_SYN_RCVD] = "SYN_RCVD",
	[TCPS_ST_ESTABLISHED] = "ESTABLISHED", [TCPS_ST_FIN_WAIT_1] = "FIN_WAIT_1",
	[TCPS_ST_FIN_WAIT_2] = "FIN_WAIT_2", [TCPS_ST_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPS_ST_CLOSING] = "CLOSING",       [TCPS_ST_LAST_ACK] = "LAST_ACK",
	[TCPS_ST_TIME_WAIT] = "TIME_WAIT",
};

const char *tcps_state_name(enum tcps_state st)
{
	return st < TCPS_ST__MAX ? state_names[st] : "?";
}

struct tcps_stack *tcps_conn_stack(const struct tcps_conn *c)
{
	return c->s;
}

void tcps_conn_notify_readable(struct tcps_conn *c)
{
	if (c->app_held && !c->dead && c->cbs && c->cbs->on_readable)
		c->cbs->on_readable(c, c->ud);
}

static void notify_writable(struct tcps_conn *c)
{
	if (c->app_held && !c->dead && c->cbs && c->cbs->on_writable)
		c->cbs->on_writable(c, c->ud);
}

void tcps_conn_set_state(struct tcps_conn *c, enum tcps_state st, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;

	c->state = st;
	switch (st) {
	case TCPS_ST_TIME_WAIT:
		tcps_timer_stop_all(c);
		tcps_timer_set(c, TCPS_T_2MSL, now + s->conf.time_wait);
		/* TIME_WAIT only needs the sequence state: give the buffers
		 * back now (the receive buffer once nothing is left unread),
		 * so closed connections do not hold memory for 2 MSL */
		tcps_conn_release_bufs(c, tcps_conn_readable(c) == 0 || !c->app_held);
		break;
	case TCPS_ST_FIN_WAIT_2:
		tcps_timer_stop(c, TCPS_T_RTX);
		if (!c->app_held)
			tcps_timer_set(c, TCPS_T_2MSL, now + s->conf.fin_wait2);
		break;
	case TCPS_ST_CLOSED:
		tcps_timer_stop_all(c);
		if (c->in_flow) {
			tcps_flow_del(&s->flow, c);
			c->in_flow = false;
		}
		if (!c->app_held)
			tcps_conn_destroy(c);
		break;
	default:
		break;
	}
}

void tcps_conn_error_out(struct tcps_conn *c, enum tcps_err err, mxg_tstamp now)
{
	bool held = c->app_held;

	/* Only a local refusal is announced: after a reset there is no
	 * peer state, after a timeout no reachable peer. */
	if (err == TCPS_ERR_NOMEM && tcps_state_synced(c->state) && c->state != TCPS_ST_TIME_WAIT)
		tcps_send_rst(c, now);
	c->err = err;
	tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
	if (held && !c->dead && c->cbs && c->cbs->on_error)
		c->cbs->on_error(c, err, c->ud);
}

static void rtt_sample(struct tcps_conn *c, mxg_tstamp r)
{
	const struct tcps_stack_conf *cf = &c->s->conf;
	mxg_tstamp var;

	if (r == 0)
		r = 1;
	if (c->srtt == 0) {
		c->srtt = r;
		c->rttvar = r / 2;
	} else {
		mxg_tstamp d = c->srtt > r ? c->srtt - r : r - c->srtt;

		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	var = 4 * c->rttvar;
	if (var < MXG_NSEC_PER_MSEC)
		var = MXG_NSEC_PER_MSEC; /* clock granularity G */
	c->rto = c->srtt + var;
	if (c->rto < cf->rto_min)
		c->rto = cf->rto_min;
	if (c->rto > cf->rto_max)
		c->rto = cf->rto_max;
}

/* Negotiates options from the peer's SYN or SYN-ACK. */
void tcps_take_syn_opts(struct tcps_conn *c, const struct tcps_seg *sg)
{
	const struct tcps_stack_conf *cf = &c->s->conf;
	uint16_t peer_mss = sg->o.has_mss ? sg->o.mss : (c->t.family == 6 ? 1220 : 536);

	c->ws_ok = sg->o.has_ws && !cf->no_wscale;
	c->snd_wscale = c->ws_ok ? sg->o.wscale : 0;
	if (!c->ws_ok)
		c->rcv_wscale = 0;
	c->ts_ok = sg->o.has_ts && !cf->no_timestamps;
	if (c->ts_ok)
		c->ts_recent = sg->o.tsval;
	c->sack_ok = sg->o.sack_ok && !cf->no_sack;
	if (peer_mss < TCPS_FLOOR_MSS)
		peer_mss = TCPS_FLOOR_MSS; /* a 1-byte MSS would be a CPU amplifier */
	c->mss = peer_mss < c->our_mss ? peer_mss : c->our_mss;
	if (c->ts_ok)
		c->mss -= 12;
}

void tcps_conn_established(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	struct tcps_listener *l = c->lst;

	if (tcps_conn_alloc_bufs(c) < 0) {
		tcps_conn_error_out(c, TCPS_ERR_NOMEM, now);
		return;
	}
	c->state = TCPS_ST_ESTABLISHED;
	c->nrtx = 0;
	c->quickack = s->conf.no_quickack ? 0 : 16;
	tcps_cc_init(c);
	tcps_rack_init(c);
	if (s->conf.keepalive_idle)
		tcps_timer_set(c, TCPS_T_KEEP, now + s->conf.keepalive_idle);
	if (c->passive) {
		if (l) {
			l->half_open--;
			c->lst = NULL;
		}
		s->stats.passive_opens++;
		c->app_held = true;
		if (l == NULL || l->cbs.on_accept == NULL ||
		    l->cbs.on_accept(l, c, l->ud) < 0) {
			c->app_held = false;
			c->cbs = NULL;
			if (!c->dead) {
				tcps_send_rst(c, now);
				tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
			}
		}
		return;
	}
	s->stats.active_opens++;
	if (c->cbs && c->cbs->on_connected)
		c->cbs->on_connected(c, c->ud);
}

static void syn_sent_input(struct tcps_conn *c, struct tcps_seg *sg, mxg_tstamp now)
{
	bool ack = sg->flags & TCPS_F_ACK;

	if (ack && (SEQ_LEQ(sg->ack, c->iss) || SEQ_GT(sg->ack, c->snd_max))) {
		if (!(sg->flags & TCPS_F_RST))
			tcps_send_rst_for(c->s, &c->t, sg, now);
		return;
	}
	if (sg->flags & TCPS_F_RST) {
		if (ack) {
			c->s->stats.rst_rcvd++;
			tcps_conn_error_out(c, TCPS_ERR_REFUSED, now);
		}
		return;
	}
	if (!(sg->flags & TCPS_F_SYN))
		return;
	c->irs = sg->seq;
	c->rcv_nxt = sg->seq + 1;
	tcps_take_syn_opts(c, sg);
	c->snd_wnd = sg->wnd; /* never scaled in a SYN (RFC 7323 2.2) */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = sg->seq;
	c->snd_wl2 = sg->ack;
	if (ack) {
		if (c->rtt_timing && c->nrtx == 0)
			rtt_sample(c, now - c->rtt_start);
		c->rtt_timing = false;
		c->snd_una = sg->ack;
		tcps_timer_stop(c, TCPS_T_RTX);
		c->ack_now = true;
		tcps_conn_established(c, now);
		if (c->dead || c->state != TCPS_ST_ESTABLISHED)
			return;
		tcps_output(c, now);
		return;
	}
	/* simultaneous open (RFC 9293 3.5, figure 8) */
	c->state = TCPS_ST_SYN_RCVD;
	c->rtt_timing = false;
	tcps_send_seg(c, c->iss, TCPS_F_SYN | TCPS_F_ACK, 0, now);
	tcps_rto_rearm(c, now);
}

static void sb_update(struct tcps_conn *c, const struct tcps_seg *sg)
{
	for (int b = 0; b < sg->o.nsack; b++) {
		uint32_t l = sg->o.sack[b].l, r = sg->o.sack[b].r;
		int i;

		/* only blocks inside (SND.UNA, SND.MAX] are believed */
		if (!SEQ_LT(l, r) || SEQ_LEQ(l, c->snd_una) || SEQ_GT(r, c->snd_max))
			continue;
		for (i = 0; i < c->nsb; i++) {
			if (SEQ_LEQ(l, c->sb[i].r) && SEQ_GEQ(r, c->sb[i].l)) {
				c->sb[i].l = SEQ_MIN(l, c->sb[i].l);
				c->sb[i].r = SEQ_MAX(r, c->sb[i].r);
				break;
			}
		}
		if (i == c->nsb) {
			if (c->nsb == TCPS_SB_MAX)
				continue;
			c->sb[c->nsb].l = l;
			c->sb[c->nsb].r = r;
			c->nsb++;
		}
	}
	/* merge overlaps created by extensions (tiny arrays: quadratic is fine) */
	for (int i = 0; i < c->nsb; i++)
		for (int j = i + 1; j < c->nsb; j++)
			if (SEQ_LEQ(c->sb[j].l, c->sb[i].r) && SEQ_GEQ(c->sb[j].r, c->sb[i].l)) {
				c->sb[i].l = SEQ_MIN(c->sb[i].l, c->sb[j].l);
				c->sb[i].r = SEQ_MAX(c->sb[i].r, c->sb[j].r);
				c->sb[j] = c->sb[--c->nsb];
				j = i;
			}
}

static void sb_trim(struct tcps_conn *c)
{
	for (int i = 0; i < c->nsb;) {
		if (SEQ_LEQ(c->sb[i].r, c->snd_una)) {
			c->sb[i] = c->sb[--c->nsb];
			continue;
		}
		if (SEQ_LT(c->sb[i].l, c->snd_una))
			c->sb[i].l = c->snd_una;
		i++;
	}
}

/* Retransmits one segment of the hole starting at or after |from|. */
static uint32_t retransmit_hole(struct tcps_conn *c, uint32_t from, mxg_tstamp now)
{
	uint32_t seq = SEQ_MAX(from, c->snd_una), end = c->snd_max, len;
	uint32_t fin_seq = c->iss + 1 + (uint32_t)c->snd_end_off;
	bool moved = true;

	while (moved) {
		moved = false;
		for (int i = 0; i < c->nsb; i++)
			if (SEQ_LEQ(c->sb[i].l, seq) && SEQ_LT(seq, c->sb[i].r)) {
				seq = c->sb[i].r;
				moved = true;
			}
	}
	if (SEQ_GEQ(seq, c->snd_max))
		return seq;
	for (int i = 0; i < c->nsb; i++)
		if (SEQ_GT(c->sb[i].l, seq) && SEQ_LT(c->sb[i].l, end))
			end = c->sb[i].l;
	len = tcps_min_u32(end - seq, tcps_seg_room(c));
	if (c->fin_queued && SEQ_GEQ(seq + len, fin_seq + 1))
		len = fin_seq - seq; /* FIN resent by itself below */
	c->s->stats.retransmits++;
	c->total_rtx++;
	c->rtt_timing = false;
	c->rtx_seen = true;
	c->rtx_tsval = tcps_ts_now(c, now);
	if (len == 0 && c->fin_queued && seq == fin_seq)
		tcps_send_seg(c, seq, TCPS_F_ACK | TCPS_F_FIN, 0, now);
	else if (len)
		tcps_send_seg(c, seq, TCPS_F_ACK, len, now);
	return seq + (len ? len : 1);
}

/* Does |sg| carry a SACK block for data above |una| (not a D-SACK)? */
static bool sack_news(const struct tcps_seg *sg, uint32_t una)
{
	for (int i = 0; i < sg->o.nsack; i++)
		if (SEQ_GEQ(sg->o.sack[i].l, una) && SEQ_GT(sg->o.sack[i].r, sg->o.sack[i].l))
			return true;
	return false;
}

static bool highest_sacked(const struct tcps_conn *c, uint32_t *hi)
{
	if (c->nsb == 0)
		return false;
	*hi = c->sb[0].r;
	for (int i = 1; i < c->nsb; i++)
		*hi = SEQ_MAX(*hi, c->sb[i].r);
	return true;
}

/* ACK processing for synchronized states. Returns false when the segment
 * must be dropped (or the connection went away). */
static bool process_ack(struct tcps_conn *c, struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	uint32_t ack = sg->ack, wnd = sg->wnd << c->snd_wscale;
	uint32_t fin_seq = c->iss + 1 + (uint32_t)c->snd_end_off;
	uint32_t prior_una = c->snd_una;
	bool fin_acked = false, win_update = false;
	bool rack = tcps_rack_on(c);

	if (SEQ_GT(ack, c->snd_max)) {
		tcps_send_challenge_ack(c, now);
		return false;
	}
	if (SEQ_LT(ack, c->snd_una - c->max_snd_wnd)) {
		tcps_send_challenge_ack(c, now);
		return false;
	}
	if (c->sack_ok && sg->o.nsack)
		sb_update(c, sg);

	if (SEQ_GT(ack, c->snd_una)) {
		uint32_t acked = ack - c->snd_una;
		uint64_t queued = c->snd_end_off - c->snd_una_off;
		uint32_t data_acked;

		if (c->snd_una == c->iss)
			acked--; /* our SYN */
		data_acked = acked > queued ? (uint32_t)queued : acked;
		if (c->fin_queued && SEQ_GT(ack, fin_seq))
			fin_acked = true;
		/* RTT (RFC 7323 4.1 with timestamps, else one timed segment
		 * at a time, Karn: never a retransmitted one). */
		if (c->ts_ok && sg->o.has_ts && sg->o.tsecr) {
			/* An echo older than our last retransmission may come
			 * from an ACK the peer sent for data it already had
			 * (its TS.Recent was not refreshed): skip it, the
			 * timestamp form of Karn's rule. */
			uint32_t ms = tcps_ts_now(c, now) - sg->o.tsecr;

			if (ms < 600000 && !(c->rtx_seen && SEQ_LT(sg->o.tsecr, c->rtx_tsval)))
				rtt_sample(c, (mxg_tstamp)ms * MXG_NSEC_PER_MSEC);
		} else if (c->rtt_timing && SEQ_GT(ack, c->rtt_seq)) {
			rtt_sample(c, now - c->rtt_start);
			c->rtt_timing = false;
		}
		c->nrtx = 0;
		c->snd_una_off += data_acked;
		c->snd_una = ack;
		if (SEQ_LT(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
		sb_trim(c);
		if (rack) {
			/* recovery is RACK's (tcps_rack.c); the window grows
			 * outside fast recovery, and in slow start after a
			 * timeout */
			if (!c->in_recovery || c->rk.rto_episode)
				tcps_cc_on_ack(c, data_acked, now);
		} else if (c->in_recovery) {
			if (SEQ_GEQ(ack, c->recover)) {
				/* full ACK (RFC 6582 3.2 step 3, option 1) */
				c->in_recovery = false;
				c->cwnd = tcps_min_u32(c->ssthresh,
						       tcps_max_u32(tcps_flight(c), c->mss) + c->mss);
			} else {
				/* partial ACK: resend the next hole, deflate */
				c->rtx_next = retransmit_hole(c, c->snd_una, now);
				c->cwnd = c->cwnd > data_acked ? c->cwnd - data_acked : c->mss;
				c->cwnd += c->mss;
			}
		} else {
			tcps_cc_on_ack(c, data_acked, now);
		}
		c->dupacks = 0;
		c->lt_extra = 0;
		if (c->snd_una == c->snd_max)
			tcps_timer_stop(c, TCPS_T_RTX);
		else
			tcps_rto_rearm(c, now);
	} else if (!rack && ack == c->snd_una && sg->len == 0 &&
		   !(sg->flags & (TCPS_F_SYN | TCPS_F_FIN)) && wnd == c->snd_wnd &&
		   c->snd_max != c->snd_una && (!c->sack_ok || sack_news(sg, ack))) {
		/* duplicate ACK (RFC 5681 2); with SACK only one that SACKs
		 * data above SND.UNA (RFC 6675 2 "DupAck", as Linux): a copy
		 * the network duplicated, or a D-SACK, is no sign of loss and
		 * must not start a recovery that resends the window */
		c->dupacks++;
		if (c->in_recovery) {
			uint32_t hi;

			c->cwnd += c->mss;
			if (highest_sacked(c, &hi) && SEQ_LT(c->rtx_next, hi))
				c->rtx_next = retransmit_hole(c, c->rtx_next, now);
		} else if (c->dupacks < 3) {
			/* limited transmit (RFC 3042): one new segment per
			 * of the first two duplicate ACKs */
			c->lt_extra = (uint32_t)c->dupacks * c->mss;
		} else if (c->dupacks == 3 && SEQ_GEQ(c->snd_una, c->recover)) {
			c->lt_extra = 0;
			s->stats.fast_retransmits++;
			tcps_cc_on_loss(c, now);
			c->recover = c->snd_max;
			c->in_recovery = true;
			c->cwnd = c->ssthresh + 3u * c->mss;
			c->rtt_timing = false;
			c->rtx_next = retransmit_hole(c, c->snd_una, now);
			tcps_rto_rearm(c, now);
		}
	}

	if (rack)
		tcps_rack_on_ack(c, sg, prior_una, now);

	/* send window update (RFC 9293 3.10.7.4) */
	if (SEQ_LT(c->snd_wl1, sg->seq) ||
	    (c->snd_wl1 == sg->seq && SEQ_LEQ(c->snd_wl2, ack))) {
		if (c->snd_wnd == 0 && wnd > 0)
			win_update = true;
		c->snd_wnd = wnd;
		c->snd_wl1 = sg->seq;
		c->snd_wl2 = ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
	}
	if (win_update && c->persist) {
		c->persist = false;
		c->nrtx = 0;
		tcps_timer_stop(c, TCPS_T_PERSIST);
	}

	if (c->want_writable && c->sndb.buf &&
	    c->snd_end_off - c->snd_una_off < c->sndb.size) {
		c->want_writable = false;
		notify_writable(c);
		if (c->dead)
			return false;
	}

	if (fin_acked) {
		switch (c->state) {
		case TCPS_ST_FIN_WAIT_1:
			tcps_conn_set_state(c, TCPS_ST_FIN_WAIT_2, now);
			break;
		case TCPS_ST_CLOSING:
			tcps_conn_set_state(c, TCPS_ST_TIME_WAIT, now);
			return false;
		case TCPS_ST_LAST_ACK:
			tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
			return false;
		default:
			break;
		}
	}
	return !c->dead;
}

static void process_fin(struct tcps_conn *c, mxg_tstamp now)
{
	c->fin_pending = false;
	c->fin_rcvd = true;
	c->rcv_nxt++;
	c->ack_now = true;
	switch (c->state) {
	case TCPS_ST_SYN_RCVD:
	case TCPS_ST_ESTABLISHED:
		c->state = TCPS_ST_CLOSE_WAIT;
		break;
	case TCPS_ST_FIN_WAIT_1:
		if (c->snd_una == c->snd_max) {
			tcps_send_ack(c, now);
			tcps_conn_set_state(c, TCPS_ST_TIME_WAIT, now);
		} else {
			c->state = TCPS_ST_CLOSING;
		}
		break;
	case TCPS_ST_FIN_WAIT_2:
		tcps_send_ack(c, now);
		tcps_conn_set_state(c, TCPS_ST_TIME_WAIT, now);
		break;
	default:
		break;
	}
	tcps_conn_notify_readable(c);
}

/* Segment text (RFC 9293 3.10.7.4 seventh step) and FIN (eighth). */
static void process_data(struct tcps_conn *c, struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	uint32_t seq = sg->seq, len = sg->len, space;
	const uint8_t *data = sg->data;
	bool fin = sg->flags & TCPS_F_FIN;
	bool can_rcv = c->state == TCPS_ST_ESTABLISHED || c->state == TCPS_ST_FIN_WAIT_1 ||
		       c->state == TCPS_ST_FIN_WAIT_2;
	struct tcps_rob_range gaps[TCPS_ROB_MAX_RANGES + 2];
	uint64_t off;
	bool had_ooo;
	int ng;

	if (!can_rcv || c->fin_rcvd)
		return; /* after the peer's FIN nothing more is data */
	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip > len) {
			/* only the FIN (or nothing) is new */
			s->stats.rx_dup_bytes += len;
			data += len;
			len = 0;
			if (skip > sg->len + 1)
				fin = false;
		} else {
			s->stats.rx_dup_bytes += skip;
			data += skip;
			len -= skip;
		}
		if (c->sack_ok) /* report the duplicate part (RFC 2883) */
			tcps_dsack_note(c, seq, SEQ_MIN(c->rcv_nxt, seq + sg->len));
		seq = c->rcv_nxt;
		c->ack_now = true;
	}
	if (len && !c->app_held) {
		/* orphaned (application closed): new data cannot be
		 * delivered; tell the peer (RFC 9293 3.10.4, Linux) */
		tcps_send_rst(c, now);
		tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
		return;
	}
	space = tcps_max_u32(c->rcv_adv - c->rcv_nxt, 0);
	if (SEQ_LT(c->rcv_adv, c->rcv_nxt))
		space = 0;
	{
		uint64_t used = c->rcv_nxt_off - c->rcv_rd_off;
		uint32_t free = c->rcvb.size > used ? c->rcvb.size - (uint32_t)used : 0;

		if (free > space)
			space = free; /* accept what fits even beyond the advertised edge */
	}
	if ((seq - c->rcv_nxt) + (uint64_t)len > space) {
		uint32_t keep = (seq - c->rcv_nxt) < space ? space - (seq - c->rcv_nxt) : 0;

		len = keep;
		fin = false;
		c->ack_now = true;
	}
	off = c->rcv_nxt_off + (seq - c->rcv_nxt);
	had_ooo = c->rob.n > 0;
	if (len) {
		ng = tcps_rob_push(&c->rob, c->rcv_nxt_off, off, len, gaps);
		if (ng < 0) {
			s->stats.rx_ooo_drop++;
			c->ack_now = true;
			return;
		}
		for (int i = 0; i < ng; i++)
			tcps_ring_write(&c->rcvb, gaps[i].start, data + (gaps[i].start - off),
					(uint32_t)(gaps[i].end - gaps[i].start));
		if (ng == 0) {
			s->stats.rx_dup_bytes += len;
			if (c->sack_ok) /* a copy of out-of-order data we hold */
				tcps_dsack_note(c, seq, seq + len);
		}
	}
	if (fin && !c->fin_pending) {
		c->fin_pending = true;
		c->fin_off = off + len;
		c->ack_now = true; /* a FIN beyond a hole: duplicate ACK */
	}
	if (off == c->rcv_nxt_off && len) {
		uint64_t end = tcps_rob_pop(&c->rob, c->rcv_nxt_off);

		if (c->fin_pending && end > c->fin_off)
			end = c->fin_off; /* data beyond a FIN is not data */
		c->rcv_nxt += (uint32_t)(end - c->rcv_nxt_off);
		c->rcv_nxt_off = end;
		/* RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK every second segment,
		 * at once when a hole was (partly) filled, else delay. */
		if (had_ooo || ++c->unacked_segs >= 2)
			c->ack_now = true;
		if (c->quickack) {
			/* quick ACKs while the peer's window grows (Linux) */
			c->quickack--;
			c->ack_now = true;
		}
		if (!c->ack_now && c->tm[TCPS_T_DELACK] == MXG_TS_NONE)
			tcps_timer_set(c, TCPS_T_DELACK, now + s->conf.delack);
		if (c->fin_pending && c->rcv_nxt_off == c->fin_off) {
			process_fin(c, now);
			return;
		}
		tcps_conn_notify_readable(c);
	} else if (len) {
		s->stats.rx_ooo++;
		c->ack_now = true; /* duplicate ACK with SACK for fast retransmit */
	}
	if (c->fin_pending && c->rcv_nxt_off == c->fin_off && !c->dead)
		process_fin(c, now);
}

void tcps_conn_input(struct tcps_conn *c, struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	uint32_t seglen = sg->len + !!(sg->flags & TCPS_F_SYN) + !!(sg->flags & TCPS_F_FIN);
	uint32_t rwnd;
	bool ok;

	if (c->state == TCPS_ST_SYN_SENT) {
		syn_sent_input(c, sg, now);
		return;
	}
	if (c->state == TCPS_ST_CLOSED || c->state == TCPS_ST_LISTEN)
		return;

	if (c->state == TCPS_ST_SYN_RCVD && (sg->flags & TCPS_F_SYN) && sg->seq == c->irs &&
	    !(sg->flags & (TCPS_F_RST | TCPS_F_FIN))) {
		if (!(sg->flags & TCPS_F_ACK)) {
			/* retransmitted SYN: our SYN-ACK was lost, resend it */
			tcps_send_seg(c, c->iss, TCPS_F_SYN | TCPS_F_ACK, 0, now);
			return;
		}
		/* simultaneous open: the peer's SYN-ACK repeats its SYN and
		 * acknowledges ours; take it as the ACK that completes the
		 * handshake rather than waiting for one more round trip */
		sg->flags &= (uint8_t)~TCPS_F_SYN;
		sg->seq++;
	}

	/* PAWS (RFC 7323 5.3 R1) */
	if (c->ts_ok && sg->o.has_ts && !(sg->flags & TCPS_F_RST) &&
	    SEQ_LT(sg->o.tsval, c->ts_recent)) {
		s->stats.rx_paws++;
		tcps_send_ack(c, now);
		return;
	}

	/* acceptability (RFC 9293 3.10.7.4 first check) */
	rwnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if (c->rcvb.buf) {
		uint64_t used = c->rcv_nxt_off - c->rcv_rd_off;
		uint32_t free = c->rcvb.size > used ? c->rcvb.size - (uint32_t)used : 0;

		rwnd = tcps_max_u32(rwnd, free);
	}
	if (seglen == 0)
		ok = rwnd == 0 ? sg->seq == c->rcv_nxt
			       : SEQ_GEQ(sg->seq, c->rcv_nxt) && SEQ_LT(sg->seq, c->rcv_nxt + rwnd);
	else if (rwnd == 0)
		ok = sg->seq == c->rcv_nxt; /* ACK/RST processing; text trimmed later */
	else
		ok = (SEQ_GEQ(sg->seq, c->rcv_nxt) && SEQ_LT(sg->seq, c->rcv_nxt + rwnd)) ||
		     (SEQ_GEQ(sg->seq + seglen - 1, c->rcv_nxt) &&
		      SEQ_LT(sg->seq + seglen - 1, c->rcv_nxt + rwnd));
	if (!ok) {
		s->stats.rx_out_of_window++;
		/* a whole duplicate below RCV.NXT: say so (RFC 2883 4.1.1) */
		if (c->sack_ok && sg->len && tcps_state_synced(c->state) &&
		    SEQ_LEQ(sg->seq + sg->len, c->rcv_nxt))
			tcps_dsack_note(c, sg->seq, sg->seq + sg->len);
		if (!(sg->flags & TCPS_F_RST)) {
			if (c->state == TCPS_ST_TIME_WAIT && (sg->flags & TCPS_F_FIN))
				tcps_timer_set(c, TCPS_T_2MSL, now + s->conf.time_wait);
			tcps_send_ack(c, now);
		}
		return;
	}
	c->last_rx = now;
	c->keep_probes = 0;

	/* RST (RFC 5961 3.2) */
	if (sg->flags & TCPS_F_RST) {
		if (sg->seq != c->rcv_nxt) {
			tcps_send_challenge_ack(c, now);
			return;
		}
		s->stats.rst_rcvd++;
		switch (c->state) {
		case TCPS_ST_SYN_RCVD:
			if (c->passive) {
				tcps_conn_set_state(c, TCPS_ST_CLOSED, now); /* back to LISTEN */
				return;
			}
			tcps_conn_error_out(c, TCPS_ERR_REFUSED, now);
			return;
		case TCPS_ST_ESTABLISHED:
		case TCPS_ST_FIN_WAIT_1:
		case TCPS_ST_FIN_WAIT_2:
		case TCPS_ST_CLOSE_WAIT:
			tcps_conn_error_out(c, TCPS_ERR_RESET, now);
			return;
		default: /* CLOSING, LAST_ACK, TIME_WAIT */
			tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
			return;
		}
	}

	/* SYN on a synchronized connection (RFC 5961 4.2) */
	if (sg->flags & TCPS_F_SYN) {
		tcps_send_challenge_ack(c, now);
		return;
	}

	if (!(sg->flags & TCPS_F_ACK))
		return;

	if (c->state == TCPS_ST_SYN_RCVD) {
		if (!(SEQ_GT(sg->ack, c->snd_una) && SEQ_LEQ(sg->ack, c->snd_max))) {
			tcps_send_rst_for(s, &c->t, sg, now);
			return;
		}
		if (c->rtt_timing && c->nrtx == 0)
			rtt_sample(c, now - c->rtt_start);
		c->rtt_timing = false;
		c->snd_wnd = sg->wnd << c->snd_wscale;
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = sg->seq;
		c->snd_wl2 = sg->ack;
		c->snd_una = sg->ack; /* == ISS + 1: the SYN is acknowledged */
		if (SEQ_LT(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
		tcps_timer_stop(c, TCPS_T_RTX);
		tcps_conn_established(c, now);
		if (c->dead || c->state != TCPS_ST_ESTABLISHED)
			return;
	}

	if (!process_ack(c, sg, now))
		return;
	/* TS.Recent (RFC 7323 4.3), only once the segment passed every
	 * check: a segment with a bogus ACK must not move it */
	if (c->ts_ok && sg->o.has_ts && SEQ_GEQ(sg->o.tsval, c->ts_recent) &&
	    SEQ_LEQ(sg->seq, c->last_ack_sent))
		c->ts_recent = sg->o.tsval;
	if (c->state == TCPS_ST_TIME_WAIT) {
		if (sg->flags & TCPS_F_FIN) {
			tcps_send_ack(c, now);
			tcps_timer_set(c, TCPS_T_2MSL, now + s->conf.time_wait);
		}
		return;
	}
	if (sg->len || (sg->flags & TCPS_F_FIN))
		process_data(c, sg, now);
	if (c->dead || c->state == TCPS_ST_CLOSED)
		return;
	tcps_output(c, now);
}
