/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_bench.c - mxgate-dp-bench: ICMP echo rate of the dataplane on one core.
 *
 *   mxgate-dp-bench [--mode echo|null] [--family 4|6] [--size BYTES]
 *                   [--runs N] [--duration SEC] [--warmup SEC]
 *                   [--inflight N] [--burst N] [--sample-every N]
 *                   [--max-wait PCT] [--max-windows N]
 *                   [--lcores MAIN,WORKER] [--file-prefix P] [-- EAL-ARGS...]
 *
 * METHOD
 *	One process, two lcores, no NIC and no hugepages (EAL: --no-huge -m 512
 *	--no-pci, a unique --file-prefix whose runtime directory is removed at
 *	exit). The port is a net_ring ethdev made with rte_eth_from_rings()
 *	from two single-producer/single-consumer rte_rings:
 *
 *	    generator (main lcore) --gen2dp ring--> port RX queue 0
 *	    port TX queue 0 --dp2gen ring--> sink (main lcore, same loop)
 *
 *	The worker lcore runs the unmodified product path: dp_workers_init()
 *	builds its struct dp_worker and tcps_if exactly as mxgate-dataplane
 *	does, and the worker loops on dp_worker_poll() (rx_burst ->
 *	tcps_if_input, which rewrites each echo request in place into a reply
 *	-> tx_burst). "--mode null" replaces dp_worker_poll() by a bare
 *	rx_burst -> tx_burst on the same queues (what testpmd io-forward does),
 *	so "echo minus null" is the cost of the L2/L3 layer.
 *
 *	Frames: ICMP echo requests (or ICMPv6 with --family 6) of --size bytes
 *	(Ethernet frame without FCS, testpmd's convention: 64 = 14 Ethernet +
 *	20 IPv4 + 8 ICMP + 22 payload; 1514 = a full 1500-byte IP MTU) from
 *	02:00:00:00:00:02 / 198.18.0.2 / 2001:db8:18::2 to the port's MAC and
 *	198.18.0.1 / 2001:db8:18::1 (RFC 2544 benchmarking range).
 *
 *	Recycling VERSUS allocating. The generator allocates --inflight (1024)
 *	mbufs once, then turns every reply that comes back into a request
 *	again: it copies the prebuilt request headers (42 or 62 bytes, one
 *	cache line) over the reply and resets the length; the payload is left
 *	alone since an echo reply carries it unchanged, so the prebuilt ICMP
 *	checksum stays right. That costs the generator one mbuf-header line and one data line
 *	per packet, and the pool is never touched on the hot path. Allocating
 *	fresh requests (and freeing replies) would add a pool round trip and
 *	a 64..1514-byte copy per packet on the core that is supposed to be
 *	cheap. In null mode the frames come back unchanged and are forwarded
 *	as they are. A frame that is not the expected reply is counted, freed
 *	and replaced from the pool, so the in-flight count never decays.
 *
 *	Checks: every reply's length, ethertype and ICMP type are checked (they
 *	are on the line we rewrite anyway); one reply in --sample-every is fully
 *	validated (MACs and addresses swapped, IPv4 header checksum, ICMP or
 *	ICMPv6 checksum over the whole message, id/sequence, payload bytes). At
 *	the end both rings are drained: requests sent = replies received +
 *	frames still in flight, otherwise frames were lost. Exit status 3 if any
 *	check failed.
 *
 *	Figures, per window of --duration seconds after --warmup:
 *	  mpps            replies received by the sink per second / 1e6
 *	  cycles_per_pkt  TSC cycles the worker spent in poll iterations that
 *	                  received something (including dp_now() and the two
 *	                  rdtsc), divided by the frames received in them: the
 *	                  same definition as testpmd --record-core-cycles. A
 *	                  poll longer than PREEMPT_US (100 us, over ten times a
 *	                  burst of 32 full-size frames) lost its CPU to another
 *	                  process and is left out (counted in preempted_polls)
 *	  worker_busy     those cycles / window cycles: near 100% means the
 *	                  worker is the bottleneck and mpps is its rate
 *	  gen_busy        the same for the generator/sink loop: near 100% means
 *	                  the generator limits mpps (cycles_per_pkt still holds)
 *	  *_runq_wait     share of the window each lcore's thread was runnable
 *	                  but not running (/proc/self/task/TID/schedstat): other
 *	                  processes on the same CPUs. Windows with a high value
 *	                  measure the machine, not the code: with --max-wait PCT
 *	                  a window where either lcore waited more than PCT% is
 *	                  discarded and another one is run, up to --max-windows
 *	                  (default 3 x --runs); if none was clean, all count.
 *	The median, min and max over the --runs (clean) windows are printed as
 *	one JSON object on stdout (perf/run.py reads it), a summary on stderr.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_ring.h>

#include "dp.h"
#include "mxg_err.h"
#include "mxg_log.h"

