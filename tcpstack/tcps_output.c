/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_output.c - building and sending segments: data, ACKs, SYN/SYN-ACK,
 * RST; retransmission timeout and persist probes.
 *
 * RFC 9293 3.8.6 (window management, sender and receiver SWS avoidance),
 * RFC 6298 (RTO: Karn's rule, backoff; the timer is restarted when new data
 * is acknowledged), RFC 7323 (TSopt on every segment once negotiated; the
 * receive window is never shrunk), RFC 2018 (SACK blocks, the most recent
 * first), RFC 5961 10 (challenge ACK rate limit), RFC 1122 4.2.3.4 (persist:
 * Linux-style probe with SEG.SEQ = SND.UNA - 1, no data, backed off like the
 * RTO; it never gives up while the peer answers).
 *
 * Option layout copies Linux (MSS, SACK-permitted + TS, NOP + window scale;
 * NOP NOP TS on data; NOP NOP SACK blocks) so that the packetdrill scripts
 * written against Linux compare byte for byte.
 *
 * Nagle is not implemented: the engines above write whole replies (SMTP
 * lines, message chunks) and Nagle interacting with delayed ACKs would only
 * add latency to the SMTP dialogue. Sender-side SWS avoidance still holds
 * back a short segment while data is in flight and the window is small.
 * Segments are built in the stack's scratch buffer and handed to
 * io->output(), which copies them into a frame (one copy; building straight
 * into an mbuf through a seg_alloc op is the planned zero-copy step).
 */
#include "tcps_int.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

void tcps_ring_write(struct tcps_ring *r, uint64_t off, const uint8_t *p, uint32_t n)
{
	uint32_t pos = (uint32_t)(off & (r->size - 1));
	uint32_t first = tcps_min_u32(n, r->size - pos);

	memcpy(r->buf + pos, p, first);
	if (n > first)
		memcpy(r->buf, p + first, n - first);
}

void tcps_ring_read(const struct tcps_ring *r, uint64_t off, uint8_t *p, uint32_t n)
{
	uint32_t pos = (uint32_t)(off & (r->size - 1));
	uint32_t first = tcps_min_u32(n, r->size - pos);

	memcpy(p, r->buf + pos, first);
	if (n > first)
		memcpy(p + first, r->buf, n - first);
}

uint32_t tcps_ts_now(const struct tcps_conn *c, mxg_tstamp now)
{
	return (uint32_t)(now / MXG_NSEC_PER_MSEC) + c->ts_off;
}

uint32_t tcps_flight(const struct tcps_conn *c)
{
	return c->snd_max - c->snd_una;
}

static uint32_t rcv_space(const struct tcps_conn *c)
{
	uint32_t size = c->rcvb.buf ? c->rcvb.size : c->s->conf.rcvbuf;
	uint64_t used = c->rcv_nxt_off - c->rcv_rd_off;
	uint32_t max = (uint32_t)65535 << c->rcv_wscale;

	if (used >= size)
		return 0;
	return tcps_min_u32(size - (uint32_t)used, max);
}

/* Window to advertise (unscaled bytes): never shrinks the right edge
 * already advertised (RFC 7323 2.4) and only opens by at least
 * min(buffer / 2, MSS) at a time (receiver SWS avoidance, RFC 9293
 * 3.8.6.2.2). */
uint32_t tcps_rcv_window(const struct tcps_conn *c)
{
	uint32_t size = c->rcvb.buf ? c->rcvb.size : c->s->conf.rcvbuf;
	uint32_t free = rcv_space(c);
	uint32_t old = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t thr = tcps_min_u32(size / 2, c->our_mss);

	if (free < old)
		return old; /* cannot happen with a ring, kept as a guard */
	if (free - old < thr && free < size)
		return old;
	return free;
}

