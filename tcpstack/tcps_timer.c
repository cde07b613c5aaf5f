/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_timer.c - the per-stack timer wheel and per-connection timers.
 *
 * One hashed wheel per stack: 4096 slots of 1 ms. A node stores its absolute
 * tick, so timers longer than one rotation (4 s: keepalive, TIME_WAIT) stay in
 * their slot and are skipped until their round comes; a bitmap of non-empty
 * slots makes tcps_stack_deadline() a scan of 64 words instead of 4096 lists.
 * Timers fire at the first tick boundary at or after their expiry: never early,
 * at most 1 ms late. A connection is in the wheel once, at the minimum of its
 * per-kind deadlines (tm[]); on expiry every due kind runs and the node is
 * re-armed. Why not one node per kind, or a heap: five nodes per connection
 * cost 5x the list traffic for timers that are mostly re-armed (RTO, delayed
 * ACK) on every segment; a heap costs O(log n) per re-arm where the wheel is
 * O(1).
 *
 * Timer semantics follow RFC 6298 (RTO: backoff doubling, bounded by
 * rto_max, Karn's rule through nrtx), RFC 9293 3.8.6.1 (persist), RFC 1122
 * 4.2.3.2 (delayed ACK < 500 ms) and 4.2.3.6 (keepalive).
 */
#include "tcps_int.h"

static inline uint64_t tick_ceil(mxg_tstamp t)
{
	return (t + TCPS_WHEEL_TICK_NS - 1) / TCPS_WHEEL_TICK_NS;
}

void tcps_wheel_init(struct tcps_wheel *w, mxg_tstamp now)
{
	memset(w->bitmap, 0, sizeof(w->bitmap));
	for (unsigned i = 0; i < TCPS_WHEEL_SLOTS; i++)
		w->slot[i].next = w->slot[i].prev = &w->slot[i];
	w->cur = now / TCPS_WHEEL_TICK_NS;
	w->count = 0;
}

static void unlink_node(struct tcps_wheel *w, struct tcps_tnode *n)
{
	uint32_t sl = n->tick & (TCPS_WHEEL_SLOTS - 1);

	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
	n->armed = false;
	w->count--;
	if (w->slot[sl].next == &w->slot[sl])
		w->bitmap[sl / 64] &= ~(1ULL << (sl % 64));
}

void tcps_wheel_cancel(struct tcps_wheel *w, struct tcps_tnode *n)
{
	if (n->armed)
		unlink_node(w, n);
}

void tcps_wheel_arm(struct tcps_wheel *w, struct tcps_tnode *n, mxg_tstamp when)
{
	uint64_t tick = tick_ceil(when);
	uint32_t sl;

	if (n->armed) {
		if (n->tick == tick)
			return;
		unlink_node(w, n);
	}
	/* A tick already processed would wait a full rotation: fire it at the
	 * next processing instead. */
	if (tick < w->cur)
		tick = w->cur;
	n->tick = tick;
	sl = tick & (TCPS_WHEEL_SLOTS - 1);
	n->next = w->slot[sl].next;
	n->prev = &w->slot[sl];
	w->slot[sl].next->prev = n;
	w->slot[sl].next = n;
	n->armed = true;
	w->count++;
	w->bitmap[sl / 64] |= 1ULL << (sl % 64);
}

static void expire_slot(struct tcps_wheel *w, uint32_t sl, uint64_t now_tick,
			struct tcps_tnode **head)
{
	struct tcps_tnode *n = w->slot[sl].next, *nx;

	while (n != &w->slot[sl]) {
		nx = n->next;
		if (n->tick <= now_tick) {
			unlink_node(w, n);
			n->next = *head;
			*head = n;
		}
		n = nx;
	}
}

struct tcps_tnode *tcps_wheel_expire(struct tcps_wheel *w, mxg_tstamp now)
{
	uint64_t now_tick = now / TCPS_WHEEL_TICK_NS;
	struct tcps_tnode *head = NULL;

	if (now_tick < w->cur)
		return NULL;
	if (w->count == 0) {
		w->cur = now_tick + 1;
		return NULL;
	}
	if (now_tick - w->cur >= TCPS_WHEEL_SLOTS) {
		for (uint32_t sl = 0; sl < TCPS_WHEEL_SLOTS; sl++)
			if (w->bitmap[sl / 64] & (1ULL << (sl % 64)))
				expire_slot(w, sl, now_tick, &head);
	} else {
		for (uint64_t t = w->cur; t <= now_tick; t++) {
			uint32_t sl = t & (TCPS_WHEEL_SLOTS - 1);

			if (w->bitmap[sl / 64] & (1ULL << (sl % 64)))
				expire_slot(w, sl, now_tick, &head);
		}
	}
	w->cur = now_tick + 1;
	return head;
}

mxg_tstamp tcps_wheel_deadline(const struct tcps_wheel *w)
{
	uint32_t start = w->cur & (TCPS_WHEEL_SLOTS - 1);

	if (w->count == 0)
		return MXG_TS_NONE;
	/* Walk the bitmap from the cursor; the first non-empty slot is the
	 * earliest possible expiry (an entry there may belong to a later
	 * rotation: then we wake early, which the contract allows). */
	for (uint32_t i = 0; i < TCPS_WHEEL_SLOTS; ) {
		uint32_t sl = (start + i) & (TCPS_WHEEL_SLOTS - 1);
		uint64_t word = w->bitmap[sl / 64] >> (sl % 64);

		if (word) {
			uint32_t d = i + (uint32_t)__builtin_ctzll(word);

			return (w->cur + d) * TCPS_WHEEL_TICK_NS;
		}
		i += 64 - (sl % 64);
	}
	return w->cur * TCPS_WHEEL_TICK_NS;
}

/* ---- per-connection timers ---- */

static void rearm(struct tcps_conn *c)
{
	mxg_tstamp m = MXG_TS_NONE;

	for (int k = 0; k < TCPS_T__MAX; k++)
		m = mxg_ts_min(m, c->tm[k]);
	if (m == MXG_TS_NONE)
		tcps_wheel_cancel(&c->s->wheel, &c->tn);
	else
		tcps_wheel_arm(&c->s->wheel, &c->tn, m);
}

void tcps_timer_set(struct tcps_conn *c, enum tcps_timer_kind k, mxg_tstamp when)
{
	if (c->dead)
		return;
	c->tm[k] = when;
	rearm(c);
}

void tcps_timer_stop(struct tcps_conn *c, enum tcps_timer_kind k)
{
	if (c->tm[k] == MXG_TS_NONE)
		return;
	c->tm[k] = MXG_TS_NONE;
	rearm(c);
}

void tcps_timer_stop_all(struct tcps_conn *c)
{
	for (int k = 0; k < TCPS_T__MAX; k++)
		c->tm[k] = MXG_TS_NONE;
	tcps_wheel_cancel(&c->s->wheel, &c->tn);
}

/* (Re)starts the retransmission timer with the current, backed-off RTO. */
void tcps_rto_rearm(struct tcps_conn *c, mxg_tstamp now)
{
	mxg_tstamp rto = c->rto;

	for (int i = 0; i < c->nrtx && rto < c->s->conf.rto_max; i++)
		rto *= 2;
	if (rto > c->s->conf.rto_max)
		rto = c->s->conf.rto_max;
	tcps_timer_set(c, TCPS_T_RTX, now + rto);
}

static void keepalive_timeout(struct tcps_conn *c, mxg_tstamp now)
{
	const struct tcps_stack_conf *cf = &c->s->conf;

	if (c->state != TCPS_ST_ESTABLISHED && c->state != TCPS_ST_CLOSE_WAIT) {
		c->tm[TCPS_T_KEEP] = MXG_TS_NONE;
		return;
	}
	if (now - c->last_rx < cf->keepalive_idle) {
		c->tm[TCPS_T_KEEP] = c->last_rx + cf->keepalive_idle;
		return;
	}
	if (c->keep_probes >= cf->keepalive_cnt) {
		tcps_conn_error_out(c, TCPS_ERR_KEEPALIVE, now);
		return;
	}
	c->keep_probes++;
	c->s->stats.keepalive_probes++;
	/* RFC 1122 4.2.3.6: SEG.SEQ = SND.NXT - 1, no data: the peer must
	 * answer with an ACK. */
	tcps_send_seg(c, c->snd_una - 1, TCPS_F_ACK, 0, now);
	c->tm[TCPS_T_KEEP] = now + cf->keepalive_intvl;
}

void tcps_conn_on_timer(struct tcps_conn *c, mxg_tstamp now)
{
	for (int k = 0; k < TCPS_T__MAX && !c->dead; k++) {
		if (c->tm[k] > now)
			continue;
		c->tm[k] = MXG_TS_NONE;
		switch (k) {
		case TCPS_T_TLP:
			tcps_rack_tlp_timeout(c, now);
			break;
		case TCPS_T_REO:
			tcps_rack_reo_timeout(c, now);
			break;
		case TCPS_T_RTX:
			tcps_rto_timeout(c, now);
			break;
		case TCPS_T_PERSIST:
			tcps_persist_timeout(c, now);
			break;
		case TCPS_T_DELACK:
			tcps_send_ack(c, now);
			break;
		case TCPS_T_KEEP:
			keepalive_timeout(c, now);
			break;
		case TCPS_T_2MSL:
			/* TIME_WAIT over, or orphaned FIN_WAIT_2 given up. */
			tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
			break;
		}
	}
	if (!c->dead)
		rearm(c);
}
