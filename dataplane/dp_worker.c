/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_worker.c - the run-to-completion loop of one worker lcore.
 *
 * poll every RX queue this worker owns -> tcps_if_input per frame (L2/L3 in
 * place: ARP/NDP/ICMP answered by rewriting the received mbuf) -> TX buffer
 * per port -> held ACKs of the burst (tcps_stack_rx_end) -> timers when
 * due -> one tx_burst per port per iteration.
 *
 * Idle policy: "busy" never yields. "adaptive" spins with rte_pause for
 * 256 us after the last frame, then sleeps with a doubling interval capped at
 * idle_max_us, and returns to spinning at the first frame. On a 2-core box
 * this leaves the peers (and the kernel side of tap/veth) CPU to run; the
 * cost is up to idle_max_us of extra latency for the first frame of a burst.
 * RX interrupts were not used because net_af_xdp and net_ring lack them in
 * DPDK 22.11 and one policy for every PMD is easier to reason about.
 */
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define COMP "dataplane"
/* Spin this long after the last frame before the first sleep. Time, not a
 * poll count: an empty poll costs ~50 ns on net_af_xdp with busy_budget=0
 * (dp_port.c) and a read() syscall on net_tap. 256 us is what the former
 * 256 empty polls took on af_xdp when each made a busy-poll recvfrom(). */
#define SPIN_NS (256 * MXG_NSEC_PER_USEC)

static uint64_t ns_mult; /* (1e9 << 32) / tsc_hz */

mxg_tstamp dp_now(const struct dp_ctx *ctx)
{
	(void)ctx;
	return (mxg_tstamp)(((unsigned __int128)rte_rdtsc() * ns_mult) >> 32);
}

static void tx_flush(struct dp_ifq *q)
{
	uint16_t sent = 0;

	if (!q->tx_n)
		return;
	/* A PMD may take part of a burst; one retry covers a full ring that a
	 * completion just drained, more would stall the whole loop. */
	for (int tries = 0; tries < 2 && sent < q->tx_n; tries++)
		sent += rte_eth_tx_burst(q->port_id, q->txq, q->tx + sent, q->tx_n - sent);
	if (sent < q->tx_n) {
		q->w->st.tx_dropped += q->tx_n - sent;
		rte_pktmbuf_free_bulk(q->tx + sent, q->tx_n - sent);
	}
	q->tx_n = 0;
}

static inline void tx_enqueue(struct dp_ifq *q, struct rte_mbuf *m)
{
	if (q->tx_n == RTE_DIM(q->tx))
		tx_flush(q);
	q->tx[q->tx_n++] = m;
}

static uint8_t *frame_alloc(void *io, uint16_t len, void **h)
{
	struct dp_ifq *q = io;
	struct rte_mbuf *m = rte_pktmbuf_alloc(q->w->pool);
	uint8_t *p;

	if (!m)
		return NULL;
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	if (!p) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	*h = m;
	return p;
}

static void frame_send(void *io, void *h)
{
	tx_enqueue(io, h);
}

static void frame_free(void *io, void *h)
{
	(void)io;
	rte_pktmbuf_free(h);
}

static void neigh_learned(void *io, const struct mxg_ip *ip, const uint8_t *mac)
{
	struct dp_ifq *q = io;
	struct dp_worker *w = q->w;
	struct dp_neigh_msg msg = {.ip = *ip, .port = (uint8_t)(q - w->ifq)};

	memcpy(msg.mac, mac, 6);
	for (unsigned i = 0; i < w->ctx->nworkers; i++) {
		struct dp_worker *peer = &w->ctx->worker[i];

		if (peer != w && rte_ring_mp_enqueue_elem(peer->neigh_ring, &msg, sizeof(msg)))
			w->st.neigh_relay_full++;
	}
}

static const struct tcps_frame_ops frame_ops = {
	.alloc = frame_alloc,
	.send = frame_send,
	.free = frame_free,
	.neigh_learned = neigh_learned,
};

static void neigh_drain(struct dp_worker *w, mxg_tstamp now)
{
	struct dp_neigh_msg msg[16];
	unsigned n = rte_ring_sc_dequeue_burst_elem(w->neigh_ring, msg, sizeof(msg[0]),
						    RTE_DIM(msg), NULL);

	for (unsigned i = 0; i < n; i++)
		if (msg[i].port < w->nifq)
			tcps_if_neigh_learn(w->ifq[msg[i].port].ifc, &msg[i].ip, msg[i].mac, now);
}

static void copy_seg(uint8_t *l4, uint16_t len, const struct mxg_ip *src,
		     const struct mxg_ip *dst, void *arg)
{
	memcpy(l4, arg, len);
}