static unsigned write_syn_opts(uint8_t *p, uint16_t mss, bool sack, bool ts, uint32_t tsval,
			       uint32_t tsecr, bool ws, uint8_t wscale)
{
	unsigned n = 0;

	p[n++] = 2;
	p[n++] = 4;
	put16(p + n, mss);
	n += 2;
	if (ts) {
		if (sack) {
			p[n++] = 4;
			p[n++] = 2;
		} else {
			p[n++] = 1;
			p[n++] = 1;
		}
		p[n++] = 8;
		p[n++] = 10;
		put32(p + n, tsval);
		put32(p + n + 4, tsecr);
		n += 8;
	} else if (sack) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 4;
		p[n++] = 2;
	}
	if (ws) {
		p[n++] = 1;
		p[n++] = 3;
		p[n++] = 3;
		p[n++] = wscale;
	}
	return n;
}

static unsigned write_data_opts(const struct tcps_conn *c, uint8_t *p, mxg_tstamp now)
{
	unsigned n = 0;

	if (c->ts_ok) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 8;
		p[n++] = 10;
		put32(p + n, tcps_ts_now(c, now));
		put32(p + n + 4, c->ts_recent);
		n += 8;
	}
	if (c->sack_ok && (c->rob.n > 0 || c->dsack_pending)) {
		struct tcps_rob_range rr[TCPS_MAX_SACK_BLOCKS];
		int max = c->ts_ok ? 3 : 4;
		int nd = c->dsack_pending ? 1 : 0;
		int nb = tcps_rob_sack(&c->rob, rr, max - nd);

		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 5;
		p[n++] = (uint8_t)(2 + 8 * (nb + nd));
		if (nd) {
			/* D-SACK first (RFC 2883 4) */
			put32(p + n, c->dsack_l);
			put32(p + n + 4, c->dsack_r);
			n += 8;
		}
		for (int i = 0; i < nb; i++) {
			/* stream offset -> sequence number */
			uint32_t l = c->rcv_nxt + (uint32_t)(rr[i].start - c->rcv_nxt_off);
			uint32_t r = c->rcv_nxt + (uint32_t)(rr[i].end - c->rcv_nxt_off);

			put32(p + n, l);
			put32(p + n + 4, r);
			n += 8;
		}
	}
	return n;
}

/* SACK blocks ride on data segments too (write_data_opts), so the payload
 * must shrink by their size or the frame exceeds the MTU: a kernel peer on
 * a veth drops such frames, a tap accepts them (Linux does the same,
 * tcp_current_mss). */
uint32_t tcps_seg_room(const struct tcps_conn *c)
{
	int nb = c->rob.n + (c->dsack_pending ? 1 : 0);

	if (!c->sack_ok || nb == 0)
		return c->mss;
	nb = nb < (c->ts_ok ? 3 : 4) ? nb : (c->ts_ok ? 3 : 4);
	return c->mss - (4u + 8u * (uint32_t)nb);
}

void tcps_dsack_note(struct tcps_conn *c, uint32_t l, uint32_t r)
{
	if (!SEQ_LT(l, r))
		return;
	c->dsack_pending = true;
	c->dsack_l = l;
	c->dsack_r = r;
}

/* Writes the header and hands the segment to io->output. Payload, if any,
 * comes from |rb| at stream offset |off|. */
