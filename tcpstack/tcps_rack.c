/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_rack.c - loss recovery for SACK connections: RACK-TLP (RFC 8985)
 * over per-segment transmission records, D-SACK (RFC 2883) driven
 * adaptation of the reordering window, and undo of a congestion window
 * reduction shown to be spurious (RFC 3708 D-SACK accounting, RFC 3522
 * Eifel detection with timestamps, RFC 4015 response).
 *
 * Why: a duplicate-ACK threshold counts segments, so any path that
 * reorders by more than three segments (netem jitter, multipath, link
 * layer retries) looks lossy: every reordering became a fast retransmit
 * and a halved window. RACK instead asks "was a segment sent at least
 * reo_wnd before one that has been delivered?" - a question about time,
 * not counts - and waits out the reordering window before deeming it
 * lost. TLP sends one probe 2 SRTT after the last transmission so that a
 * lost tail is repaired by SACK recovery instead of an RTO.
 *
 * Records: one per segment sent and not yet cumulatively acknowledged,
 * in sequence order in a ring (cap = sndbuf / 1 KiB, 64..1024). A full
 * ring coalesces new data into the last record (coarser, never wrong:
 * the RTO stays the backstop). A record is SACKED (the peer holds it),
 * LOST (deemed lost, not retransmitted since) or in flight; pipe (RFC
 * 6675) = SND.MAX - SND.UNA - sacked - lost. The records are the
 * sender's scoreboard here; c->sb[] stays for the classic (non-SACK)
 * path's bookkeeping only.
 *
 * Recovery: the first loss of an episode sets ssthresh (tcps_cc_on_loss)
 * and cwnd = ssthresh (RFC 6675 5 step 4.2); lost records are resent
 * while pipe < cwnd, then new data. The episode ends when SND.UNA passes
 * the SND.MAX at its start. An RTO marks lost what RFC 8985 6.3 says
 * (the first record, and every one whose reordering window has passed)
 * with cwnd = 1 MSS.
 *
 * Deliberate choices, documented in docs/tcp.md: PTO = 2 SRTT + 2 ms
 * (+ 200 ms worst-case delayed ACK when one segment is in flight), capped
 * at the RTO expiry, as Linux; reo_wnd = max(min_rtt, SRTT / 2) / 4 x
 * mult, at most SRTT, mult doubled per round trip that brings a D-SACK
 * or ends in an undo and back to 1 after 16 recoveries without one (RFC
 * 8985 6.2 step 4 adds 1 and uses min_rtt alone: see widen_reo_wnd and
 * reo_wnd); min_rtt is the minimum over the connection (no windowed
 * filter). Records are not
 * counted in mem_used (like the out-of-order range array, they are
 * bookkeeping of at most 2.4 % of the send buffer).
 */
#include "tcps_int.h"

#define DUPTHRESH 3
#define WCDELACK (200 * MXG_NSEC_PER_MSEC) /* RFC 8985 7.2 WCDelAckT */
#define PTO_SLACK (2 * MXG_NSEC_PER_MSEC)  /* as Linux' TCP_TIMEOUT_MIN */
#define REO_PERSIST 16

static inline struct tcps_txrec *rec_at(const struct tcps_conn *c, uint32_t i)
{
	return &c->rk.r[(c->rk.head + i) % c->rk.cap];
}

static inline uint32_t rec_len(const struct tcps_txrec *r)
{
	return r->end - r->seq;
}

/* Was (t1, s1) sent after (t2, s2)? (RFC 8985 6.2 RACK_sent_after) */
static inline bool sent_after(mxg_tstamp t1, uint32_t s1, mxg_tstamp t2, uint32_t s2)
{
	return t1 > t2 || (t1 == t2 && SEQ_GT(s1, s2));
}

void tcps_rack_init(struct tcps_conn *c)
{
	struct tcps_stack *s = c->s;
	uint32_t cap = s->conf.sndbuf / 1024;

	if (c->rk.r || !c->sack_ok || !c->sndb.buf || c->snd_una != c->snd_max)
		return;
	cap = cap < 64 ? 64 : cap > 1024 ? 1024 : cap;
	c->rk.r = mxg_malloc(s->mem, cap * sizeof(*c->rk.r));
	if (c->rk.r == NULL)
		return; /* the classic recovery still works */
	c->rk.cap = (uint16_t)cap;
	c->rk.head = c->rk.n = 0;
	c->rk.reo_wnd_mult = 1;
	c->rk.fack = c->snd_una;
	c->rk.end_seq = c->snd_una;
}

