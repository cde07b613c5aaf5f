/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_ctl.h - the dataplane's end of the control channel (issue 6).
 *
 * A service thread (a plain pthread, not an lcore) connects to
 * mxgate-control's Unix socket ([control] channel_socket; framing in
 * common/mxg_chan.h), reconnecting with backoff, and carries:
 *   down: policy snapshots (loaded and compiled here, off the cores),
 *         quarantine acknowledgements and the sender blocklist (applied
 *         as the difference with the previous one, dp_filter_ctl_apply);
 *   up:   tracking records and quarantine requests from the workers.
 * Workers never block and never make a syscall for it: they hand messages
 * to the thread through one multi-producer rte_ring and receive
 * acknowledgements through a ring of their own, polled from the worker
 * loop. Bounded everywhere: a full ring drops a tracking record (counted)
 * or fails a quarantine request (the message gets 451), so a slow control
 * plane or database never stalls a core.
 *
 * Policy snapshots: the current one is published under a mutex with a
 * generation counter; a worker compares the counter once per poll and takes
 * a reference to the new snapshot only when it changed. A message takes its
 * own reference at end of data, so it is evaluated by exactly one version.
 *
 * Without a [control] section there is no channel: the built-in policy
 * applies (pol_snap_builtin) and nothing is quarantined. With one, until the
 * first snapshot arrives, messages are answered 451 (the configured policy
 * may be stricter than the built-in one).
 */
#ifndef DP_CTL_H
#define DP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_conf.h"
#include "mxg_time.h"

struct dp_ctx;
struct dp_worker;
struct pol_snap;

struct dp_ctl_conf {
	bool enabled;             /* a [control] section exists */
	char socket[108];         /* channel_socket */
	char node[64];            /* node_name (tracking records) */
};

/* Reads the keys the dataplane shares with mxgate-control from [control]
 * (channel_socket, state_dir for its default, node_name). The section
 * belongs to mxgate-control: other keys are its business. */
int dp_ctl_conf_load(struct mxg_conf *mc, struct dp_ctl_conf *c, char *err, size_t errlen);

/* Creates the rings and starts the service thread (when enabled). */
int dp_ctl_start(struct dp_ctx *ctx);
/* Stops the thread and frees everything (after the workers stopped). */
void dp_ctl_stop(void);

bool dp_ctl_enabled(void);

/* ---- worker side (no locks, no syscalls) ---- */

/* The snapshot this worker evaluates with (a borrowed reference, valid
 * until the worker's next dp_ctl_poll), or NULL when the channel is enabled
 * but no snapshot arrived yet. */
struct pol_snap *dp_ctl_policy(struct dp_worker *w);

/* An answer delivered to a worker: a quarantine acknowledgement or a
 * DNSBL answer (|kind|). */
enum dp_ctl_ack_kind { DP_CTL_ACK_QUAR = 0, DP_CTL_ACK_DNSBL = 1 };
struct dp_ctl_ack {
	enum dp_ctl_ack_kind kind;
	uint64_t req;             /* dp_ctl_quarantine's / dp_ctl_dnsbl_query's id */
	bool ok;
	uint64_t qid;             /* quarantine row id when ok */
	char err[160];
	/* DNSBL (MXG_CHAN_DNSBL_ANSWER): verdict 0 pass, 1 reject, 2 tempfail,
	 * 3 timeout (also when the channel broke: code ""); ttl seconds */
	uint8_t verdict;
	uint32_t ttl;
	char zone[256];
	char code[48];
};
typedef void dp_ctl_ack_fn(struct dp_worker *w, const struct dp_ctl_ack *a, mxg_tstamp now);

/* Once per poll of worker |w|: picks up a new snapshot and delivers
 * acknowledgements to |fn|. Cheap when nothing changed. */
void dp_ctl_poll(struct dp_worker *w, dp_ctl_ack_fn *fn, mxg_tstamp now);

/* This node's name (tracking records, quarantine rows). */
const char *dp_ctl_node(void);

/* Queues a tracking record (|json|, |len| bytes, copied). Never fails the
 * caller: a full queue drops and counts. */
void dp_ctl_track(struct dp_worker *w, const char *json, size_t len);

/* Queues a quarantine request: |meta| JSON and the message (both copied).
 * Returns the request id (non-zero), or 0 when the channel is down or the
 * queue is full (the caller answers 451). Exactly one acknowledgement
 * reaches |w| for a non-zero id: from mxgate-control, or a failure when
 * the connection breaks before the answer. */
uint64_t dp_ctl_quarantine(struct dp_worker *w, const char *meta, size_t mlen,
			   const uint8_t *msg, size_t len);

/* Queues a DNSBL lookup of |ip| (text) for mxgate-control. Returns the
 * request id (non-zero), or 0 when the channel is down or the queue is
 * full. Exactly one answer (kind DP_CTL_ACK_DNSBL) reaches |w| for a
 * non-zero id: mxgate-control's, or verdict 3 ("timeout", code "") when
 * the connection breaks before it. */
uint64_t dp_ctl_dnsbl_query(struct dp_worker *w, const char *ip);

/* Counters for /mxgate/control. */
struct dp_ctl_stats {
	uint64_t connects, disconnects, protocol_errors;
	uint64_t policies_loaded, policies_rejected;
	int64_t policy_version;   /* running; -1 none */
	uint64_t track_sent, track_dropped;
	uint64_t quar_sent, quar_ok, quar_failed, quar_refused;
	int64_t blocklist_version; /* applied (MXG_CHAN_BLOCKLIST); -1 none */
	uint64_t blocklist_entries, blocklists_loaded, blocklists_rejected;
	uint64_t blocklist_changes, blocklist_failed;
	uint64_t dnsbl_sent, dnsbl_answered, dnsbl_lost, dnsbl_refused;
	bool connected;
};
void dp_ctl_stats(struct dp_ctl_stats *out);

#endif