static int emit(struct tcps_stack *s, const struct tcps_tuple *t, uint32_t seq, uint32_t ack,
		uint8_t flags, uint16_t win, const uint8_t *opt, unsigned optlen,
		const struct tcps_ring *rb, uint64_t off, uint32_t len, mxg_tstamp now)
{
	uint8_t *p = s->scratch;
	unsigned hl = TCPS_HDR_LEN + ((optlen + 3) & ~3u);
	struct mxg_ip src, dst;
	int rc;

	if (MXG_BUG_ON(hl + len > sizeof(s->scratch)))
		return MXG_E_INTERNAL;
	put16(p, t->lport);
	put16(p + 2, t->rport);
	put32(p + 4, seq);
	put32(p + 8, (flags & TCPS_F_ACK) ? ack : 0);
	p[12] = (uint8_t)((hl / 4) << 4);
	p[13] = flags;
	put16(p + 14, win);
	put16(p + 16, 0);
	put16(p + 18, 0);
	if (optlen)
		memcpy(p + TCPS_HDR_LEN, opt, optlen);
	memset(p + TCPS_HDR_LEN + optlen, 0, hl - TCPS_HDR_LEN - optlen); /* EOL padding */
	if (len)
		tcps_ring_read(rb, off, p + hl, len);
	tcps_ip_of(&src, t->family, t->laddr);
	tcps_ip_of(&dst, t->family, t->raddr);
	if (!s->conf.tx_csum_offload)
		put16(p + 16, tcps_csum(&src, &dst, p, hl + len));
	s->stats.tx_segs++;
	if (flags & TCPS_F_RST)
		s->stats.rst_sent++;
	rc = s->ops->output(s->io, &src, &dst, p, (uint16_t)(hl + len), now);
	if (rc < 0)
		s->stats.tx_errors++;
	return rc;
}

static uint16_t window_field(struct tcps_conn *c, bool syn)
{
	uint32_t w = tcps_rcv_window(c);
	uint32_t scaled;

	if (syn)
		return (uint16_t)tcps_min_u32(w, 65535);
	scaled = (w + (1u << c->rcv_wscale) - 1) >> c->rcv_wscale;
	if ((scaled << c->rcv_wscale) > rcv_space(c))
		scaled = rcv_space(c) >> c->rcv_wscale;
	if (scaled > 65535)
		scaled = 65535;
	return (uint16_t)scaled;
}

int tcps_send_seg(struct tcps_conn *c, uint32_t seq, uint8_t flags, uint32_t len, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	uint8_t opt[40];
	unsigned optlen;
	uint16_t win;
	uint64_t off = 0;
	bool syn = flags & TCPS_F_SYN;

	if (syn) {
		bool peer = c->state != TCPS_ST_SYN_SENT;

		/* In SYN-ACKs we echo only what the peer offered (ts_ok etc.
		 * already hold the negotiated result); a SYN offers all. */
		optlen = write_syn_opts(opt, c->our_mss,
					peer ? c->sack_ok : !s->conf.no_sack,
					peer ? c->ts_ok : !s->conf.no_timestamps,
					tcps_ts_now(c, now), peer ? c->ts_recent : 0,
					peer ? c->ws_ok : !s->conf.no_wscale, c->rcv_wscale);
	} else {
		optlen = write_data_opts(c, opt, now);
		if (c->dsack_pending && c->sack_ok) {
			c->dsack_pending = false; /* reported once */
			s->stats.dsack_sent++;
		}
	}
	win = window_field(c, syn);
	if (len) {
		off = c->snd_una_off + (uint32_t)(seq - c->snd_una);
		if (MXG_BUG_ON(off + len > c->snd_end_off))
			return MXG_E_INTERNAL;
	}
	if (flags & TCPS_F_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		if (syn)
			c->rcv_adv = c->rcv_nxt + win;
		else
			c->rcv_adv = c->rcv_nxt + ((uint32_t)win << c->rcv_wscale);
		c->unacked_segs = 0;
		c->ack_now = false;
		if (c->tm[TCPS_T_DELACK] != MXG_TS_NONE)
			tcps_timer_stop(c, TCPS_T_DELACK);
	}
	return emit(s, &c->t, seq, c->rcv_nxt, flags, win, opt, optlen, &c->sndb, off, len, now);
}

/* Sequence number of a pure ACK. SND.MAX, not SND.NXT: after an RTO
 * rewound SND.NXT, a pure ACK with the old sequence number would be
 * unacceptable to a peer that already holds those bytes, and each side
 * would answer the other's ACK with an ACK forever (BSD does the same).
 * But never beyond the right edge of the peer's window (Linux's
 * tcp_acceptable_seq): when data was sent past a window the peer then
 * closed (its buffer filled), SND.MAX is outside it, the peer drops
 * every such ACK unread, never learns what we received, and both sides
 * wait for each other. */
