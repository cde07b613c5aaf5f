/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp.h - mxgate-dataplane internals shared by the dataplane sources and perf/.
 *
 * Threading: the main lcore parses the config, initialises the EAL and the
 * ports, launches one worker per worker lcore and then only waits for a stop
 * signal. Each worker owns, for every port, one struct dp_ifq: the RX queues
 * assigned to it (queue q goes to worker q % workers), its own TX queue
 * (index = worker index) and its own tcps_if instance. No worker writes
 * another's state; the telemetry thread only reads 64-bit counters.
 */
#ifndef DP_H
#define DP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "mxg_addr.h"
#include "mxg_conf.h"
#include "dp_scan.h" /* content scan: struct dp_scan_conf */
#include "dp_smtp.h" /* SMTP proxy (issue 4): struct dp_smtp_conf */
#include "dp_filter.h" /* sender filter (issue 7): struct dp_filter_conf */
#include "dp_ctl.h" /* control channel (issue 6): struct dp_ctl_conf */
#include "tcps.h"
#include "tcps_net.h"

#define DP_MAX_PORTS 16
#define DP_MAX_WORKERS 64
#define DP_MAX_QUEUES 64
#define DP_MAX_BURST 256
#define DP_NAME_LEN 32

enum dp_idle {
	DP_IDLE_ADAPTIVE, /* pause, then sleep with growing backoff when idle */
	DP_IDLE_BUSY,     /* never yield the core */
};

struct dp_port_conf {
	char name[DP_NAME_LEN];  /* section argument: [port NAME] */
	char pmd[DP_NAME_LEN];   /* net_tap, net_af_xdp, ..., pci */
	char devargs[256];       /* vdev arguments, or the PCI address for pci */
	uint16_t queues;         /* RX queues (0: one per worker) */
	uint16_t rx_desc, tx_desc;
	uint16_t mtu;
	uint16_t vlan;
	bool has_mac;
	uint8_t mac[6];          /* the gateway's MAC if set (default: the device's) */
	bool has_v4, has_v4_gw, has_v6, has_v6_gw;
	struct mxg_prefix v4, v6;
	struct mxg_ip v4_gw, v6_gw;
};

struct dp_conf {
	char file_prefix[64];
	char eal_args[512];
	unsigned workers;
	enum dp_idle idle;
	uint32_t idle_max_us;    /* adaptive: longest sleep */
	uint32_t mbufs, mbuf_cache;
	uint16_t burst;
	bool test_services;
	uint16_t test_relay_port;  /* test-only relay target port (0: off; tcps_svc_relay.c) */
	struct mxg_ip test_relay_v4, test_relay_v6; /* its servers (family 0: none) */
	uint32_t tcp_max_conns;  /* per worker, TIME_WAIT included */
	uint32_t tcp_rcvbuf, tcp_sndbuf; /* bytes per connection */
	uint64_t tcp_mem_max;    /* bytes of connection buffers per worker */
	uint32_t tcp_time_wait_ms;
	char log_level[16];
	unsigned nports;
	struct dp_port_conf port[DP_MAX_PORTS];
	struct dp_smtp_conf smtp; /* [smtp] (dp_smtp_conf.c) */
	struct dp_scan_conf scan; /* [scan] (dp_scan.c) */
	struct dp_filter_conf filter; /* [filter] (dp_filter.c) */
	struct dp_ctl_conf ctl;   /* [control]: the keys shared with mxgate-control */
};

/* Parses |path| into |c|. Returns 0, or a negative MXG_E_* code with
 * "FILE:LINE: key: message" in |err|. */
int dp_conf_load(const char *path, struct dp_conf *c, char *err, size_t errlen);

/* Per-worker counters of the dataplane itself (the tcps_if counters cover
 * L2/L3). */
struct dp_worker_stats {
	uint64_t polls;       /* loop iterations */
	uint64_t busy_polls;  /* iterations that received something */
	uint64_t idle_sleeps; /* adaptive sleeps */
	uint64_t tx_dropped;  /* frames the TX queue refused */
	uint64_t rx_multiseg; /* chained mbufs dropped (frame larger than one buffer) */
	uint64_t l4_unhandled; /* L4 frames of a protocol nobody consumes (UDP, ...) */
	uint64_t tcp_no_route; /* TCP output with a source that is none of our ports */
	uint64_t neigh_relay_full; /* neighbor updates lost: a peer worker's ring was full */
};

