/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcps_stack.c - the stack object, segment dispatch (header checks, flow
 * lookup, listeners, SYN cookies), connection lifetime, and the
 * application calls of tcps.h.
 *
 * Security stance: every segment is length- and checksum-checked before its
 * options are parsed (tcps_opt.c drops malformed ones); SYN+FIN and SYN+RST
 * combinations are dropped; a segment for no connection is answered with
 * the RFC 9293 3.10.7.1 RST and never creates state unless it is a SYN for a
 * listener with room in its half-open backlog. Beyond that backlog the
 * listener answers with SYN cookies (tcps_syncookie.c), so a SYN flood costs
 * no memory; a cookie ACK is only checked while cookies were sent in the last
 * two minutes. Connection objects are bounded by max_conns, buffer memory by
 * mem_max (checked when the buffers are allocated, at ESTABLISHED), and a
 * TIME_WAIT slot is reused for a new SYN only if its sequence number (or
 * timestamp) is above the old incarnation's (RFC 9293 3.6.1, RFC 6191).
 *
 * Lifetime: a connection object is freed when neither the application
 * holds it nor the protocol needs it (CLOSED). Frees requested while a call
 * is in progress (a callback closing its connection) are deferred to the
 * outermost entry point's exit (tcps_stack_leave), so no code path ever
 * touches freed memory after a callback.
 */
#include "tcps_int.h"

#define COOKIE_WINDOW_NS (128ULL * MXG_NSEC_PER_SEC)

static uint32_t pow2_ceil(uint32_t v)
{
	uint32_t n = 1024;

	while (n < v && n < (1u << 30))
		n <<= 1;
	return n;
}

void tcps_ip_of(struct mxg_ip *ip, uint8_t family, const uint8_t a[16])
{
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	memcpy(ip->a, a, family == 6 ? 16 : 4);
}

uint16_t tcps_mss_for(const struct tcps_stack *s, uint8_t family)
{
	uint32_t mss = s->conf.mtu - (family == 6 ? 60 : 40);

	return (uint16_t)(mss < TCPS_MIN_MSS ? TCPS_MIN_MSS : mss);
}

static uint8_t wscale_for(uint32_t buf)
{
	uint8_t ws = 0;

	while (ws < TCPS_MAX_WSCALE && (buf >> ws) > 65535)
		ws++;
	return ws;
}

static void buf_cache_free(struct tcps_stack *s);

void tcps_stack_enter(struct tcps_stack *s)
{
	s->depth++;
}

static void conn_free(struct tcps_conn *c)
{
	struct tcps_stack *s = c->s;

	tcps_conn_release_bufs(c, true);
	tcps_rob_fini(&c->rob, s->mem);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		s->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	s->stats.conns--;
	mxg_free(s->mem, c);
}

void tcps_stack_leave(struct tcps_stack *s)
{
	if (--s->depth > 0)
		return;
	while (s->dead) {
		struct tcps_conn *c = s->dead;

		s->dead = c->dead_next;
		conn_free(c);
	}
}