static uint32_t ack_seq(const struct tcps_conn *c)
{
	uint32_t edge = c->snd_una + c->snd_wnd;

	if (c->state >= TCPS_ST_ESTABLISHED && SEQ_GT(c->snd_una, c->iss) &&
	    SEQ_GT(c->snd_max, edge))
		return edge;
	return c->snd_max;
}

void tcps_send_ack(struct tcps_conn *c, mxg_tstamp now)
{
	if (c->state == TCPS_ST_SYN_SENT || c->state == TCPS_ST_CLOSED || c->dead)
		return;
	tcps_send_seg(c, ack_seq(c), TCPS_F_ACK, 0, now);
}

void tcps_send_challenge_ack(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	uint64_t sec = now / MXG_NSEC_PER_SEC;

	if (sec != s->cack_sec) {
		s->cack_sec = sec;
		s->cack_count = 0;
	}
	if (s->cack_count >= s->conf.challenge_ack_per_sec) {
		s->stats.challenge_ack_limited++;
		return;
	}
	s->cack_count++;
	s->stats.challenge_acks++;
	tcps_send_seg(c, ack_seq(c), TCPS_F_ACK, 0, now);
}

void tcps_send_rst(struct tcps_conn *c, mxg_tstamp now)
{
	uint8_t opt[12];
	unsigned optlen = 0;

	if (c->ts_ok) {
		opt[0] = 1;
		opt[1] = 1;
		opt[2] = 8;
		opt[3] = 10;
		put32(opt + 4, tcps_ts_now(c, now));
		put32(opt + 8, c->ts_recent);
		optlen = 12;
	}
	emit(c->s, &c->t, c->snd_max, c->rcv_nxt, TCPS_F_RST | TCPS_F_ACK, 0, opt, optlen, NULL,
	     0, 0, now);
}

void tcps_send_rst_for(struct tcps_stack *s, const struct tcps_tuple *t, const struct tcps_seg *sg,
		       mxg_tstamp now)
{
	uint32_t seglen = sg->len + !!(sg->flags & TCPS_F_SYN) + !!(sg->flags & TCPS_F_FIN);

	if (sg->flags & TCPS_F_RST)
		return;
	if (sg->flags & TCPS_F_ACK)
		emit(s, t, sg->ack, 0, TCPS_F_RST, 0, NULL, 0, NULL, 0, 0, now);
	else
		emit(s, t, 0, sg->seq + seglen, TCPS_F_RST | TCPS_F_ACK, 0, NULL, 0, NULL, 0, 0,
		     now);
}

void tcps_send_synack_stateless(struct tcps_stack *s, const struct tcps_tuple *t, uint32_t iss,
				uint32_t ack, uint16_t mss, const struct tcps_opts *peer,
				uint32_t tsval, uint8_t wscale, mxg_tstamp now)
{
	uint8_t opt[40];
	bool ts = peer->has_ts && !s->conf.no_timestamps;
	unsigned optlen = write_syn_opts(opt, mss, peer->sack_ok && !s->conf.no_sack, ts, tsval,
					 peer->tsval, peer->has_ws && ts && !s->conf.no_wscale,
					 wscale);

	emit(s, t, iss, ack, TCPS_F_SYN | TCPS_F_ACK,
	     (uint16_t)tcps_min_u32(s->conf.rcvbuf, 65535), opt, optlen, NULL, 0, 0, now);
}

/* Sender SACK scoreboard: is [seq, seq+1) already SACKed; if so, where does
 * that SACKed range end. */
static bool sacked_at(const struct tcps_conn *c, uint32_t seq, uint32_t *end)
{
	for (int i = 0; i < c->nsb; i++)
		if (SEQ_LEQ(c->sb[i].l, seq) && SEQ_LT(seq, c->sb[i].r)) {
			*end = c->sb[i].r;
			return true;
		}
	return false;
}