/* A neighbor one worker learned from the wire, relayed to the others (an
 * ARP reply or NA reaches only the queue RSS gives it, usually queue 0). */
struct dp_neigh_msg {
	struct mxg_ip ip;
	uint8_t mac[6];
	uint8_t port;   /* index into ifq[]; 24 bytes in all, as rte_ring
			 * elements must be a multiple of 4 */
};

struct dp_worker;

/* One port as seen by one worker. */
struct dp_ifq {
	struct dp_worker *w;
	uint16_t port_id;
	uint16_t txq;
	uint16_t nrxq;
	uint16_t rxq[DP_MAX_QUEUES];
	uint16_t tx_n;                         /* frames waiting in tx[] */
	struct rte_mbuf *tx[DP_MAX_BURST * 2]; /* flushed after each poll */
	struct tcps_if *ifc;
	mxg_tstamp ifc_deadline;
};

struct dp_worker {
	unsigned idx;       /* 0..workers-1 */
	unsigned lcore_id;
	struct dp_ctx *ctx;
	struct rte_mempool *pool;
	unsigned nifq;
	struct dp_ifq ifq[DP_MAX_PORTS];
	struct rte_ring *neigh_ring; /* dp_neigh_msg from other workers (MP/SC) */
	struct tcps_stack *tcp;     /* every TCP connection of this lcore */
	struct tcps_relay_svc *relay[2]; /* test relay v4/v6 (test_relay_port), or NULL */
	mxg_tstamp tcp_deadline;
	struct dp_smtp_worker *smtp;   /* SMTP proxy of this lcore (dp_smtp.c), or NULL */
	mxg_tstamp smtp_deadline;      /* next dp_smtp_on_timer */
	struct dp_filter_worker *filter; /* sender filter tables (dp_filter.c), or NULL */
	struct dp_worker_stats st;
} __rte_cache_aligned;

struct dp_port {
	struct dp_port_conf *conf;
	uint16_t port_id;
	char vdev[DP_NAME_LEN + 16]; /* device name: net_tap0, or the PCI address */
	uint8_t mac[6];
	uint16_t nrxq, ntxq;
	bool started;
};

struct dp_ctx {
	struct dp_conf conf;
	struct rte_mempool *pool;
	unsigned nports;
	struct dp_port port[DP_MAX_PORTS];
	unsigned nworkers;
	struct dp_worker *worker;   /* [nworkers] */
	volatile bool stop;
	uint64_t tsc_hz;
};

/* Builds the EAL argv from the config and |extra| command-line overrides.
 * Returns argc; argv strings are owned by |store| (freed by dp_eal_args_free). */
int dp_eal_args(const struct dp_conf *c, int nextra, char **extra, char ***argv_out);
void dp_eal_args_free(int argc, char **argv);

/* Creates the mbuf pool and configures and starts every port. */
int dp_ports_init(struct dp_ctx *ctx);
void dp_ports_fini(struct dp_ctx *ctx);

/* Allocates the workers and their tcps_if instances (after dp_ports_init). */
int dp_workers_init(struct dp_ctx *ctx);
void dp_workers_fini(struct dp_ctx *ctx);
/* The per-lcore loop (rte_eal_remote_launch entry); arg is a struct dp_worker. */
int dp_worker_main(void *arg);
/* Blocks (|take| false: main(), before the EAL starts its threads) or
 * unblocks (true: each worker) SIGIO and the real-time signals, which
 * O_ASYNC ports (net_tap) raise per received frame: only workers take them. */
void dp_worker_io_signals(bool take);
/* One poll iteration of |w|; returns the number of frames received. Used by
 * dp_worker_main and by the benchmark harness. */
unsigned dp_worker_poll(struct dp_worker *w, mxg_tstamp now);
/* Nanoseconds from the TSC. */
mxg_tstamp dp_now(const struct dp_ctx *ctx);

/* Registers the /mxgate/... telemetry commands for |ctx|; dp_telemetry_fini makes
 * them answer "stopped" before the context is freed. */
void dp_telemetry_init(struct dp_ctx *ctx);
void dp_telemetry_fini(void);

#endif