void tcps_rack_release(struct tcps_conn *c)
{
	if (c->rk.r == NULL)
		return;
	mxg_free(c->s->mem, c->rk.r);
	memset(&c->rk, 0, sizeof(c->rk));
}

uint32_t tcps_rack_pipe(const struct tcps_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;
	uint32_t out = c->rk.sacked_bytes + c->rk.lost_bytes;

	return flight > out ? flight - out : 0;
}

static void set_flags(struct tcps_conn *c, struct tcps_txrec *r, uint8_t set, uint8_t clr)
{
	uint8_t old = r->flags, nw = (uint8_t)((old | set) & ~clr);
	uint32_t len = rec_len(r);

	if ((old ^ nw) & TCPS_TXR_SACKED) {
		if (nw & TCPS_TXR_SACKED) {
			c->rk.sacked_bytes += len;
			c->rk.sacked_segs++;
		} else {
			c->rk.sacked_bytes -= len;
			c->rk.sacked_segs--;
		}
	}
	if ((old ^ nw) & TCPS_TXR_LOST) {
		if (nw & TCPS_TXR_LOST)
			c->rk.lost_bytes += len;
		else
			c->rk.lost_bytes -= len;
	}
	if ((old ^ nw) & TCPS_TXR_RETRANS) {
		if (nw & TCPS_TXR_RETRANS)
			c->rk.rtx_recs++;
		else
			c->rk.rtx_recs--;
	}
	r->flags = nw;
}

/* Drops |n| sequence numbers from the front of record |r| (a partial
 * cumulative ACK). */
static void trim_front(struct tcps_conn *c, struct tcps_txrec *r, uint32_t n)
{
	if (r->flags & TCPS_TXR_SACKED)
		c->rk.sacked_bytes -= n;
	if (r->flags & TCPS_TXR_LOST)
		c->rk.lost_bytes -= n;
	r->seq += n;
}