void tcps_output(struct tcps_conn *c, mxg_tstamp now)
{
	bool sent = false, sent_new = false;
	bool rack = tcps_rack_on(c);
	unsigned nsent = 0;

	if (c->dead || c->state < TCPS_ST_ESTABLISHED || c->state == TCPS_ST_TIME_WAIT)
		goto ack;
	/* RACK: what was deemed lost goes first (tcps_rack.c) */
	if (rack && c->rk.lost_bytes && tcps_rack_retransmit(c, now))
		sent = true;
	for (;;) {
		uint64_t nxt_off = c->snd_una_off + (uint32_t)(c->snd_nxt - c->snd_una);
		uint32_t fin_seq = c->iss + 1 + (uint32_t)c->snd_end_off;
		uint32_t unsent = nxt_off < c->snd_end_off ? (uint32_t)(c->snd_end_off - nxt_off) : 0;
		uint32_t wnd = tcps_min_u32(c->snd_wnd, c->cwnd + c->lt_extra);
		uint32_t infl = c->snd_nxt - c->snd_una;
		uint32_t avail = wnd > infl ? wnd - infl : 0;
		uint32_t room = tcps_seg_room(c);
		uint32_t len;
		uint32_t skip_end;
		uint8_t flags = TCPS_F_ACK;
		bool fin;

		if (rack) {
			/* the peer's window bounds the sequence space in
			 * flight, cwnd the bytes in the network (RFC 6675
			 * pipe); a tail loss probe ignores cwnd */
			uint32_t pipe = tcps_rack_pipe(c);
			uint32_t rw = c->snd_wnd > infl ? c->snd_wnd - infl : 0;
			uint32_t cw = c->cwnd > pipe ? c->cwnd - pipe : 0;

			avail = c->rk.tlp_send ? rw : tcps_min_u32(rw, cw);
		}
		len = tcps_min_u32(tcps_min_u32(unsent, room), avail);
		/* SACK recovery: do not resend what the peer holds. */
		if (c->nsb && SEQ_LT(c->snd_nxt, c->snd_max) &&
		    sacked_at(c, c->snd_nxt, &skip_end)) {
			c->snd_nxt = SEQ_MIN(skip_end, c->snd_max);
			continue;
		}
		if (len && SEQ_LT(c->snd_nxt, c->snd_max)) {
			/* retransmission: stop at the next SACKed range */
			for (int i = 0; i < c->nsb; i++)
				if (SEQ_GT(c->sb[i].l, c->snd_nxt) &&
				    SEQ_LT(c->sb[i].l, c->snd_nxt + len))
					len = c->sb[i].l - c->snd_nxt;
		}
		fin = c->fin_queued && c->snd_nxt + len == fin_seq;
		if (len == 0 && !fin)
			break;
		if (len == 0 && fin && unsent == 0 && avail == 0 && c->snd_wnd == 0 &&
		    SEQ_LT(c->snd_una, c->snd_nxt))
			break;
		/* sender SWS avoidance: hold a runt while data is in flight */
		if (len && len < room && len < unsent && infl > 0)
			break;
		if (fin)
			flags |= TCPS_F_FIN;
		/* PSH on the last segment of the queued data, or on the last
		 * of a multi-segment burst cut by the windows (where Linux
		 * ends a TSO burst); a lone window-limited segment (limited
		 * transmit, ACK clocking) goes without, as in Linux. */
		if (len && (len == unsent || (nsent > 0 && avail - len < room)))
			flags |= TCPS_F_PSH;
		if (SEQ_LT(c->snd_nxt, c->snd_max)) {
			c->s->stats.retransmits++;
			c->total_rtx++;
			c->rtx_seen = true;
			c->rtx_tsval = tcps_ts_now(c, now);
		} else if (!c->ts_ok && !c->rtt_timing && c->nrtx == 0) {
			c->rtt_timing = true;
			c->rtt_seq = c->snd_nxt;
			c->rtt_start = now;
		}
		tcps_send_seg(c, c->snd_nxt, flags, len, now);
		sent = true;
		nsent++;
		if (rack && c->snd_nxt == c->snd_max) {
			tcps_rack_sent(c, c->snd_nxt, c->snd_nxt + len + (fin ? 1 : 0), fin, false,
				       now);
			sent_new = true;
		}
		c->snd_nxt += len + (fin ? 1 : 0);
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (c->tm[TCPS_T_RTX] == MXG_TS_NONE)
			tcps_rto_rearm(c, now);
		if (c->persist) {
			c->persist = false;
			tcps_timer_stop(c, TCPS_T_PERSIST);
		}
		if (!rack && c->in_recovery && c->nsb == 0)
			break; /* NewReno: one retransmission per partial ACK */
		if (fin || c->rk.tlp_send)
			break;
	}
	if (sent_new)
		tcps_rack_arm_tlp(c, now);
	/* Zero window with data waiting and nothing in flight: probe. */
	if (!sent && c->snd_wnd == 0 && c->snd_una == c->snd_max &&
	    (c->snd_end_off > c->snd_una_off || c->fin_queued) &&
	    c->tm[TCPS_T_PERSIST] == MXG_TS_NONE && c->state != TCPS_ST_TIME_WAIT &&
	    c->state != TCPS_ST_FIN_WAIT_2) {
		c->persist = true;
		tcps_timer_stop(c, TCPS_T_RTX);
		tcps_timer_stop(c, TCPS_T_TLP);
		tcps_timer_set(c, TCPS_T_PERSIST, now + c->rto);
	}
ack:
	if (!sent && c->ack_now && !c->dead) {
		/* in a receive batch, in-order ACKs go once at its end
		 * (tcps_stack_rx_end); duplicate ACKs at once */
		if (c->s->rx_batch && c->rob.n == 0)
			tcps_ack_defer(c);
		else
			tcps_send_ack(c, now);
	}
}