struct tcps_stack *tcps_stack_new(const struct tcps_stack_conf *conf,
				  const struct tcps_io_ops *ops, void *io,
				  const struct mxg_mem *mem)
{
	struct tcps_stack *s;
	struct tcps_stack_conf *cf;

	if (mem == NULL)
		mem = mxg_mem_default();
	if (conf == NULL || ops == NULL || ops->output == NULL)
		return NULL;
	s = mxg_calloc(mem, 1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->mem = mem;
	s->ops = ops;
	s->io = io;
	s->conf = *conf;
	cf = &s->conf;
	if (cf->mtu == 0)
		cf->mtu = 1500;
	if (cf->mtu < 576)
		cf->mtu = 576;
	if (cf->mtu > TCPS_SCRATCH - 100)
		cf->mtu = TCPS_SCRATCH - 100;
	if (cf->max_conns == 0)
		cf->max_conns = 65536;
	cf->rcvbuf = pow2_ceil(cf->rcvbuf ? cf->rcvbuf : 256 * 1024);
	cf->sndbuf = pow2_ceil(cf->sndbuf ? cf->sndbuf : 256 * 1024);
	if (cf->mem_max == 0)
		cf->mem_max = 1ULL << 30;
	if (cf->ooo_max_ranges == 0)
		/* 50 +- 10 ms jitter at a 2 MiB window: 32 overflowed, 64
		 * still dropped 5 % of the segments (rx_ooo_drop) */
		cf->ooo_max_ranges = 128;
	if (cf->ooo_max_ranges > TCPS_ROB_MAX_RANGES)
		cf->ooo_max_ranges = TCPS_ROB_MAX_RANGES; /* process_data's gap array */
	if (cf->time_wait == 0)
		cf->time_wait = 60 * MXG_NSEC_PER_SEC;
	if (cf->rto_init == 0)
		cf->rto_init = MXG_NSEC_PER_SEC;
	if (cf->rto_min == 0)
		cf->rto_min = 200 * MXG_NSEC_PER_MSEC;
	if (cf->rto_max == 0)
		cf->rto_max = 120 * MXG_NSEC_PER_SEC;
	if (cf->syn_retries == 0)
		cf->syn_retries = 5;
	if (cf->max_retries == 0)
		cf->max_retries = 12;
	if (cf->delack == 0)
		cf->delack = 40 * MXG_NSEC_PER_MSEC;
	if (cf->keepalive_intvl == 0)
		cf->keepalive_intvl = 75 * MXG_NSEC_PER_SEC;
	if (cf->keepalive_cnt == 0)
		cf->keepalive_cnt = 9;
	if (cf->fin_wait2 == 0)
		cf->fin_wait2 = 60 * MXG_NSEC_PER_SEC;
	if (cf->challenge_ack_per_sec == 0)
		cf->challenge_ack_per_sec = 1000;
	if (tcps_flow_init(&s->flow, cf->max_conns, cf->secret, mem) < 0) {
		mxg_free(mem, s);
		return NULL;
	}
	tcps_wheel_init(&s->wheel, 0);
	s->next_port = 49152;
	s->cack_sec = UINT64_MAX;
	return s;
}

void tcps_stack_free(struct tcps_stack *s)
{
	struct tcps_listener *l, *ln;

	if (s == NULL)
		return;
	s->depth++;
	for (struct tcps_conn *c = s->all; c; c = c->all_next) {
		c->app_held = false;
		c->lst = NULL;
		tcps_conn_destroy(c);
	}
	s->depth = 1;
	tcps_stack_leave(s);
	for (l = s->listeners; l; l = ln) {
		ln = l->next;
		mxg_free(s->mem, l);
	}
	buf_cache_free(s);
	tcps_flow_fini(&s->flow, s->mem);
	mxg_free(s->mem, s);
}

const struct tcps_stats *tcps_stack_stats(const struct tcps_stack *s)
{
	return &s->stats;
}

mxg_tstamp tcps_stack_deadline(const struct tcps_stack *s)
{
	return tcps_wheel_deadline(&s->wheel);
}

void tcps_stack_on_timer(struct tcps_stack *s, mxg_tstamp now)
{
	struct tcps_tnode *n;

	tcps_stack_enter(s);
	s->now = now;
	n = tcps_wheel_expire(&s->wheel, now);
	while (n) {
		struct tcps_tnode *nx = n->next;
		struct tcps_conn *c = (struct tcps_conn *)((char *)n - offsetof(struct tcps_conn, tn));

		n->next = n->prev = NULL;
		if (!c->dead)
			tcps_conn_on_timer(c, now);
		n = nx;
	}
	tcps_stack_leave(s);
}

/* ---- connection objects ---- */

struct tcps_conn *tcps_conn_new(struct tcps_stack *s, const struct tcps_tuple *t)
{
	struct tcps_conn *c;

	if (s->stats.conns >= s->conf.max_conns) {
		s->stats.conn_limit++;
		return NULL;
	}
	c = mxg_calloc(s->mem, 1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (tcps_rob_init(&c->rob, s->conf.ooo_max_ranges, s->mem) < 0) {
		mxg_free(s->mem, c);
		return NULL;
	}
	c->s = s;
	c->t = *t;
	for (int k = 0; k < TCPS_T__MAX; k++)
		c->tm[k] = MXG_TS_NONE;
	if (tcps_flow_add(&s->flow, c) < 0) {
		tcps_rob_fini(&c->rob, s->mem);
		mxg_free(s->mem, c);
		return NULL;
	}
	c->in_flow = true;
	c->rto = s->conf.rto_init;
	c->our_mss = tcps_mss_for(s, t->family);
	c->mss = c->our_mss;
	c->rcv_wscale = s->conf.no_wscale ? 0 : wscale_for(s->conf.rcvbuf);
	c->ts_off = tcps_ts_offset(s->conf.secret, t);
	c->all_next = s->all;
	if (s->all)
		s->all->all_prev = c;
	s->all = c;
	s->stats.conns++;
	return c;
}

/* Connection buffers are 2 x 256 KiB by default: for glibc that is a
 * trip through brk/mmap and fresh pages (faults) for every connection,
 * which the connection-rate benchmark showed (perf/tcp_bench.py). A
 * closed connection's buffers are kept on a short LIFO per kind instead and
 * handed to the next connection. Cached bytes count against mem_max with
 * the bytes in use: mem_used + buf_cached <= mem_max (cached buffers are
 * freed first when a new allocation needs the room). */
static uint8_t *buf_get(struct tcps_stack *s, int kind, uint32_t size)
{
	if (s->nbuf_cache[kind] > 0) {
		s->buf_cached -= size;
		return s->buf_cache[kind][--s->nbuf_cache[kind]];
	}
	return mxg_malloc(s->mem, size);
}

static void buf_put(struct tcps_stack *s, int kind, uint8_t *buf, uint32_t size)
{
	if (s->nbuf_cache[kind] < TCPS_BUF_CACHE &&
	    s->stats.mem_used + s->buf_cached + size <= s->conf.mem_max) {
		s->buf_cache[kind][s->nbuf_cache[kind]++] = buf;
		s->buf_cached += size;
		return;
	}
	mxg_free(s->mem, buf);
}

/* Frees cached buffers until |need| more bytes fit under mem_max. */
static void buf_cache_trim(struct tcps_stack *s, uint64_t need)
{
	for (int kind = 0; kind < 2; kind++) {
		uint32_t size = kind ? s->conf.sndbuf : s->conf.rcvbuf;

		while (s->nbuf_cache[kind] > 0 &&
		       s->stats.mem_used + s->buf_cached + need > s->conf.mem_max) {
			mxg_free(s->mem, s->buf_cache[kind][--s->nbuf_cache[kind]]);
			s->buf_cached -= size;
		}
	}
}

static void buf_cache_free(struct tcps_stack *s)
{
	for (int kind = 0; kind < 2; kind++)
		while (s->nbuf_cache[kind] > 0)
			mxg_free(s->mem, s->buf_cache[kind][--s->nbuf_cache[kind]]);
	s->buf_cached = 0;
}

int tcps_conn_alloc_bufs(struct tcps_conn *c)
{
	struct tcps_stack *s = c->s;
	uint64_t need = (uint64_t)s->conf.rcvbuf + s->conf.sndbuf;

	if (c->rcvb.buf || c->sndb.size)
		return 0;
	if (s->stats.mem_used + need > s->conf.mem_max) {
		s->stats.mem_limit++;
		return MXG_E_RANGE;
	}
	/* what the caches cannot give must fit beside them */
	buf_cache_trim(s, (s->nbuf_cache[0] ? 0 : s->conf.rcvbuf) +
			  (s->nbuf_cache[1] ? 0 : s->conf.sndbuf));
	c->rcvb.buf = buf_get(s, 0, s->conf.rcvbuf);
	c->sndb.buf = buf_get(s, 1, s->conf.sndbuf);
	if (c->rcvb.buf == NULL || c->sndb.buf == NULL) {
		mxg_free(s->mem, c->rcvb.buf);
		mxg_free(s->mem, c->sndb.buf);
		c->rcvb.buf = c->sndb.buf = NULL;
		s->stats.mem_limit++;
		return MXG_E_NOMEM;
	}
	c->rcvb.size = s->conf.rcvbuf;
	c->sndb.size = s->conf.sndbuf;
	s->stats.mem_used += need;
	return 0;
}

void tcps_conn_release_bufs(struct tcps_conn *c, bool rcv_too)
{
	struct tcps_stack *s = c->s;

	tcps_rack_release(c); /* its records describe the send buffer */
	if (c->sndb.buf) {
		s->stats.mem_used -= c->sndb.size;
		buf_put(s, 1, c->sndb.buf, c->sndb.size);
		c->sndb.buf = NULL;
		c->sndb.size = 0;
	}
	if (rcv_too && c->rcvb.buf) {
		s->stats.mem_used -= c->rcvb.size;
		buf_put(s, 0, c->rcvb.buf, c->rcvb.size);
		c->rcvb.buf = NULL;
		/* rcvb.size is kept: it still bounds the window we announce */
	}
}

void tcps_conn_destroy(struct tcps_conn *c)
{
	struct tcps_stack *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	tcps_wheel_cancel(&s->wheel, &c->tn);
	if (c->in_flow) {
		tcps_flow_del(&s->flow, c);
		c->in_flow = false;
	}
	if (c->lst) {
		c->lst->half_open--;
		c->lst = NULL;
	}
	c->state = TCPS_ST_CLOSED;
	c->dead_next = s->dead;
	s->dead = c;
}

/* ---- input ---- */

static struct tcps_listener *find_listener(struct tcps_stack *s, const struct tcps_tuple *t)
{
	struct tcps_listener *any = NULL;

	for (struct tcps_listener *l = s->listeners; l; l = l->next) {
		if (l->port != t->lport || l->addr.family != t->family)
			continue;
		if (memcmp(l->addr.a, t->laddr, 16) == 0)
			return l;
		if (memcmp(l->addr.a, (uint8_t[16]){0}, 16) == 0)
			any = l;
	}
	return any;
}

static void cookie_ack(struct tcps_stack *s, struct tcps_listener *l, const struct tcps_tuple *t,
		       struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_cookie_opts co;
	struct tcps_conn *c;

	if (tcps_cookie_check(s->conf.secret, t, sg->seq - 1, sg->ack - 1, now, &co) < 0) {
		s->stats.syncookies_bad++;
		/* The cookie covers the peer's ISN, read from SEG.SEQ - 1: a
		 * data segment behind a lost handshake ACK and lost first
		 * segment fails the check although its cookie is good. Drop it
		 * and let the peer retransmit from ISN + 1 (a flood that fills
		 * the backlog also fills queues); a reset would kill a
		 * legitimate connection. A bare ACK is answered as RFC 9293
		 * answers an ACK to a listener. */
		if (sg->len == 0 && !(sg->flags & TCPS_F_FIN))
			tcps_send_rst_for(s, t, sg, now);
		return;
	}
	s->stats.syncookies_ok++;
	c = tcps_conn_new(s, t);
	if (c == NULL)
		return;
	c->passive = true;
	c->lst = l; /* for on_accept; counted half-open until established */
	l->half_open++;
	c->cc = l->conf.cc;
	c->iss = sg->ack - 1;
	c->irs = sg->seq - 1;
	c->rcv_nxt = sg->seq;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = sg->ack;
	c->recover = c->iss;
	c->sack_ok = co.sack_ok && !s->conf.no_sack;
	c->ts_ok = sg->o.has_ts && !s->conf.no_timestamps;
	c->ws_ok = false;
	c->rcv_wscale = 0;
	c->snd_wscale = 0;
	if (c->ts_ok) {
		/* our TSval carried the peer's window scale in its low bits
		 * (bit 4: present, bits 0-3: shift), see tcps_syncookie.c */
		uint32_t e = sg->o.tsecr;

		c->ts_recent = sg->o.tsval;
		if (e & 0x10) {
			c->ws_ok = true;
			c->snd_wscale = (e & 0xf) > TCPS_MAX_WSCALE ? TCPS_MAX_WSCALE : (e & 0xf);
			c->rcv_wscale = wscale_for(s->conf.rcvbuf); /* as announced */
		}
	}
	c->mss = tcps_min_u32(co.mss, c->our_mss) - (c->ts_ok ? 12 : 0);
	c->rcv_adv = c->rcv_nxt + tcps_min_u32(s->conf.rcvbuf, 65535);
	c->last_ack_sent = c->rcv_nxt;
	c->state = TCPS_ST_SYN_RCVD;
	/* the ACK completes the handshake through the normal path */
	tcps_conn_input(c, sg, now);
}

static void listen_input(struct tcps_stack *s, struct tcps_listener *l, const struct tcps_tuple *t,
			 struct tcps_seg *sg, mxg_tstamp now)
{
	struct tcps_conn *c;

	if (sg->flags & TCPS_F_RST)
		return;
	if (sg->flags & TCPS_F_ACK) {
		if (!(sg->flags & TCPS_F_SYN) && !l->conf.no_syncookies && l->cookie_until > now) {
			cookie_ack(s, l, t, sg, now);
			return;
		}
		tcps_send_rst_for(s, t, sg, now);
		return;
	}
	if (!(sg->flags & TCPS_F_SYN))
		return;
	if (s->stats.conns >= s->conf.max_conns) {
		s->stats.conn_limit++;
		return;
	}
	if (l->half_open >= l->conf.backlog) {
		uint16_t mss, pm = sg->o.has_mss ? sg->o.mss : 536;
		uint32_t iss, tsval = 0;

		if (l->conf.no_syncookies) {
			s->stats.listen_overflow++;
			return;
		}
		if (pm > tcps_mss_for(s, t->family))
			pm = tcps_mss_for(s, t->family);
		iss = tcps_cookie_make(s->conf.secret, t, sg->seq, pm,
				       sg->o.sack_ok && !s->conf.no_sack, now, &mss);
		if (sg->o.has_ts) {
			tsval = ((uint32_t)(now / MXG_NSEC_PER_MSEC) +
				 tcps_ts_offset(s->conf.secret, t)) & ~0x1fu;
			if (sg->o.has_ws && !s->conf.no_wscale)
				tsval |= 0x10 | sg->o.wscale;
		}
		s->stats.syncookies_sent++;
		l->cookie_until = now + COOKIE_WINDOW_NS;
		tcps_send_synack_stateless(s, t, iss, sg->seq + 1, mss, &sg->o, tsval,
					   wscale_for(s->conf.rcvbuf), now);
		return;
	}
	c = tcps_conn_new(s, t);
	if (c == NULL)
		return;
	c->passive = true;
	c->lst = l;
	l->half_open++;
	c->cc = l->conf.cc;
	c->state = TCPS_ST_SYN_RCVD;
	c->irs = sg->seq;
	c->rcv_nxt = sg->seq + 1;
	c->iss = tcps_isn(s->conf.secret, t, now);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->recover = c->iss;
	tcps_take_syn_opts(c, sg);
	c->snd_wnd = sg->wnd;
	c->rtt_timing = true;
	c->rtt_seq = c->iss;
	c->rtt_start = now;
	tcps_send_seg(c, c->iss, TCPS_F_SYN | TCPS_F_ACK, 0, now);
	tcps_rto_rearm(c, now);
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tcps_stack_input(struct tcps_stack *s, const struct mxg_ip *src, const struct mxg_ip *dst,
		     const uint8_t *p, uint16_t len, mxg_tstamp now)
{
	struct tcps_tuple t;
	struct tcps_seg sg;
	struct tcps_conn *c;
	struct tcps_listener *l;
	unsigned doff;

	s->stats.rx_segs++;
	s->now = now;
	if (len < TCPS_HDR_LEN || src->family != dst->family ||
	    (src->family != 4 && src->family != 6)) {
		s->stats.rx_malformed++;
		return 0;
	}
	doff = (unsigned)(p[12] >> 4) * 4;
	if (doff < TCPS_HDR_LEN || doff > len) {
		s->stats.rx_malformed++;
		return 0;
	}
	if (!s->conf.rx_csum_ok && tcps_csum(src, dst, p, len) != 0) {
		s->stats.rx_bad_csum++;
		return 0;
	}
	memset(&sg, 0, sizeof(sg));
	sg.seq = rd32(p + 4);
	sg.ack = rd32(p + 8);
	sg.flags = p[13];
	sg.wnd = rd16(p + 14);
	sg.data = p + doff;
	sg.len = len - doff;
	if (((sg.flags & TCPS_F_SYN) && (sg.flags & (TCPS_F_FIN | TCPS_F_RST))) ||
	    tcps_opt_parse(p + TCPS_HDR_LEN, doff - TCPS_HDR_LEN, sg.flags & TCPS_F_SYN,
			   &sg.o) < 0) {
		s->stats.rx_malformed++;
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.family = src->family;
	t.lport = rd16(p + 2);
	t.rport = rd16(p);
	memcpy(t.laddr, dst->a, src->family == 6 ? 16 : 4);
	memcpy(t.raddr, src->a, src->family == 6 ? 16 : 4);
	if (t.lport == 0 || t.rport == 0) {
		s->stats.rx_malformed++;
		return 0;
	}

	tcps_stack_enter(s);
	c = tcps_flow_lookup(&s->flow, &t);
	if (c && c->state == TCPS_ST_TIME_WAIT && (sg.flags & TCPS_F_SYN) &&
	    !(sg.flags & (TCPS_F_ACK | TCPS_F_RST)) &&
	    ((c->ts_ok && sg.o.has_ts && SEQ_GT(sg.o.tsval, c->ts_recent)) ||
	     SEQ_GT(sg.seq, c->rcv_nxt))) {
		/* new incarnation (RFC 9293 3.6.1, RFC 6191) */
		if (c->app_held)
			tcps_conn_set_state(c, TCPS_ST_CLOSED, now);
		else
			tcps_conn_destroy(c);
		c = NULL;
	}
	if (c) {
		tcps_conn_input(c, &sg, now);
	} else if ((l = find_listener(s, &t)) != NULL) {
		listen_input(s, l, &t, &sg, now);
	} else {
		s->stats.rx_no_conn++;
		tcps_send_rst_for(s, &t, &sg, now);
	}
	tcps_stack_leave(s);
	return 0;
}

/* ---- receive batches (tcps.h) ---- */

void tcps_stack_rx_begin(struct tcps_stack *s)
{
	if (MXG_BUG_ON(s->rx_batch))
		return;
	tcps_stack_enter(s); /* nothing is freed until rx_end */
	s->rx_batch = true;
}

void tcps_ack_defer(struct tcps_conn *c)
{
	struct tcps_stack *s = c->s;

	if (c->ack_queued)
		return;
	c->ack_queued = true;
	c->ack_next = s->ack_list;
	s->ack_list = c;
}

void tcps_stack_rx_end(struct tcps_stack *s, mxg_tstamp now)
{
	if (MXG_BUG_ON(!s->rx_batch))
		return;
	s->rx_batch = false;
	s->now = now;
	while (s->ack_list) {
		struct tcps_conn *c = s->ack_list;

		s->ack_list = c->ack_next;
		c->ack_next = NULL;
		c->ack_queued = false;
		/* a data segment or an ACK sent since carried it already */
		if (c->ack_now && !c->dead)
			tcps_send_ack(c, now);
	}
	tcps_stack_leave(s);
}

/* ---- listeners ---- */

struct tcps_listener *tcps_listen(struct tcps_stack *s, const struct mxg_ip *addr, uint16_t port,
				  const struct tcps_listen_conf *conf,
				  const struct tcps_listener_callbacks *cbs, void *ud, int *err)
{
	struct tcps_listener *l;
	int dummy;

	if (err == NULL)
		err = &dummy;
	*err = MXG_E_INVAL;
	if (port == 0 || (addr->family != 4 && addr->family != 6))
		return NULL;
	for (l = s->listeners; l; l = l->next)
		if (l->port == port && l->addr.family == addr->family &&
		    memcmp(l->addr.a, addr->a, 16) == 0) {
			*err = MXG_E_EXIST;
			return NULL;
		}
	l = mxg_calloc(s->mem, 1, sizeof(*l));
	if (l == NULL) {
		*err = MXG_E_NOMEM;
		return NULL;
	}
	l->s = s;
	tcps_ip_of(&l->addr, addr->family, addr->a);
	l->port = port;
	if (conf)
		l->conf = *conf;
	if (l->conf.backlog == 0)
		l->conf.backlog = 128;
	if (cbs)
		l->cbs = *cbs;
	l->ud = ud;
	l->next = s->listeners;
	s->listeners = l;
	*err = 0;
	return l;
}

void tcps_listener_close(struct tcps_listener *l)
{
	struct tcps_stack *s;
	struct tcps_listener **pp;

	if (l == NULL)
		return;
	s = l->s;
	tcps_stack_enter(s);
	for (uint32_t i = 0; i <= s->flow.mask; i++) {
		struct tcps_conn *c = s->flow.slot[i].c;

		if (c && c->lst == l) {
			tcps_conn_destroy(c);
			i--; /* backward shift may have moved another entry here */
		}
	}
	for (pp = &s->listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	mxg_free(s->mem, l);
	tcps_stack_leave(s);
}

/* ---- active open ---- */

int tcps_connect(struct tcps_stack *s, const struct mxg_ip *laddr, uint16_t lport,
		 const struct mxg_ip *raddr, uint16_t rport, enum tcps_cc_algo cc,
		 const struct tcps_conn_callbacks *cbs, void *ud, mxg_tstamp now,
		 struct tcps_conn **out)
{
	struct tcps_tuple t;
	struct tcps_conn *c;

	*out = NULL;
	if (laddr->family != raddr->family || (laddr->family != 4 && laddr->family != 6) ||
	    rport == 0)
		return MXG_E_INVAL;
	if (s->stats.conns >= s->conf.max_conns) {
		s->stats.conn_limit++;
		return MXG_E_RANGE;
	}
	memset(&t, 0, sizeof(t));
	t.family = laddr->family;
	t.rport = rport;
	memcpy(t.laddr, laddr->a, t.family == 6 ? 16 : 4);
	memcpy(t.raddr, raddr->a, t.family == 6 ? 16 : 4);
	if (lport) {
		t.lport = lport;
		if (tcps_flow_lookup(&s->flow, &t))
			return MXG_E_EXIST;
	} else {
		uint32_t tries;

		for (tries = 0; tries < 16384; tries++) {
			t.lport = s->next_port;
			s->next_port = s->next_port == 65535 ? 49152 : s->next_port + 1;
			if (tcps_flow_lookup(&s->flow, &t) == NULL)
				break;
		}
		if (tries == 16384)
			return MXG_E_RANGE;
	}
	c = tcps_conn_new(s, &t);
	if (c == NULL)
		return s->stats.conns >= s->conf.max_conns ? MXG_E_RANGE : MXG_E_NOMEM;
	tcps_stack_enter(s);
	s->now = now;
	c->app_held = true;
	c->cbs = cbs;
	c->ud = ud;
	c->cc = cc;
	c->state = TCPS_ST_SYN_SENT;
	c->iss = tcps_isn(s->conf.secret, &t, now);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->recover = c->iss;
	c->rtt_timing = true;
	c->rtt_seq = c->iss;
	c->rtt_start = now;
	tcps_send_seg(c, c->iss, TCPS_F_SYN, 0, now);
	tcps_rto_rearm(c, now);
	*out = c;
	tcps_stack_leave(s);
	return 0;
}

/* ---- application calls ---- */

void tcps_conn_set_callbacks(struct tcps_conn *c, const struct tcps_conn_callbacks *cbs, void *ud)
{
	c->cbs = cbs;
	c->ud = ud;
}

size_t tcps_conn_writable(const struct tcps_conn *c)
{
	if (c->sndb.buf == NULL || c->fin_queued || c->err ||
	    (c->state != TCPS_ST_ESTABLISHED && c->state != TCPS_ST_CLOSE_WAIT))
		return 0;
	return c->sndb.size - (size_t)(c->snd_end_off - c->snd_una_off);
}

long tcps_conn_send(struct tcps_conn *c, const uint8_t *data, size_t len, mxg_tstamp now)
{
	size_t n;

	if (c->state == TCPS_ST_SYN_SENT || c->state == TCPS_ST_SYN_RCVD)
		return MXG_E_AGAIN;
	if (c->fin_queued || c->err || c->sndb.buf == NULL ||
	    (c->state != TCPS_ST_ESTABLISHED && c->state != TCPS_ST_CLOSE_WAIT))
		return MXG_E_PROTO;
	n = tcps_conn_writable(c);
	if (n > len)
		n = len;
	if (n < len)
		c->want_writable = true;
	if (n == 0)
		return 0;
	tcps_ring_write(&c->sndb, c->snd_end_off, data, (uint32_t)n);
	c->snd_end_off += n;
	tcps_stack_enter(c->s);
	tcps_output(c, now);
	tcps_stack_leave(c->s);
	return (long)n;
}

size_t tcps_conn_readable(const struct tcps_conn *c)
{
	return (size_t)(c->rcv_nxt_off - c->rcv_rd_off);
}

bool tcps_conn_eof(const struct tcps_conn *c)
{
	return c->fin_rcvd && c->rcv_rd_off == c->rcv_nxt_off;
}

size_t tcps_conn_peek(const struct tcps_conn *c, const uint8_t **p)
{
	size_t n = tcps_conn_readable(c);
	uint32_t pos;

	if (n == 0 || c->rcvb.buf == NULL) {
		*p = NULL;
		return 0;
	}
	pos = (uint32_t)(c->rcv_rd_off & (c->rcvb.size - 1));
	*p = c->rcvb.buf + pos;
	return n < c->rcvb.size - pos ? n : c->rcvb.size - pos;
}

void tcps_conn_consume(struct tcps_conn *c, size_t n, mxg_tstamp now)
{
	uint32_t old, nw;

	if (MXG_BUG_ON(n > tcps_conn_readable(c)))
		n = tcps_conn_readable(c);
	if (n == 0)
		return;
	c->rcv_rd_off += n;
	if (c->state < TCPS_ST_ESTABLISHED || c->state == TCPS_ST_TIME_WAIT || c->fin_rcvd)
		return;
	/* window update when the window really opened (RFC 9293 3.8.6.2.2) */
	old = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	nw = tcps_rcv_window(c);
	if (nw > old && (old < 2u * c->our_mss || nw - old >= c->rcvb.size / 2)) {
		tcps_stack_enter(c->s);
		tcps_send_ack(c, now);
		tcps_stack_leave(c->s);
	}
}

size_t tcps_conn_recv(struct tcps_conn *c, uint8_t *buf, size_t len, mxg_tstamp now)
{
	size_t n = tcps_conn_readable(c);

	if (n > len)
		n = len;
	if (n == 0)
		return 0;
	tcps_ring_read(&c->rcvb, c->rcv_rd_off, buf, (uint32_t)n);
	tcps_conn_consume(c, n, now);
	return n;
}

int tcps_conn_shutdown(struct tcps_conn *c, mxg_tstamp now)
{
	if (c->fin_queued || c->err)
		return MXG_E_PROTO;
	switch (c->state) {
	case TCPS_ST_ESTABLISHED:
		c->state = TCPS_ST_FIN_WAIT_1;
		break;
	case TCPS_ST_CLOSE_WAIT:
		c->state = TCPS_ST_LAST_ACK;
		break;
	default:
		return MXG_E_PROTO;
	}
	c->fin_queued = true;
	tcps_stack_enter(c->s);
	tcps_output(c, now);
	tcps_stack_leave(c->s);
	return 0;
}

void tcps_conn_close(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;

	if (MXG_BUG_ON(!c->app_held))
		return;
	tcps_stack_enter(s);
	c->app_held = false;
	c->cbs = NULL;
	switch (c->state) {
	case TCPS_ST_CLOSED:
	case TCPS_ST_SYN_SENT:
		tcps_conn_destroy(c);
		break;
	case TCPS_ST_SYN_RCVD:
	case TCPS_ST_ESTABLISHED:
	case TCPS_ST_CLOSE_WAIT:
		if (tcps_conn_readable(c) > 0) {
			tcps_send_rst(c, now);
			tcps_conn_destroy(c);
			break;
		}
		c->fin_queued = true;
		c->state = c->state == TCPS_ST_CLOSE_WAIT ? TCPS_ST_LAST_ACK : TCPS_ST_FIN_WAIT_1;
		tcps_output(c, now);
		break;
	case TCPS_ST_FIN_WAIT_2:
		if (tcps_conn_readable(c) > 0) {
			tcps_send_rst(c, now);
			tcps_conn_destroy(c);
			break;
		}
		tcps_timer_set(c, TCPS_T_2MSL, now + s->conf.fin_wait2);
		break;
	default:
		if (tcps_conn_readable(c) > 0 && c->state == TCPS_ST_FIN_WAIT_1) {
			tcps_send_rst(c, now);
			tcps_conn_destroy(c);
		}
		break; /* FIN_WAIT_1, CLOSING, LAST_ACK, TIME_WAIT: runs to the end */
	}
	tcps_stack_leave(s);
}

void tcps_conn_abort(struct tcps_conn *c, mxg_tstamp now)
{
	struct tcps_stack *s = c->s;

	if (MXG_BUG_ON(!c->app_held))
		return;
	tcps_stack_enter(s);
	c->app_held = false;
	c->cbs = NULL;
	if (tcps_state_synced(c->state) && c->state != TCPS_ST_TIME_WAIT && !c->dead)
		tcps_send_rst(c, now);
	tcps_conn_destroy(c);
	tcps_stack_leave(s);
}

mxg_tstamp tcps_conn_now(const struct tcps_conn *c)
{
	return c->s->now;
}

enum tcps_state tcps_conn_state(const struct tcps_conn *c)
{
	return c->state;
}

enum tcps_err tcps_conn_error(const struct tcps_conn *c)
{
	return c->err;
}

void tcps_conn_addrs(const struct tcps_conn *c, struct mxg_ip *laddr, uint16_t *lport,
		     struct mxg_ip *raddr, uint16_t *rport)
{
	if (laddr)
		tcps_ip_of(laddr, c->t.family, c->t.laddr);
	if (raddr)
		tcps_ip_of(raddr, c->t.family, c->t.raddr);
	if (lport)
		*lport = c->t.lport;
	if (rport)
		*rport = c->t.rport;
}

void tcps_conn_info(const struct tcps_conn *c, struct tcps_conn_info *o)
{
	memset(o, 0, sizeof(*o));
	o->state = c->state;
	o->snd_una = c->snd_una;
	o->snd_nxt = c->snd_nxt;
	o->snd_wnd = c->snd_wnd;
	o->rcv_nxt = c->rcv_nxt;
	o->rcv_wnd = tcps_rcv_window(c);
	o->iss = c->iss;
	o->irs = c->irs;
	o->cwnd = c->cwnd;
	o->ssthresh = c->ssthresh;
	o->mss = c->mss;
	o->snd_wscale = c->snd_wscale;
	o->rcv_wscale = c->rcv_wscale;
	o->ts_ok = c->ts_ok;
	o->sack_ok = c->sack_ok;
	o->srtt = c->srtt;
	o->rttvar = c->rttvar;
	o->rto = c->rto;
	o->retransmits = c->total_rtx;
	o->snd_queued = (size_t)(c->snd_end_off - c->snd_una_off);
}