#define MAX_WINDOWS 100
#define GEN_BURST 64
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ICMP_ID 0x6d78 /* "mx" */
#define ICMP_SEQ 1
/* A poll of one burst takes a few microseconds even for 1514-byte frames; one
 * that took longer than this lost the CPU in the middle (a scheduler slice
 * is milliseconds) and would charge someone else's time to the dataplane. */
#define PREEMPT_US 100

enum bench_mode { MODE_ECHO, MODE_NULL };

struct bench_opts {
	enum bench_mode mode;
	int family;             /* 4 or 6 */
	unsigned size;          /* frame bytes without FCS */
	unsigned runs;
	double duration;        /* seconds per measured window */
	double warmup;          /* seconds before the first window */
	unsigned inflight;      /* frames circulating */
	unsigned burst;         /* worker rx/tx burst (dp_conf.burst) */
	unsigned sample_every;  /* full validation of one reply in N */
	double max_wait;        /* % runqueue wait above which a window is discarded */
	unsigned max_windows;   /* give up after this many windows */
	unsigned main_lcore, worker_lcore;
	char file_prefix[64];
};

/* Written by the worker only (relaxed stores), read by the main lcore at
 * window boundaries. */
struct worker_counters {
	uint64_t pkts;        /* frames received */
	uint64_t busy_cycles; /* TSC cycles in polls that received something */
	uint64_t busy_pkts;   /* frames received in those polls */
	uint64_t polls;
	uint64_t busy_polls;
	uint64_t preempted;   /* busy polls left out: longer than PREEMPT_US */
} __rte_cache_aligned;

struct gen_counters {
	uint64_t sent;        /* requests enqueued towards the port */
	uint64_t replies;     /* frames dequeued from the port's TX ring */
	uint64_t busy_cycles; /* generator iterations that got replies */
	uint64_t polls, busy_polls;
	uint64_t sampled;     /* replies fully validated */
	uint64_t bad_sampled; /* ... that failed */
	uint64_t bad_cheap;   /* wrong length/ethertype/type on any reply */
	uint64_t refilled;    /* requests allocated to replace bad frames */
};

struct window {
	double mpps;           /* sink-side replies */
	double worker_mpps;    /* frames the worker received */
	double cycles_per_pkt;
	double worker_busy;    /* 0..1 */
	double gen_busy;       /* 0..1 */
	double pkts_per_busy_poll;
	double worker_wait;    /* 0..1: runnable but not running (schedstat) */
	double gen_wait;
	double preempted;      /* busy polls left out of cycles_per_pkt */
	bool clean;            /* both waits <= --max-wait */
};

struct bench {
	struct bench_opts o;
	struct dp_ctx *ctx;
	struct rte_ring *gen2dp, *dp2gen;
	uint16_t port_id;
	uint8_t tmpl[RTE_ETHER_MAX_LEN]; /* the request frame */
	unsigned hdr_len;      /* bytes rewritten per recycle */
	unsigned type_off;     /* offset of the ICMP type byte */
	uint8_t reply_type;
	pid_t gen_tid, worker_tid;
	struct worker_counters wc;               /* own cache line, worker writes */
	volatile int stop __rte_cache_aligned;   /* own cache line, worker reads */
	struct gen_counters gc __rte_cache_aligned; /* main lcore only */
	unsigned nwin, nclean;
	struct window win[MAX_WINDOWS];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static const uint8_t gen_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const char *const port_v4 = "198.18.0.1/24", *const gen_v4 = "198.18.0.2";
static const char *const port_v6 = "2001:db8:18::1/64", *const gen_v6 = "2001:db8:18::2";

/* ------------------------------------------------------------------ */
/* Frames                                                             */
/* ------------------------------------------------------------------ */

static void build_request(struct bench *b, const uint8_t *port_mac)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b->tmpl;
	struct mxg_prefix pp;
	struct mxg_ip gip;
	struct rte_icmp_hdr *ic;
	unsigned l3 = sizeof(*eh), l4, i;

	memset(b->tmpl, 0, sizeof(b->tmpl));
	memcpy(eh->dst_addr.addr_bytes, port_mac, 6);
	memcpy(eh->src_addr.addr_bytes, gen_mac, 6);
	if (b->o.family == 4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(b->tmpl + l3);

		mxg_prefix_parse(port_v4, &pp);
		mxg_ip_parse(gen_v4, &gip);
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(b->o.size - l3));
		ip->packet_id = rte_cpu_to_be_16(1);
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_ICMP;
		memcpy(&ip->src_addr, gip.a, 4);
		memcpy(&ip->dst_addr, pp.ip.a, 4);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		l4 = l3 + (unsigned)sizeof(*ip);
		ic = (struct rte_icmp_hdr *)(b->tmpl + l4);
		ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
		b->reply_type = RTE_IP_ICMP_ECHO_REPLY;
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(b->tmpl + l3);