/* tcps_io_ops.output: a segment leaves through the port that owns its
 * source address (one port per address family and prefix in practice). */
static int tcp_output(void *io, const struct mxg_ip *src, const struct mxg_ip *dst,
		      const uint8_t *seg, uint16_t len, mxg_tstamp now)
{
	struct dp_worker *w = io;

	for (unsigned i = 0; i < w->nifq; i++) {
		const struct tcps_if_conf *ic = tcps_if_conf(w->ifq[i].ifc);
		const struct mxg_prefix *p = src->family == 4 ? &ic->v4 : &ic->v6;
		bool has = src->family == 4 ? ic->has_v4 : ic->has_v6;

		if (has && !memcmp(p->ip.a, src->a, src->family == 4 ? 4 : 16))
			return tcps_if_output(w->ifq[i].ifc, src, dst, IPPROTO_TCP, len, copy_seg,
					      (void *)seg, now);
	}
	w->st.tcp_no_route++;
	return MXG_E_NOENT;
}

static const struct tcps_io_ops tcp_ops = {
	.output = tcp_output,
};

static inline void rx_one(struct dp_ifq *q, struct rte_mbuf *m, mxg_tstamp now,
			  struct rte_mbuf **fr, unsigned *nfr)
{
	struct tcps_pktinfo pi;
	enum tcps_drop why;
	uint16_t rlen;

	if (unlikely(m->nb_segs > 1)) {
		q->w->st.rx_multiseg++;
		fr[(*nfr)++] = m;
		return;
	}
	switch (tcps_if_input(q->ifc, rte_pktmbuf_mtod(m, uint8_t *), m->data_len, now, &why,
			      &rlen, &pi)) {
	case TCPS_RX_REPLY:
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - rlen));
		m->ol_flags = 0;
		tx_enqueue(q, m);
		return;
	case TCPS_RX_L4:
		/* sender filter (dp_filter.c): blocked/throttled SYNs never reach TCP */
		if (pi.l4_proto == IPPROTO_TCP && pi.l4_len >= 20 &&
		    (rte_pktmbuf_mtod_offset(m, uint8_t *, pi.l4_off)[13] & 0x12) == 0x02 &&
		    dp_filter_syn_drop(q->w, &pi.src, now))
			break;
		if (likely(pi.l4_proto == IPPROTO_TCP))
			tcps_stack_input(q->w->tcp, &pi.src, &pi.dst,
					 rte_pktmbuf_mtod_offset(m, uint8_t *, pi.l4_off), pi.l4_len,
					 now);
		else
			q->w->st.l4_unhandled++;
		break;
	default:
		break;
	}
	fr[(*nfr)++] = m;
}

unsigned dp_worker_poll(struct dp_worker *w, mxg_tstamp now)
{
	struct rte_mbuf *pkts[DP_MAX_BURST], *fr[DP_MAX_BURST];
	const uint16_t burst = w->ctx->conf.burst;
	unsigned total = 0;

	if (unlikely(!rte_ring_empty(w->neigh_ring)))
		neigh_drain(w, now);
	dp_filter_drain(w, now); /* sender filter changes (dp_filter.c) */
	if (w->smtp) /* policy snapshots, quarantine answers (dp_ctl.c) */
		dp_ctl_poll(w, dp_smtp_pol_ack, now);

	/* One receive batch per poll: ACKs for in-order data go once per
	 * connection at its end (tcps.h, tcps_stack_rx_begin). */
	tcps_stack_rx_begin(w->tcp);
	for (unsigned i = 0; i < w->nifq; i++) {
		struct dp_ifq *q = &w->ifq[i];
		bool got = false;

		for (uint16_t r = 0; r < q->nrxq; r++) {
			uint16_t n = rte_eth_rx_burst(q->port_id, q->rxq[r], pkts, burst);
			unsigned nfr = 0;

			if (!n)
				continue;
			for (uint16_t k = 0; k < n; k++) {
				if (k + 1 < n)
					rte_prefetch0(rte_pktmbuf_mtod(pkts[k + 1], void *));
				rx_one(q, pkts[k], now, fr, &nfr);
			}
			if (nfr)
				rte_pktmbuf_free_bulk(fr, nfr);
			total += n;
			got = true;
		}
		if (unlikely(now >= q->ifc_deadline)) {
			tcps_if_on_timer(q->ifc, now);
			got = true;
		}
		if (got)
			q->ifc_deadline = tcps_if_deadline(q->ifc);
	}
	tcps_stack_rx_end(w->tcp, now);
	if (unlikely(now >= w->smtp_deadline)) /* SMTP proxy timers (dp_smtp.c) */
		dp_smtp_on_timer(w, now);
	if (total || now >= w->tcp_deadline) {
		if (now >= w->tcp_deadline)
			tcps_stack_on_timer(w->tcp, now);
		w->tcp_deadline = tcps_stack_deadline(w->tcp);
	}
	for (unsigned i = 0; i < w->nifq; i++)
		tx_flush(&w->ifq[i]);
	return total;
}