void tcps_rto_timeout(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;

	s->stats.rto_fired++;
	if (c->state == TCPS_ST_SYN_SENT || c->state == TCPS_ST_SYN_RCVD) {
		if (c->nrtx >= s->conf.syn_retries) {
			tcps_conn_error_out(c, TCPS_ERR_TIMEOUT, now);
			return;
		}
		c->nrtx++;
		s->stats.retransmits++;
		c->total_rtx++;
		tcps_send_seg(c, c->iss,
			      TCPS_F_SYN | (c->state == TCPS_ST_SYN_RCVD ? TCPS_F_ACK : 0), 0, now);
		tcps_rto_rearm(c, now);
		return;
	}
	if (c->snd_una == c->snd_max)
		return;
	if (c->nrtx >= s->conf.max_retries) {
		tcps_conn_error_out(c, TCPS_ERR_TIMEOUT, now);
		return;
	}
	if (tcps_rack_on(c)) {
		tcps_rack_on_rto(c, now);
		return;
	}
	tcps_cc_on_rto(c, now);
	c->nrtx++;
	c->in_recovery = false;
	c->dupacks = 0;
	c->rtt_timing = false; /* Karn */
	c->nsb = 0;            /* the receiver may have reneged (RFC 2018 8) */
	c->recover = c->snd_max;
	c->snd_nxt = c->snd_una;
	tcps_rto_rearm(c, now);
	tcps_output(c, now);
}

void tcps_persist_timeout(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;
	mxg_tstamp iv = c->rto;

	if (!c->persist)
		return;
	if (c->snd_wnd != 0) {
		c->persist = false;
		tcps_output(c, now);
		return;
	}
	s->stats.persist_probes++;
	tcps_send_seg(c, c->snd_una - 1, TCPS_F_ACK, 0, now);
	if (c->nrtx < 16)
		c->nrtx++;
	for (int i = 0; i < c->nrtx && iv < s->conf.rto_max; i++)
		iv *= 2;
	if (iv > s->conf.rto_max)
		iv = s->conf.rto_max;
	tcps_timer_set(c, TCPS_T_PERSIST, now + iv);
}