		mxg_prefix_parse(port_v6, &pp);
		mxg_ip_parse(gen_v6, &gip);
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(b->o.size - l3 - sizeof(*ip)));
		ip->proto = IPPROTO_ICMPV6;
		ip->hop_limits = 64;
		memcpy(ip->src_addr, gip.a, 16);
		memcpy(ip->dst_addr, pp.ip.a, 16);
		l4 = l3 + (unsigned)sizeof(*ip);
		ic = (struct rte_icmp_hdr *)(b->tmpl + l4);
		ic->icmp_type = ICMP6_ECHO_REQUEST;
		b->reply_type = ICMP6_ECHO_REPLY;
	}
	ic->icmp_ident = rte_cpu_to_be_16(ICMP_ID);
	ic->icmp_seq_nb = rte_cpu_to_be_16(ICMP_SEQ);
	for (i = l4 + (unsigned)sizeof(*ic); i < b->o.size; i++)
		b->tmpl[i] = (uint8_t)(i * 7 + 3);
	if (b->o.family == 4)
		ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, b->o.size - l4);
	else
		ic->icmp_cksum = rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)(b->tmpl + l3), ic);
	b->hdr_len = l4 + (unsigned)sizeof(*ic);
	b->type_off = l4;
}

/* Full check of one reply against the request template. */
static bool reply_valid(const struct bench *b, const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *t = b->tmpl;
	const struct rte_ether_hdr *eh = (const struct rte_ether_hdr *)f;
	const unsigned l3 = sizeof(*eh), l4 = b->type_off, size = b->o.size;
	const struct rte_icmp_hdr *ic = (const struct rte_icmp_hdr *)(f + l4);
	const struct rte_icmp_hdr *tic = (const struct rte_icmp_hdr *)(t + l4);

	if (m->nb_segs != 1 || m->pkt_len != size || m->data_len != size)
		return false;
	/* Ethernet: back to the generator, from the port. */
	if (memcmp(f, t + 6, 6) || memcmp(f + 6, t, 6) || memcmp(f + 12, t + 12, 2))
		return false;
	if (b->o.family == 4) {
		const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(f + l3);
		const struct rte_ipv4_hdr *tip = (const struct rte_ipv4_hdr *)(t + l3);

		if (ip->version_ihl != RTE_IPV4_VHL_DEF || ip->total_length != tip->total_length ||
		    ip->next_proto_id != IPPROTO_ICMP || ip->src_addr != tip->dst_addr ||
		    ip->dst_addr != tip->src_addr || ip->time_to_live == 0 ||
		    rte_raw_cksum(ip, sizeof(*ip)) != 0xffff)
			return false;
		if (rte_raw_cksum(ic, size - l4) != 0xffff)
			return false;
	} else {
		const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)(f + l3);
		const struct rte_ipv6_hdr *tip = (const struct rte_ipv6_hdr *)(t + l3);

		if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6 ||
		    ip->payload_len != tip->payload_len || ip->proto != IPPROTO_ICMPV6 ||
		    memcmp(ip->src_addr, tip->dst_addr, 16) || memcmp(ip->dst_addr, tip->src_addr, 16) ||
		    ip->hop_limits == 0)
			return false;
		uint32_t sum = (uint32_t)rte_raw_cksum(ic, size - l4) + rte_ipv6_phdr_cksum(ip, 0);

		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		if (sum != 0xffff)
			return false;
	}
	if (ic->icmp_type != b->reply_type || ic->icmp_code != 0 ||
	    ic->icmp_ident != tic->icmp_ident || ic->icmp_seq_nb != tic->icmp_seq_nb)
		return false;
	return memcmp(f + b->hdr_len, t + b->hdr_len, size - b->hdr_len) == 0;
}

static inline void make_request(const struct bench *b, struct rte_mbuf *m)
{
	rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), b->tmpl, b->hdr_len);
	m->data_len = (uint16_t)b->o.size;
	m->pkt_len = b->o.size;
}

static struct rte_mbuf *new_request(const struct bench *b)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(b->ctx->pool);

	if (!m)
		return NULL;
	rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), b->tmpl, b->o.size);
	m->data_len = (uint16_t)b->o.size;
	m->pkt_len = b->o.size;
	return m;
}

/* ------------------------------------------------------------------ */
/* Worker lcore                                                       */
/* ------------------------------------------------------------------ */

/* What testpmd --forward-mode=io does: no L2/L3, frames go back out as they
 * came in; a TX queue that refuses part of a burst drops the rest. */
static unsigned null_poll(struct dp_worker *w)
{
	struct rte_mbuf *pkts[DP_MAX_BURST];
	const uint16_t burst = w->ctx->conf.burst;
	unsigned total = 0;

	for (unsigned i = 0; i < w->nifq; i++) {
		struct dp_ifq *q = &w->ifq[i];

		for (uint16_t r = 0; r < q->nrxq; r++) {
			uint16_t n = rte_eth_rx_burst(q->port_id, q->rxq[r], pkts, burst);
			uint16_t sent;

			if (!n)
				continue;
			sent = rte_eth_tx_burst(q->port_id, q->txq, pkts, n);
			if (unlikely(sent < n)) {
				w->st.tx_dropped += n - sent;
				rte_pktmbuf_free_bulk(pkts + sent, n - sent);
			}
			total += n;
		}
	}
	return total;
}