void dp_worker_io_signals(bool take)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&set, sig);
	pthread_sigmask(take ? SIG_UNBLOCK : SIG_BLOCK, &set, NULL);
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_ctx *ctx = w->ctx;
	const bool adaptive = ctx->conf.idle == DP_IDLE_ADAPTIVE;
	const uint32_t max_us = ctx->conf.idle_max_us;
	uint32_t sleep_us = 1;
	mxg_tstamp busy_at = 0;

	/* Short sleeps must be short: the default 50 us slack would dominate. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	dp_worker_io_signals(true); /* main.c blocked them for the others */
	MXG_INFO(COMP, "worker %u on lcore %u: %u ports", w->idx, w->lcore_id, w->nifq);
	while (!ctx->stop) {
		mxg_tstamp now = dp_now(ctx);
		unsigned n = dp_worker_poll(w, now);

		w->st.polls++;
		if (n) {
			w->st.busy_polls++;
			busy_at = now;
			sleep_us = 1;
			continue;
		}
		if (!adaptive)
			continue;
		if (now - busy_at < SPIN_NS) {
			rte_pause();
			continue;
		}
		rte_delay_us_sleep(sleep_us);
		w->st.idle_sleeps++;
		if (sleep_us < max_us)
			sleep_us = RTE_MIN(sleep_us * 2, max_us);
	}
	for (unsigned i = 0; i < w->nifq; i++)
		tx_flush(&w->ifq[i]);
	return 0;
}

static void ifc_conf(const struct dp_port *p, struct tcps_if_conf *ic)
{
	const struct dp_port_conf *pc = p->conf;

	memset(ic, 0, sizeof(*ic));
	memcpy(ic->mac, p->mac, 6);
	ic->mtu = pc->mtu;
	ic->vlan = pc->vlan;
	ic->has_v4 = pc->has_v4;
	ic->v4 = pc->v4;
	ic->has_v4_gw = pc->has_v4_gw;
	ic->v4_gw = pc->v4_gw;
	ic->has_v6 = pc->has_v6;
	ic->v6 = pc->v6;
	ic->has_v6_gw = pc->has_v6_gw;
	ic->v6_gw = pc->v6_gw;
}

static int tcp_init(struct dp_ctx *ctx, struct dp_worker *w)
{
	struct tcps_stack_conf tc = {0};
	static const struct mxg_ip any4 = {.family = 4}, any6 = {.family = 6};

	/* ISNs, SYN cookies and the flow hash are only as good as this key. */
	if (getrandom(tc.secret, sizeof(tc.secret), 0) != sizeof(tc.secret)) {
		MXG_ERR(COMP, "getrandom: no entropy for the TCP secret");
		return MXG_E_IO;
	}
	tc.max_conns = ctx->conf.tcp_max_conns;
	tc.rcvbuf = ctx->conf.tcp_rcvbuf;
	tc.sndbuf = ctx->conf.tcp_sndbuf;
	tc.mem_max = ctx->conf.tcp_mem_max;
	/* 0 would mean the stack's default: the shortest we allow is 1 ms. */
	tc.time_wait = RTE_MAX(ctx->conf.tcp_time_wait_ms, 1u) * MXG_NSEC_PER_MSEC;
	tc.mtu = UINT16_MAX;
	for (unsigned p = 0; p < ctx->nports; p++)
		tc.mtu = RTE_MIN(tc.mtu, ctx->port[p].conf->mtu);
	w->tcp = tcps_stack_new(&tc, &tcp_ops, w, NULL);
	if (!w->tcp) {
		MXG_ERR(COMP, "worker %u: cannot create the TCP stack", w->idx);
		return MXG_E_NOMEM;
	}
	w->tcp_deadline = tcps_stack_deadline(w->tcp);
	if (ctx->conf.test_services &&
	    (tcps_svc_start(w->tcp, &any4) || tcps_svc_start(w->tcp, &any6))) {
		MXG_ERR(COMP, "worker %u: cannot start the echo/discard test services", w->idx);
		return MXG_E_NOMEM;
	}
	if (ctx->conf.test_relay_port) {
		/* test-only relay (tcps_svc_relay.c): read-only after the
		 * first worker filled it, shared by all */
		static struct tcps_relay_conf relay;

		relay.to4 = ctx->conf.test_relay_v4;
		relay.to6 = ctx->conf.test_relay_v6;
		relay.to_port = ctx->conf.test_relay_port;
		if (tcps_svc_relay_start(w->tcp, &any4, &relay, &w->relay[0]) ||
		    tcps_svc_relay_start(w->tcp, &any6, &relay, &w->relay[1])) {
			MXG_ERR(COMP, "worker %u: cannot start the test relay", w->idx);
			return MXG_E_NOMEM;
		}
	}
	if (dp_smtp_worker_start(ctx, w)) /* SMTP proxy listeners (dp_smtp.c) */
		return MXG_E_NOMEM;
	return 0;
}