/* First record whose end is above |seq| (n if none). */
static uint32_t find(const struct tcps_conn *c, uint32_t seq)
{
	uint32_t lo = 0, hi = c->rk.n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (SEQ_GT(rec_at(c, mid)->end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Splits record |i| at |seq| (strictly inside it) when the ring has
 * room; returns false otherwise. Both halves keep the flags (the FIN
 * stays with the second). */
static bool split(struct tcps_conn *c, uint32_t i, uint32_t seq)
{
	struct tcps_txrec *r = rec_at(c, i), *t;

	if (c->rk.n == c->rk.cap || !SEQ_GT(seq, r->seq) || !SEQ_LT(seq, r->end))
		return false;
	for (uint32_t j = c->rk.n; j > i; j--)
		*rec_at(c, j) = *rec_at(c, j - 1);
	c->rk.n++;
	r = rec_at(c, i);
	t = rec_at(c, i + 1);
	r->end = seq;
	r->flags &= (uint8_t)~TCPS_TXR_FIN;
	t->seq = seq;
	/* bytes are unchanged; the per-record counts gain one */
	if (t->flags & TCPS_TXR_SACKED)
		c->rk.sacked_segs++;
	if (t->flags & TCPS_TXR_RETRANS)
		c->rk.rtx_recs++;
	return true;
}

void tcps_rack_sent(struct tcps_conn *c, uint32_t seq, uint32_t end, bool fin, bool rtx,
		    mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	struct tcps_txrec *t;

	if (!rk->r || rtx || seq == end)
		return;
	t = rk->n ? rec_at(c, rk->n - 1) : NULL;
	if (t && MXG_BUG_ON(t->end != seq))
		return;
	if (rk->n == rk->cap) {
		/* full: coalesce with the newest record (see the file comment);
		 * the merged record is in flight again */
		set_flags(c, t, 0, TCPS_TXR_SACKED | TCPS_TXR_LOST);
		t->end = end;
		t->xmit = now;
		if (fin)
			t->flags |= TCPS_TXR_FIN;
		return;
	}
	t = rec_at(c, rk->n++);
	t->seq = seq;
	t->end = end;
	t->xmit = now;
	t->flags = fin ? TCPS_TXR_FIN : 0;
}

/* RFC 8985 6.2 steps 2 and 3 for a record newly delivered (cumulatively
 * ACKed or SACKed). */
static void rack_update(struct tcps_conn *c, const struct tcps_txrec *r,
			const struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	mxg_tstamp rtt = now - r->xmit;

	if (SEQ_GT(r->end, rk->fack))
		rk->fack = r->end;
	else if (SEQ_LT(r->end, rk->fack) && !(r->flags & TCPS_TXR_RETRANS))
		rk->reordering_seen = true;
	if (r->flags & TCPS_TXR_RETRANS) {
		/* ambiguous: the ACK may be for the original */
		if (c->ts_ok && sg->o.has_ts && sg->o.tsecr &&
		    SEQ_LT(sg->o.tsecr, tcps_ts_now(c, r->xmit)))
			return;
		if (rk->min_rtt && rtt < rk->min_rtt)
			return;
	}
	rk->rtt = rtt;
	if (rk->min_rtt == 0 || rtt < rk->min_rtt)
		rk->min_rtt = rtt ? rtt : 1;
	if (sent_after(r->xmit, r->end, rk->xmit, rk->end_seq)) {
		rk->xmit = r->xmit;
		rk->end_seq = r->end;
	}
}

static mxg_tstamp reo_wnd(const struct tcps_conn *c)
{
	const struct tcps_rack *rk = &c->rk;
	mxg_tstamp w;

	if (!rk->reordering_seen && (c->in_recovery || rk->sacked_segs >= DUPTHRESH))
		return 0;
	/* min_rtt floored at SRTT / 2: one lucky sample that skipped a delay
	 * queue (netem "reorder") must not shrink the window to nothing */
	w = rk->min_rtt > c->srtt / 2 ? rk->min_rtt : c->srtt / 2;
	w = w / 4 * rk->reo_wnd_mult;
	return c->srtt && w > c->srtt ? c->srtt : w;
}

/* RFC 8985 6.2 step 5: marks lost records; returns the time until the
 * next one may become lost (0: none waiting). */
static mxg_tstamp detect_loss(struct tcps_conn *c, mxg_tstamp now, uint32_t *newly)
{
	struct tcps_rack *rk = &c->rk;
	mxg_tstamp reo = reo_wnd(c), timeout = 0;

	*newly = 0;
	if (rk->sacked_segs == 0 && rk->rtx_recs == 0)
		return 0; /* everything after the reference was sent later */
	for (uint32_t i = 0; i < rk->n; i++) {
		struct tcps_txrec *r = rec_at(c, i);
		mxg_tstamp due;

		if (rk->rtx_recs == 0 && SEQ_GEQ(r->seq, rk->end_seq))
			break; /* originals are in send order */
		if (r->flags & (TCPS_TXR_SACKED | TCPS_TXR_LOST))
			continue;
		if (!sent_after(rk->xmit, rk->end_seq, r->xmit, r->end))
			continue;
		due = r->xmit + rk->rtt + reo;
		if (due <= now) {
			set_flags(c, r, TCPS_TXR_LOST, 0);
			c->s->stats.rack_lost++;
			(*newly)++;
		} else if (due - now > timeout) {
			timeout = due - now;
		}
	}
	return timeout;
}

static void start_undo(struct tcps_conn *c, bool rto)
{
	struct tcps_rack *rk = &c->rk;

	rk->undo_on = true;
	rk->rto_episode = rto;
	rk->undo_una = c->snd_una;
	rk->undo_max = c->snd_max;
	rk->undo_retrans = 0;
	rk->undo_ts_set = false;
	rk->prior_cwnd = c->cwnd;
	rk->prior_ssthresh = c->ssthresh;
	rk->prior_wmax = c->cubic.w_max;
}

/* One widening per round trip (RFC 8985 6.2 step 4). The RFC adds one
 * min_rtt / 4 per round; we double, up to SRTT: when min_rtt is far
 * below the typical RTT (netem "reorder": some segments skip the delay)
 * one step is a sliver of the reordering and +1 per round would need
 * dozens of rounds of spurious retransmissions. */
static void widen_reo_wnd(struct tcps_conn *c)
{
	struct tcps_rack *rk = &c->rk;

	rk->dsack_round_on = true;
	rk->dsack_round = c->snd_max;
	if (c->srtt == 0 || reo_wnd(c) < c->srtt)
		rk->reo_wnd_mult = rk->reo_wnd_mult >= UINT8_MAX / 2 ? UINT8_MAX
								   : (uint8_t)(rk->reo_wnd_mult * 2);
	rk->reo_wnd_persist = REO_PERSIST;
}

/* The reduction was spurious: restore what it took (RFC 4015 3.2: the
 * window before the episode; RFC 3708: D-SACK showed every
 * retransmission unnecessary). */
static void undo(struct tcps_conn *c)
{
	struct tcps_rack *rk = &c->rk;

	c->cwnd = tcps_max_u32(c->cwnd, rk->prior_cwnd);
	c->ssthresh = tcps_max_u32(c->ssthresh, rk->prior_ssthresh);
	c->cubic.w_max = rk->prior_wmax;
	c->cubic.epoch = 0;
	c->bytes_acked = 0;
	rk->undo_on = false;
	rk->reordering_seen = true;
	c->s->stats.spurious_undos++;
	/* the reordering window was too small: widen it as a D-SACK round
	 * would (our extension of RFC 8985 6.2 step 4: without a
	 * retransmission there is no D-SACK to tell) */
	if (!rk->dsack_round_on)
		widen_reo_wnd(c);
	if (c->in_recovery) {
		c->in_recovery = false;
		for (uint32_t i = 0; i < rk->n; i++)
			set_flags(c, rec_at(c, i), 0, TCPS_TXR_LOST);
	}
}

static void enter_recovery(struct tcps_conn *c, mxg_tstamp now)
{
	start_undo(c, false);
	c->s->stats.fast_retransmits++;
	tcps_cc_on_loss(c, now);
	c->cwnd = c->ssthresh;
	c->recover = c->snd_max;
	c->in_recovery = true;
	c->rtt_timing = false;
	c->rk.tlp_on = false;
}

static void exit_recovery(struct tcps_conn *c)
{
	struct tcps_rack *rk = &c->rk;

	c->in_recovery = false;
	if (rk->reo_wnd_persist > 0 && --rk->reo_wnd_persist == 0)
		rk->reo_wnd_mult = 1;
}

/* D-SACK (RFC 2883 4): the first block is below the cumulative ACK, or
 * inside the second block. */
static bool is_dsack(const struct tcps_seg *sg)
{
	const struct tcps_sack_blk *b = sg->o.sack;

	if (sg->o.nsack == 0 || !SEQ_LT(b[0].l, b[0].r))
		return false;
	if (SEQ_LEQ(b[0].r, sg->ack))
		return true;
	return sg->o.nsack > 1 && SEQ_GEQ(b[0].l, b[1].l) && SEQ_LEQ(b[0].r, b[1].r);
}

static void mark_sacked(struct tcps_conn *c, uint32_t l, uint32_t r, const struct tcps_seg *sg,
			mxg_tstamp now)
{
	uint32_t i;

	if (!SEQ_LT(l, r) || SEQ_GT(r, c->snd_max) || SEQ_LEQ(r, c->snd_una))
		return;
	if (SEQ_LT(l, c->snd_una))
		l = c->snd_una;
	for (i = find(c, l); i < c->rk.n; i++) {
		struct tcps_txrec *x = rec_at(c, i);

		if (SEQ_GEQ(x->seq, r))
			break;
		if (x->flags & TCPS_TXR_SACKED)
			continue;
		/* partly covered: split at the block's edges if possible */
		if (SEQ_LT(x->seq, l)) {
			if (split(c, i, l))
				continue; /* the next index is the covered part */
			continue;
		}
		if (SEQ_GT(x->end, r)) {
			if (!split(c, i, r))
				continue;
			x = rec_at(c, i);
		}
		set_flags(c, x, TCPS_TXR_SACKED, TCPS_TXR_LOST);
		rack_update(c, x, sg, now);
	}
}

static void rack_arm_reo(struct tcps_conn *c, mxg_tstamp timeout, mxg_tstamp now)
{
	if (timeout)
		tcps_timer_set(c, TCPS_T_REO, now + timeout);
	else
		tcps_timer_stop(c, TCPS_T_REO);
}

static void after_loss_check(struct tcps_conn *c, uint32_t newly, mxg_tstamp now)
{
	if (newly && !c->in_recovery)
		enter_recovery(c, now);
}

void tcps_rack_on_ack(struct tcps_conn *c, const struct tcps_seg *sg, uint32_t prior_una,
		      mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	struct tcps_stack *s = c->s;
	bool dsack = c->sack_ok && is_dsack(sg);
	bool advanced = SEQ_GT(c->snd_una, prior_una);
	uint32_t newly;
	mxg_tstamp timeout;

	if (dsack) {
		const struct tcps_sack_blk *b = &sg->o.sack[0];

		s->stats.dsack_rcvd++;
		if (rk->undo_on && rk->undo_retrans > 0 && SEQ_GEQ(b->l, rk->undo_una) &&
		    SEQ_LEQ(b->r, rk->undo_max)) {
			uint32_t segs = (b->r - b->l + c->mss - 1) / c->mss;

			rk->undo_retrans = segs >= rk->undo_retrans ? 0 : rk->undo_retrans - segs;
		}
	}
	/* cumulatively acknowledged records */
	while (rk->n) {
		struct tcps_txrec *r = rec_at(c, 0);

		if (SEQ_GT(r->end, c->snd_una)) {
			if (SEQ_LT(r->seq, c->snd_una)) {
				if (!(r->flags & TCPS_TXR_SACKED))
					rack_update(c, r, sg, now);
				trim_front(c, r, c->snd_una - r->seq);
			}
			break;
		}
		if (!(r->flags & TCPS_TXR_SACKED))
			rack_update(c, r, sg, now);
		set_flags(c, r, 0, TCPS_TXR_SACKED | TCPS_TXR_LOST | TCPS_TXR_RETRANS);
		rk->head = (uint16_t)((rk->head + 1) % rk->cap);
		rk->n--;
	}
	/* then the SACKed ones (after the cumulative ACK, so that what it
	 * covers does not look reordered against the SACKed data above) */
	for (int i = dsack ? 1 : 0; i < sg->o.nsack; i++)
		mark_sacked(c, sg->o.sack[i].l, sg->o.sack[i].r, sg, now);

	/* reordering window adaptation (RFC 8985 6.2 step 4) */
	if (rk->dsack_round_on && SEQ_GEQ(c->snd_una, rk->dsack_round))
		rk->dsack_round_on = false;
	if (dsack && !rk->dsack_round_on)
		widen_reo_wnd(c);

	/* spurious retransmission: Eifel detection (RFC 3522: the ACK echoes
	 * a timestamp older than our first retransmission, so an original
	 * made it) on the first ACK of new data after a timeout and on the
	 * ACK that ends a fast recovery; D-SACK (RFC 3708: every
	 * retransmission came back duplicated) at or after the end */
	if (advanced && rk->undo_on && rk->undo_ts_set && c->in_recovery && c->ts_ok &&
	    sg->o.has_ts && sg->o.tsecr && SEQ_LT(sg->o.tsecr, rk->undo_tsval) &&
	    (rk->rto_episode ? rk->eifel_pending : SEQ_GEQ(c->snd_una, c->recover)))
		undo(c);
	if (advanced)
		rk->eifel_pending = false;
	if (c->in_recovery && SEQ_GEQ(c->snd_una, c->recover)) {
		exit_recovery(c);
		rk->rto_episode = false;
	}
	/* an episode that ended without a retransmission still owed (none
	 * sent: every "lost" segment was SACKed late, or each one came back
	 * as a D-SACK; late D-SACKs count until the next episode) was
	 * reordering */
	if (rk->undo_on && !c->in_recovery && rk->undo_retrans == 0)
		undo(c);

	/* TLP episode (RFC 8985 7.4) */
	if (rk->tlp_on && SEQ_GEQ(c->snd_una, rk->tlp_end_seq)) {
		if (!rk->tlp_is_retrans) {
			rk->tlp_on = false;
		} else if (dsack && sg->o.sack[0].r == rk->tlp_end_seq) {
			rk->tlp_on = false; /* original and probe both arrived */
		} else if (SEQ_GT(c->snd_una, rk->tlp_end_seq)) {
			/* the probe repaired a loss: react as to one */
			rk->tlp_on = false;
			if (!c->in_recovery) {
				tcps_cc_on_loss(c, now);
				c->cwnd = c->ssthresh;
			}
		}
	}

	timeout = detect_loss(c, now, &newly);
	after_loss_check(c, newly, now);
	rack_arm_reo(c, timeout, now);
	if (c->snd_una == c->snd_max) {
		tcps_timer_stop(c, TCPS_T_TLP);
		tcps_timer_stop(c, TCPS_T_REO);
	} else if (advanced) {
		tcps_rack_arm_tlp(c, now);
	}
}

void tcps_rack_reo_timeout(struct tcps_conn *c, mxg_tstamp now)
{
	uint32_t newly;
	mxg_tstamp timeout;

	if (!tcps_rack_on(c))
		return;
	timeout = detect_loss(c, now, &newly);
	after_loss_check(c, newly, now);
	rack_arm_reo(c, timeout, now);
	if (newly)
		tcps_output(c, now);
}

/* Sends record |r| again (in several segments if it no longer fits one)
 * and updates its state. Returns the segments sent. */
static unsigned send_rec(struct tcps_conn *c, struct tcps_txrec *r, mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	bool fin = r->flags & TCPS_TXR_FIN;
	uint32_t seq = r->seq, dend = r->end - (fin ? 1 : 0);
	uint32_t last = c->iss + 1 + (uint32_t)c->snd_end_off; /* after the queued data */
	unsigned n = 0;

	for (;;) {
		uint32_t len = tcps_min_u32(dend - seq, tcps_seg_room(c));
		uint8_t fl = TCPS_F_ACK;

		if (fin && seq + len == dend)
			fl |= TCPS_F_FIN;
		if (len && seq + len == last)
			fl |= TCPS_F_PSH; /* as when first sent (tcps_output) */
		if (len == 0 && !(fl & TCPS_F_FIN))
			break;
		c->s->stats.retransmits++;
		c->total_rtx++;
		if (rk->undo_on && SEQ_LT(seq, rk->undo_max)) {
			rk->undo_retrans++;
			if (!rk->undo_ts_set) {
				rk->undo_ts_set = true;
				rk->undo_tsval = tcps_ts_now(c, now);
			}
		}
		tcps_send_seg(c, seq, fl, len, now);
		n++;
		seq += len;
		if ((fl & TCPS_F_FIN) || seq == dend)
			break;
	}
	c->rtt_timing = false;
	c->rtx_seen = true;
	c->rtx_tsval = tcps_ts_now(c, now);
	r->xmit = now;
	set_flags(c, r, TCPS_TXR_RETRANS, TCPS_TXR_LOST);
	return n;
}

unsigned tcps_rack_retransmit(struct tcps_conn *c, mxg_tstamp now)
{
	unsigned sent = 0;
	bool head = false;

	if (!tcps_rack_on(c) || c->rk.lost_bytes == 0)
		return 0;
	for (uint32_t i = 0; i < c->rk.n && c->rk.lost_bytes; i++) {
		struct tcps_txrec *r = rec_at(c, i);

		if (!(r->flags & TCPS_TXR_LOST))
			continue;
		if (tcps_rack_pipe(c) >= c->cwnd)
			break;
		sent += send_rec(c, r, now);
		head |= i == 0;
	}
	/* the RTO guards the oldest outstanding segment: resending it
	 * restarts the timer (as Linux), or the timer of the original would
	 * fire while the repair is on its way */
	if (sent && (head || c->tm[TCPS_T_RTX] == MXG_TS_NONE))
		tcps_rto_rearm(c, now);
	return sent;
}

void tcps_rack_on_rto(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	mxg_tstamp reo = reo_wnd(c);

	if (!c->in_recovery || !rk->undo_on)
		start_undo(c, true);
	rk->rto_episode = true;
	rk->eifel_pending = true;
	tcps_cc_on_rto(c, now);
	c->nrtx++;
	c->in_recovery = true;
	c->recover = c->snd_max;
	c->dupacks = 0;
	c->rtt_timing = false; /* Karn */
	rk->tlp_on = false;
	tcps_timer_stop(c, TCPS_T_TLP);
	tcps_timer_stop(c, TCPS_T_REO);
	/* RFC 8985 6.3: the first segment, and every one whose reordering
	 * window has passed; the first loses a SACK mark (a peer that
	 * reneged must get it again, RFC 2018 8) */
	for (uint32_t i = 0; i < rk->n; i++) {
		struct tcps_txrec *r = rec_at(c, i);

		if (i == 0) {
			set_flags(c, r, TCPS_TXR_LOST, TCPS_TXR_SACKED);
			continue;
		}
		if (!(r->flags & (TCPS_TXR_SACKED | TCPS_TXR_LOST)) &&
		    r->xmit + rk->rtt + reo <= now)
			set_flags(c, r, TCPS_TXR_LOST, 0);
	}
	/* the oldest segment goes now whatever pipe says (RFC 6298 5.4):
	 * segments sent within the last RTT still count in pipe and could
	 * hold it back behind cwnd = 1 MSS until the next backoff */
	if (rk->n && (rec_at(c, 0)->flags & TCPS_TXR_LOST))
		send_rec(c, rec_at(c, 0), now);
	tcps_rto_rearm(c, now);
	tcps_output(c, now);
}

void tcps_rack_arm_tlp(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	mxg_tstamp pto, rto_at = c->tm[TCPS_T_RTX];
	uint32_t flight = c->snd_max - c->snd_una;

	if (!tcps_rack_on(c) || c->s->conf.no_tlp || c->in_recovery || rk->tlp_on ||
	    flight == 0 || c->persist ||
	    (c->state != TCPS_ST_ESTABLISHED && c->state != TCPS_ST_CLOSE_WAIT &&
	     c->state != TCPS_ST_FIN_WAIT_1 && c->state != TCPS_ST_CLOSING &&
	     c->state != TCPS_ST_LAST_ACK)) {
		tcps_timer_stop(c, TCPS_T_TLP);
		return;
	}
	if (c->srtt) {
		pto = 2 * c->srtt;
		pto += flight <= c->mss ? WCDELACK : PTO_SLACK;
	} else {
		pto = MXG_NSEC_PER_SEC;
	}
	if (rto_at != MXG_TS_NONE && now + pto > rto_at)
		pto = rto_at > now ? rto_at - now : 0;
	tcps_timer_set(c, TCPS_T_TLP, now + pto);
}

void tcps_rack_tlp_timeout(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_rack *rk = &c->rk;
	uint32_t before = c->snd_max;

	if (!tcps_rack_on(c) || c->in_recovery || rk->tlp_on || c->snd_una == c->snd_max)
		return;
	c->s->stats.tlp_probes++;
	/* new data if the peer's window allows, else the last segment again */
	rk->tlp_send = true;
	tcps_output(c, now);
	rk->tlp_send = false;
	if (SEQ_GT(c->snd_max, before)) {
		rk->tlp_is_retrans = false;
	} else {
		struct tcps_txrec *r;

		if (rk->n == 0)
			return;
		r = rec_at(c, rk->n - 1);
		if (r->flags & TCPS_TXR_SACKED)
			return; /* the tail arrived: nothing to probe for */
		/* probe with the last segment's worth of the last record */
		if (rec_len(r) > tcps_seg_room(c) + 1 && split(c, rk->n - 1, r->end -
			      (tcps_seg_room(c) + ((r->flags & TCPS_TXR_FIN) ? 1 : 0))))
			r = rec_at(c, rk->n - 1);
		send_rec(c, r, now);
		rk->tlp_is_retrans = true;
	}
	rk->tlp_on = true;
	rk->tlp_end_seq = c->snd_max;
	tcps_timer_stop(c, TCPS_T_TLP); /* one probe per episode */
	tcps_rto_rearm(c, now);
}
