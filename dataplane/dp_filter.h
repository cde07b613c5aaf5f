/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_filter.h - the sender filter inside the dataplane: the same blocklist
 * and allow list as the XDP pre-filter (bpf/), enforced in software for
 * PMDs without XDP (net_tap, net_af_packet, PCI NICs), plus per-source SYN
 * token buckets. Checked for TCP SYNs (without ACK) before tcpstack sees
 * them: a blocked or throttled SYN is dropped and counted, an established
 * connection is never cut.
 *
 * Ownership: each worker owns its tables (shared nothing, no locks, no
 * RCU). Changes come from the telemetry thread (the dataplane's control
 * path today: the /mxgate/filter/... telemetry commands, dp_filter.c) as messages on one
 * ring per worker, which the worker applies at the top of its next poll,
 * so a change is in force on every worker within one poll iteration.
 */
#ifndef DP_FILTER_H
#define DP_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_conf.h"
#include "mxg_time.h"

#define DP_FILTER_ALLOW_MAX 64 /* known hosts in the config file */

/* The [filter] section. */
struct dp_filter_conf {
	bool enabled;                 /* enabled (yes): check SYNs in software */
	uint32_t max_entries;         /* max_entries: blocklist + allow list per worker */
	uint32_t syn_rate;            /* syn_rate: SYNs/s per source per worker, 0 = off */
	uint32_t syn_burst;           /* syn_burst: bucket depth (default syn_rate) */
	bool xdp_pin;                 /* xdp_pin (yes): pin net_af_xdp ports' XDP maps */
	unsigned nallow;
	struct mxg_prefix allow[DP_FILTER_ALLOW_MAX]; /* known_hosts: never dropped */
};

/* Parses [filter] of |mc| into |c| (defaults when absent). 0 or a
 * negative MXG_E_* code with "FILE:LINE: key: message" in |err|. */
int dp_filter_conf_load(struct mxg_conf *mc, struct dp_filter_conf *c, char *err,
			size_t errlen);

struct dp_ctx;
struct dp_worker;

/* Per-worker counters (read by telemetry: 64-bit, tear-free). */
struct dp_filter_stats {
	uint64_t syn_checked;  /* SYNs looked at */
	uint64_t drop_blocked; /* SYNs from a blocked prefix */
	uint64_t drop_synrate; /* SYNs over the source's bucket */
	uint64_t allowed;      /* SYNs from a known host (never dropped) */
	uint64_t expired;      /* matched an expired entry (deleted, passed) */
	uint64_t updates;      /* messages applied */
	uint64_t update_fail;  /* messages refused (table full) */
};

/* Creates the tables and ring of every worker (after dp_workers_init
 * allocated them) and registers the /mxgate/filter telemetry commands. */
int dp_filter_init(struct dp_ctx *ctx);
void dp_filter_fini(struct dp_ctx *ctx);

/* Applies pending changes; called by the worker at the top of each poll. */
void dp_filter_drain(struct dp_worker *w, mxg_tstamp now);

/* Judges a TCP SYN from |src|: true = drop it (counted). |w| owns the
 * tables; no other thread touches them. */
bool dp_filter_syn_drop(struct dp_worker *w, const struct mxg_ip *src, mxg_tstamp now);

/* True if |ip| is in |w|'s blocklist (and not on its allow list): the
 * same longest-prefix match as dp_filter_syn_drop, without the SYN
 * bucket and without counting a SYN. For addresses no SYN carried: the
 * original client a known host names (PROXY, XCLIENT, XFORWARD; the
 * SMTP proxy, dp_smtp.c). False when the software filter is off. */
bool dp_filter_ip_blocked(struct dp_worker *w, const struct mxg_ip *ip, mxg_tstamp now);

/* After the ports started: pins the XDP maps of every net_af_xdp port under
 * /sys/fs/bpf/mxgate/<iface>/ (a no-op without libbpf or with xdp_pin=no);
 * dp_filter_xdp_unpin removes them at exit. Failures are logged only. */
void dp_filter_xdp_pin(struct dp_ctx *ctx);
void dp_filter_xdp_unpin(struct dp_ctx *ctx);

/* The control channel's blocklist (issue 7, dp_ctl.c): one change per
 * entry. |expires_at| is wall-clock epoch seconds (0 = never); an entry
 * already past it is removed rather than added. */
struct dp_filter_change {
	struct mxg_prefix p;
	bool block;              /* true: add or replace; false: remove */
	uint32_t reason;         /* XPF reason code (dp_filter_reason_code) */
	int64_t expires_at;
	int rc;                  /* out: 0 applied everywhere, or why not */
};

/* The reason code of a reason text: its first word when it names one
 * ("virus", "dha", "bounce", "spam", "dnsbl", "throttle"), else manual. */
uint32_t dp_filter_reason_code(const char *reason);

/* Applies |n| changes, from any thread but a worker (the control
 * channel's service thread): queued to every worker's ring like the
 * telemetry commands (waiting briefly for room), kept in the list that
 * /mxgate/filter/list shows, and written to the XDP maps of every
 * net_af_xdp port whose pins exist. Returns 0, or MXG_E_AGAIN when some
 * change failed (its rc says which; the caller retries it). */
int dp_filter_ctl_apply(struct dp_ctx *ctx, struct dp_filter_change *c, size_t n);

#endif