int dp_workers_init(struct dp_ctx *ctx)
{
	unsigned lcore, idx = 0;

	ns_mult = (uint64_t)(((unsigned __int128)MXG_NSEC_PER_SEC << 32) / rte_get_tsc_hz());
	if (dp_scan_init(&ctx->conf.scan))
		return MXG_E_INVAL;
	ctx->worker = rte_zmalloc("mxg_workers", sizeof(*ctx->worker) * ctx->nworkers,
				  RTE_CACHE_LINE_SIZE);
	if (!ctx->worker)
		return MXG_E_NOMEM;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct dp_worker *w = &ctx->worker[idx];

		if (idx == ctx->nworkers)
			break;
		w->idx = idx++;
		w->lcore_id = lcore;
		w->ctx = ctx;
		w->pool = ctx->pool;
	}
	RTE_BUILD_BUG_ON(sizeof(struct dp_neigh_msg) % 4 != 0);
	for (unsigned i = 0; i < ctx->nworkers; i++) {
		struct dp_worker *w = &ctx->worker[i];
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "mxg_neigh%u", i);
		w->neigh_ring = rte_ring_create_elem(name, sizeof(struct dp_neigh_msg), 1024,
						     (int)rte_socket_id(), RING_F_SC_DEQ);
		if (!w->neigh_ring) {
			MXG_ERR(COMP, "worker %u: neighbor ring: %s", i, rte_strerror(rte_errno));
			return MXG_E_NOMEM;
		}
		for (unsigned p = 0; p < ctx->nports; p++) {
			struct dp_port *port = &ctx->port[p];
			struct dp_ifq *q = &w->ifq[w->nifq];
			struct tcps_if_conf ic;

			q->w = w;
			q->port_id = port->port_id;
			q->txq = (uint16_t)i;
			for (uint16_t r = (uint16_t)i; r < port->nrxq; r += (uint16_t)ctx->nworkers)
				q->rxq[q->nrxq++] = r;
			ifc_conf(port, &ic);
			q->ifc = tcps_if_new(&ic, &frame_ops, q, NULL);
			if (!q->ifc) {
				MXG_ERR(COMP, "port %s: cannot create the interface state",
					port->conf->name);
				return MXG_E_NOMEM;
			}
			q->ifc_deadline = tcps_if_deadline(q->ifc);
			w->nifq++;
		}
		if (tcp_init(ctx, w))
			return MXG_E_NOMEM;
	}
	if (dp_filter_init(ctx)) /* sender filter tables, XDP map pins (dp_filter.c) */
		return MXG_E_INVAL;
	return dp_ctl_start(ctx); /* control channel (dp_ctl.c) */
}

void dp_workers_fini(struct dp_ctx *ctx)
{
	if (!ctx->worker) {
		dp_ctl_stop();
		dp_scan_fini();
		return;
	}
	dp_filter_fini(ctx); /* sender filter (dp_filter.c) */
	for (unsigned i = 0; i < ctx->nworkers; i++) {
		struct dp_worker *w = &ctx->worker[i];

		for (unsigned p = 0; p < w->nifq; p++) {
			struct dp_ifq *q = &w->ifq[p];

			rte_pktmbuf_free_bulk(q->tx, q->tx_n);
			q->tx_n = 0;
			tcps_if_free(q->ifc);
			q->ifc = NULL;
		}
		w->nifq = 0;
		dp_smtp_worker_stop(w); /* SMTP proxy (dp_smtp.c): before the stack */
		tcps_stack_free(w->tcp);
		w->tcp = NULL;
		for (unsigned r = 0; r < 2; r++) { /* test relay: after the stack */
			tcps_svc_relay_free(w->relay[r]);
			w->relay[r] = NULL;
		}
		rte_ring_free(w->neigh_ring);
		w->neigh_ring = NULL;
	}
	dp_ctl_stop(); /* control channel: after the sessions let go of snapshots */
	dp_smtp_fini(); /* SMTP proxy: lists and TLS contexts */
	dp_scan_fini();
	rte_free(ctx->worker);
	ctx->worker = NULL;
}