static int worker_loop(void *arg)
{
	struct bench *b = arg;
	struct dp_worker *w = &b->ctx->worker[0];
	const bool echo = b->o.mode == MODE_ECHO;
	const uint64_t preempt = rte_get_tsc_hz() / 1000000 * PREEMPT_US;
	uint64_t pkts = 0, busy = 0, bpkts = 0, polls = 0, bpolls = 0, preempted = 0;

	__atomic_store_n(&b->worker_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!b->stop) {
		uint64_t t0 = rte_rdtsc();
		unsigned n = echo ? dp_worker_poll(w, dp_now(b->ctx)) : null_poll(w);
		uint64_t t1 = rte_rdtsc();

		polls++;
		if (!n)
			continue;
		pkts += n;
		bpolls++;
		if (likely(t1 - t0 < preempt)) {
			busy += t1 - t0;
			bpkts += n;
		} else {
			preempted++;
		}
		/* Plain stores to a line only this lcore writes: the main lcore
		 * pulls it a few times per second. */
		__atomic_store_n(&b->wc.pkts, pkts, __ATOMIC_RELAXED);
		__atomic_store_n(&b->wc.busy_cycles, busy, __ATOMIC_RELAXED);
		__atomic_store_n(&b->wc.busy_pkts, bpkts, __ATOMIC_RELAXED);
		__atomic_store_n(&b->wc.busy_polls, bpolls, __ATOMIC_RELAXED);
		__atomic_store_n(&b->wc.preempted, preempted, __ATOMIC_RELAXED);
		__atomic_store_n(&b->wc.polls, polls, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&b->wc.polls, polls, __ATOMIC_RELAXED);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Generator / sink (main lcore)                                      */
/* ------------------------------------------------------------------ */

struct snap {
	uint64_t tsc, replies, gbusy, wpkts, wbusy, wbpkts, wbpolls, wpreempted;
	uint64_t gwait_ns, wwait_ns;
};

/* Nanoseconds thread |tid| of this process spent runnable but waiting for
 * a CPU (second field of schedstat): other processes on "our" cores. */
static uint64_t runq_wait_ns(pid_t tid)
{
	unsigned long long run = 0, wait = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

static void take_snap(const struct bench *b, uint64_t tsc, struct snap *s)
{
	s->gwait_ns = runq_wait_ns(b->gen_tid);
	s->wwait_ns = runq_wait_ns(__atomic_load_n(&b->worker_tid, __ATOMIC_ACQUIRE));
	s->tsc = tsc;
	s->replies = b->gc.replies;
	s->gbusy = b->gc.busy_cycles;
	s->wpkts = __atomic_load_n(&b->wc.pkts, __ATOMIC_RELAXED);
	s->wbusy = __atomic_load_n(&b->wc.busy_cycles, __ATOMIC_RELAXED);
	s->wbpkts = __atomic_load_n(&b->wc.busy_pkts, __ATOMIC_RELAXED);
	s->wbpolls = __atomic_load_n(&b->wc.busy_polls, __ATOMIC_RELAXED);
	s->wpreempted = __atomic_load_n(&b->wc.preempted, __ATOMIC_RELAXED);
}

static void close_window(struct bench *b, const struct snap *a, const struct snap *z)
{
	struct window *wi = &b->win[b->nwin++];
	double secs = (double)(z->tsc - a->tsc) / (double)rte_get_tsc_hz();
	uint64_t wp = z->wpkts - a->wpkts;

	wi->mpps = (double)(z->replies - a->replies) / secs / 1e6;
	wi->worker_mpps = (double)wp / secs / 1e6;
	wi->cycles_per_pkt = z->wbpkts > a->wbpkts ?
		(double)(z->wbusy - a->wbusy) / (double)(z->wbpkts - a->wbpkts) : 0;
	wi->preempted = (double)(z->wpreempted - a->wpreempted);
	wi->worker_busy = (double)(z->wbusy - a->wbusy) / (double)(z->tsc - a->tsc);
	wi->gen_busy = (double)(z->gbusy - a->gbusy) / (double)(z->tsc - a->tsc);
	wi->worker_wait = (double)(z->wwait_ns - a->wwait_ns) / (secs * 1e9);
	wi->gen_wait = (double)(z->gwait_ns - a->gwait_ns) / (secs * 1e9);
	wi->pkts_per_busy_poll =
		z->wbpolls > a->wbpolls ? (double)wp / (double)(z->wbpolls - a->wbpolls) : 0;
	wi->clean = wi->worker_wait * 100 <= b->o.max_wait && wi->gen_wait * 100 <= b->o.max_wait;
	b->nclean += wi->clean;
}

static int prime(struct bench *b)
{
	struct rte_mbuf *m;

	for (unsigned i = 0; i < b->o.inflight; i++) {
		m = new_request(b);
		if (!m) {
			fprintf(stderr, "mxgate-dp-bench: pool too small for %u frames in flight\n",
				b->o.inflight);
			return -1;
		}
		if (rte_ring_sp_enqueue(b->gen2dp, m) != 0) {
			rte_pktmbuf_free(m);
			return -1;
		}
		b->gc.sent++;
	}
	return 0;
}

/* Runs the warm-up and the measured windows; returns when done or
 * interrupted. */
static void gen_loop(struct bench *b)
{
	const uint64_t hz = rte_get_tsc_hz();
	const bool echo = b->o.mode == MODE_ECHO;
	struct rte_mbuf *pkts[GEN_BURST];
	struct gen_counters *g = &b->gc;
	unsigned sample_left = b->o.sample_every;
	struct snap start = {0}, now;
	uint64_t next = rte_rdtsc() + (uint64_t)(b->o.warmup * (double)hz);
	bool measuring = false;

	for (;;) {
		uint64_t t0 = rte_rdtsc();
		unsigned n, keep = 0;

		if (unlikely(t0 >= next)) {
			take_snap(b, t0, &now);
			if (measuring)
				close_window(b, &start, &now);
			measuring = true;
			if (b->nclean == b->o.runs || b->nwin == b->o.max_windows || interrupted)
				return;
			start = now;
			next = t0 + (uint64_t)(b->o.duration * (double)hz);
		}
		g->polls++;
		n = rte_ring_sc_dequeue_burst(b->dp2gen, (void **)pkts, GEN_BURST, NULL);
		if (!n) {
			if (unlikely(interrupted))
				return;
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
		for (unsigned i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
			uint8_t want = echo ? b->reply_type : b->tmpl[b->type_off];

			if (unlikely(m->data_len != b->o.size || f[12] != b->tmpl[12] ||
				     f[13] != b->tmpl[13] || f[b->type_off] != want)) {
				g->bad_cheap++;
				rte_pktmbuf_free(m);
				m = new_request(b);
				if (!m)
					continue;
				g->refilled++;
			} else {
				if (unlikely(--sample_left == 0)) {
					sample_left = b->o.sample_every;
					g->sampled++;
					if (echo && !reply_valid(b, m))
						g->bad_sampled++;
				}
				if (echo)
					make_request(b, m);
			}
			pkts[keep++] = m;
		}
		/* The ring holds every frame in flight: this never falls short. */
		g->sent += rte_ring_sp_enqueue_burst(b->gen2dp, (void **)pkts, keep, NULL);
		g->replies += n;
		g->busy_polls++;
		g->busy_cycles += rte_rdtsc() - t0;
	}
}

/* ------------------------------------------------------------------ */
/* Set-up                                                             */
/* ------------------------------------------------------------------ */

static int port_create(struct bench *b)
{
	struct dp_ctx *ctx = b->ctx;
	struct dp_port_conf *pc = &ctx->conf.port[0];
	struct dp_port *p = &ctx->port[0];
	const int sock = (int)rte_socket_id();
	/* Every frame in flight fits in either ring: TX never refuses one. */
	unsigned rsz = rte_align32pow2(b->o.inflight + 1);
	struct rte_eth_conf conf = {0};
	struct rte_ether_addr mac;
	int id, rc;

	b->gen2dp = rte_ring_create("mxgb_gen2dp", rsz, sock, RING_F_SP_ENQ | RING_F_SC_DEQ);
	b->dp2gen = rte_ring_create("mxgb_dp2gen", rsz, sock, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!b->gen2dp || !b->dp2gen) {
		fprintf(stderr, "mxgate-dp-bench: rings: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	id = rte_eth_from_rings("net_ring_bench", &b->gen2dp, 1, &b->dp2gen, 1, (unsigned)sock);
	if (id < 0) {
		fprintf(stderr, "mxgate-dp-bench: rte_eth_from_rings: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	b->port_id = (uint16_t)id;
	/* Same configuration as dp_port.c's port_setup() for one queue. */
	if ((rc = rte_eth_dev_configure(b->port_id, 1, 1, &conf)) ||
	    (rc = rte_eth_rx_queue_setup(b->port_id, 0, pc->rx_desc, (unsigned)sock, NULL,
					 ctx->pool)) ||
	    (rc = rte_eth_tx_queue_setup(b->port_id, 0, pc->tx_desc, (unsigned)sock, NULL)) ||
	    (rc = rte_eth_dev_start(b->port_id))) {
		fprintf(stderr, "mxgate-dp-bench: port set-up: %s\n", rte_strerror(-rc));
		return -1;
	}
	rte_eth_macaddr_get(b->port_id, &mac);
	if (rte_is_zero_ether_addr(&mac) || !rte_is_unicast_ether_addr(&mac)) {
		struct rte_ether_addr set = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

		rte_eth_dev_default_mac_addr_set(b->port_id, &set);
		rte_eth_macaddr_get(b->port_id, &mac);
		if (rte_is_zero_ether_addr(&mac))
			mac = set; /* the ring PMD does not filter on MAC */
	}
	p->conf = pc;
	p->port_id = b->port_id;
	snprintf(p->vdev, sizeof(p->vdev), "net_ring_bench");
	memcpy(p->mac, mac.addr_bytes, 6);
	p->nrxq = 1;
	p->ntxq = 1;
	p->started = true;
	ctx->nports = 1;
	return 0;
}

static void conf_fill(struct bench *b)
{
	struct dp_conf *c = &b->ctx->conf;
	struct dp_port_conf *pc = &c->port[0];

	snprintf(c->file_prefix, sizeof(c->file_prefix), "%s", b->o.file_prefix);
	c->workers = 1;
	c->idle = DP_IDLE_BUSY;
	/* In flight, plus each lcore's mempool cache, plus refills. */
	c->mbufs = RTE_MAX(8191u, rte_align32pow2(b->o.inflight * 2 + 2048) - 1);
	c->mbuf_cache = 256;
	c->burst = (uint16_t)b->o.burst;
	c->nports = 0; /* dp_ports_init only creates the pool; port_create does the rest */
	snprintf(pc->name, sizeof(pc->name), "bench");
	snprintf(pc->pmd, sizeof(pc->pmd), "net_ring");
	pc->queues = 1;
	pc->rx_desc = pc->tx_desc = 1024;
	pc->mtu = 1500;
	pc->has_v4 = mxg_prefix_parse(port_v4, &pc->v4) == 0;
	pc->has_v6 = mxg_prefix_parse(port_v6, &pc->v6) == 0;
}

static unsigned drain(struct rte_ring *r)
{
	struct rte_mbuf *pkts[GEN_BURST];
	unsigned n, total = 0;

	while ((n = rte_ring_sc_dequeue_burst(r, (void **)pkts, GEN_BURST, NULL)) > 0) {
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
	}
	return total;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Report                                                             */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Prints "name": {"median":, "min":, "max":, "samples": [...]} for the
 * field at |off| of each window. */
static double print_stat(const struct bench *b, const char *name, size_t off, double scale,
			 bool last)
{
	double v[MAX_WINDOWS], med;
	unsigned n = 0;

	/* The clean windows, or every window when none was clean. */
	for (unsigned i = 0; i < b->nwin; i++)
		if (b->win[i].clean || !b->nclean)
			v[n++] = *(const double *)((const char *)&b->win[i] + off) * scale;
	printf("  \"%s\": {\"samples\": [", name);
	for (unsigned i = 0; i < n; i++)
		printf("%s%.4f", i ? ", " : "", v[i]);
	qsort(v, n, sizeof(v[0]), cmp_double);
	med = n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
	printf("], \"median\": %.4f, \"min\": %.4f, \"max\": %.4f}%s\n", med, n ? v[0] : 0,
	       n ? v[n - 1] : 0, last ? "" : ",");
	return med;
}

static void report(const struct bench *b, uint64_t lost, bool ok)
{
	const struct dp_worker *w = &b->ctx->worker[0];
	const struct tcps_if_stats *ts = tcps_if_stats(w->ifq[0].ifc);
	double mpps, cpp, wbusy, gbusy;
	bool first = true;

	printf("{\n  \"bench\": \"dp_bench\",\n  \"mode\": \"%s\",\n  \"family\": %d,\n"
	       "  \"frame_bytes\": %u,\n  \"burst\": %u,\n  \"inflight\": %u,\n"
	       "  \"runs\": %u,\n  \"windows\": %u,\n  \"clean_windows\": %u,\n"
	       "  \"max_wait_pct\": %.2f,\n"
	       "  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n"
	       "  \"tsc_hz\": %" PRIu64 ",\n  \"lcores\": [%u, %u],\n",
	       b->o.mode == MODE_ECHO ? "echo" : "null", b->o.family, b->o.size, b->o.burst,
	       b->o.inflight, b->nclean ? b->nclean : b->nwin, b->nwin, b->nclean, b->o.max_wait,
	       b->o.duration, b->o.warmup, rte_get_tsc_hz(), b->o.main_lcore, b->o.worker_lcore);
	mpps = print_stat(b, "mpps", offsetof(struct window, mpps), 1, false);
	print_stat(b, "worker_mpps", offsetof(struct window, worker_mpps), 1, false);
	cpp = print_stat(b, "cycles_per_pkt", offsetof(struct window, cycles_per_pkt), 1, false);
	wbusy = print_stat(b, "worker_busy_pct", offsetof(struct window, worker_busy), 100, false);
	gbusy = print_stat(b, "gen_busy_pct", offsetof(struct window, gen_busy), 100, false);
	print_stat(b, "pkts_per_busy_poll", offsetof(struct window, pkts_per_busy_poll), 1, false);
	print_stat(b, "worker_runq_wait_pct", offsetof(struct window, worker_wait), 100, false);
	print_stat(b, "gen_runq_wait_pct", offsetof(struct window, gen_wait), 100, false);
	print_stat(b, "preempted_polls", offsetof(struct window, preempted), 1, false);
	printf("  \"validation\": {\"ok\": %s, \"replies\": %" PRIu64 ", \"sampled\": %" PRIu64
	       ", \"bad_sampled\": %" PRIu64 ", \"bad_cheap\": %" PRIu64 ", \"refilled\": %" PRIu64
	       ", \"lost\": %" PRIu64 "},\n",
	       ok ? "true" : "false", b->gc.replies, b->gc.sampled, b->gc.bad_sampled,
	       b->gc.bad_cheap, b->gc.refilled, lost);
	printf("  \"dataplane\": {\"rx_pkts\": %" PRIu64 ", \"tx_pkts\": %" PRIu64
	       ", \"icmp_echo_rx\": %" PRIu64 ", \"icmp6_echo_rx\": %" PRIu64
	       ", \"tx_dropped\": %" PRIu64 ", \"drops\": {",
	       ts->rx_pkts, ts->tx_pkts, ts->icmp_echo_rx, ts->icmp6_echo_rx, w->st.tx_dropped);
	for (int r = 0; r < TCPS_DROP__MAX; r++) {
		if (!ts->drop[r])
			continue;
		printf("%s\"%s\": %" PRIu64, first ? "" : ", ", tcps_drop_name((enum tcps_drop)r),
		       ts->drop[r]);
		first = false;
	}
	printf("}}\n}\n");
	fflush(stdout);
	fprintf(stderr,
		"mxgate-dp-bench: %s IPv%d %uB: %.2f Mpps (median of %u x %.1fs), "
		"%.1f cycles/pkt on the worker, worker busy %.0f%%, generator busy %.0f%%, "
		"replies %s\n",
		b->o.mode == MODE_ECHO ? "echo" : "null", b->o.family, b->o.size, mpps,
		b->nclean ? b->nclean : b->nwin, b->o.duration, cpp, wbusy, gbusy,
		ok ? "valid" : "INVALID");
	if (b->nclean < b->o.runs)
		fprintf(stderr, "mxgate-dp-bench: only %u of %u windows had runqueue wait <= %.1f%%: "
			"the machine is busy, the figures measure it too\n", b->nclean, b->nwin,
			b->o.max_wait);
}

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mxgate-dp-bench [--mode echo|null] [--family 4|6] [--size BYTES]\n"
		"         [--runs N] [--duration SEC] [--warmup SEC] [--inflight N] [--burst N]\n"
		"         [--sample-every N] [--max-wait PCT] [--max-windows N]\n"
		"         [--lcores MAIN,WORKER] [--file-prefix P]\n"
		"         [-- EAL-ARGS...]\n");
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"family", required_argument, NULL, 'f'},
		{"size", required_argument, NULL, 's'},
		{"runs", required_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"inflight", required_argument, NULL, 'i'},
		{"burst", required_argument, NULL, 'b'},
		{"sample-every", required_argument, NULL, 'S'},
		{"max-wait", required_argument, NULL, 'W'},
		{"max-windows", required_argument, NULL, 'M'},
		{"lcores", required_argument, NULL, 'l'},
		{"file-prefix", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	*o = (struct bench_opts){
		.mode = MODE_ECHO, .family = 4, .size = 64, .runs = 5, .duration = 5,
		.warmup = 1, .inflight = 1024, .burst = 32, .sample_every = 4096,
		.main_lcore = 0, .worker_lcore = 1, .max_wait = 100,
	};
	snprintf(o->file_prefix, sizeof(o->file_prefix), "mxg-bench-%d", (int)getpid());
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "echo"))
				o->mode = MODE_ECHO;
			else if (!strcmp(optarg, "null"))
				o->mode = MODE_NULL;
			else
				return -1;
			break;
		case 'f': o->family = atoi(optarg); break;
		case 's': o->size = (unsigned)atoi(optarg); break;
		case 'r': o->runs = (unsigned)atoi(optarg); break;
		case 'd': o->duration = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'i': o->inflight = (unsigned)atoi(optarg); break;
		case 'b': o->burst = (unsigned)atoi(optarg); break;
		case 'S': o->sample_every = (unsigned)atoi(optarg); break;
		case 'W': o->max_wait = atof(optarg); break;
		case 'M': o->max_windows = (unsigned)atoi(optarg); break;
		case 'l':
			if (sscanf(optarg, "%u,%u", &o->main_lcore, &o->worker_lcore) != 2)
				return -1;
			break;
		case 'p': snprintf(o->file_prefix, sizeof(o->file_prefix), "%s", optarg); break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (o->family != 4 && o->family != 6) {
		fprintf(stderr, "mxgate-dp-bench: --family is 4 or 6\n");
		return -1;
	}
	if (o->size < 64 || o->size > RTE_ETHER_HDR_LEN + 1500) {
		fprintf(stderr, "mxgate-dp-bench: --size is 64..1514 (frame bytes, no FCS)\n");
		return -1;
	}
	if (!o->max_windows)
		o->max_windows = RTE_MIN(o->runs * 3, (unsigned)MAX_WINDOWS);
	if (o->runs < 1 || o->runs > MAX_WINDOWS || o->max_windows < o->runs ||
	    o->max_windows > MAX_WINDOWS || o->duration <= 0 || o->warmup < 0 ||
	    o->inflight < 1 || o->inflight > 65536 || o->burst < 1 || o->burst > DP_MAX_BURST ||
	    o->sample_every < 1 || o->main_lcore == o->worker_lcore) {
		fprintf(stderr, "mxgate-dp-bench: an option is out of range\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench *b;
	char lcores[32], runtime_dir[PATH_MAX] = "", mlcore[16];
	char *eal_argv[64];
	int eal_argc = 0, rc, status = 1;
	unsigned drained = 0;
	uint64_t lost = 0;
	bool ok = false, eal = false;

	/* Cache-line aligned: the worker's counters and the stop flag must not
	 * share a line with what the main lcore writes. */
	b = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(sizeof(*b), RTE_CACHE_LINE_SIZE));
	if (!b)
		return 1;
	memset(b, 0, sizeof(*b));
	b->ctx = calloc(1, sizeof(*b->ctx));
	if (!b->ctx || parse_opts(argc, argv, &b->o)) {
		usage(stderr);
		return 2;
	}
	mxg_log_set_level(MXG_LOG_WARN);
	snprintf(lcores, sizeof(lcores), "%u,%u", b->o.main_lcore, b->o.worker_lcore);
	snprintf(mlcore, sizeof(mlcore), "%u", b->o.main_lcore);
	eal_argv[eal_argc++] = argv[0];
	eal_argv[eal_argc++] = "--no-huge";
	eal_argv[eal_argc++] = "-m";
	eal_argv[eal_argc++] = "512";
	eal_argv[eal_argc++] = "--no-pci";
	eal_argv[eal_argc++] = "--no-telemetry";
	eal_argv[eal_argc++] = "--log-level=lib.eal:warning";
	eal_argv[eal_argc++] = "-l";
	eal_argv[eal_argc++] = lcores;
	eal_argv[eal_argc++] = "--main-lcore";
	eal_argv[eal_argc++] = mlcore;
	eal_argv[eal_argc++] = "--file-prefix";
	eal_argv[eal_argc++] = b->o.file_prefix;
	for (int i = optind; i < argc && eal_argc < (int)RTE_DIM(eal_argv) - 1; i++)
		eal_argv[eal_argc++] = argv[i];
	eal_argv[eal_argc] = NULL;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		fprintf(stderr, "mxgate-dp-bench: EAL init: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	eal = true;
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	if (rte_lcore_count() != 2 || !rte_lcore_is_enabled(b->o.worker_lcore)) {
		fprintf(stderr, "mxgate-dp-bench: needs exactly the two lcores of --lcores\n");
		goto out;
	}
	conf_fill(b);
	b->ctx->tsc_hz = rte_get_tsc_hz();
	b->ctx->nworkers = 1;
	if (dp_ports_init(b->ctx) || port_create(b) || dp_workers_init(b->ctx))
		goto out;
	build_request(b, b->ctx->port[0].mac);
	if (prime(b))
		goto out;
	rc = rte_eal_remote_launch(worker_loop, b, b->o.worker_lcore);
	if (rc) {
		fprintf(stderr, "mxgate-dp-bench: launch: %s\n", rte_strerror(-rc));
		goto out;
	}
	b->gen_tid = (pid_t)syscall(SYS_gettid);
	while (!__atomic_load_n(&b->worker_tid, __ATOMIC_ACQUIRE))
		rte_pause();
	gen_loop(b);
	b->stop = 1;
	rte_eal_wait_lcore(b->o.worker_lcore);
	/* Everything still circulating is in one of the two rings now (the
	 * worker flushes its TX buffer at the end of every poll). */
	drained = drain(b->gen2dp) + drain(b->dp2gen);
	lost = b->gc.sent - b->gc.replies - drained;
	ok = !b->gc.bad_cheap && !b->gc.bad_sampled && !lost && b->gc.replies &&
	     (b->o.mode == MODE_NULL || b->gc.sampled);
	if (interrupted) {
		fprintf(stderr, "mxgate-dp-bench: interrupted\n");
		status = 130;
	} else {
		report(b, lost, ok);
		status = ok ? 0 : 3;
	}
out:
	if (b->gen2dp)
		drain(b->gen2dp);
	if (b->dp2gen)
		drain(b->dp2gen);
	dp_workers_fini(b->ctx);
	dp_ports_fini(b->ctx);
	rte_ring_free(b->gen2dp);
	rte_ring_free(b->dp2gen);
	if (eal)
		rte_eal_cleanup();
	/* The EAL leaves its runtime directory (config, sockets) behind. */
	if (*runtime_dir)
		nftw(runtime_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(b->ctx);
	free(b);
	return status;
}
