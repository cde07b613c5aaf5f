/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_prof.h - the IP profiler of mxgate-control (issue 7).
 *
 * Fed by the tracking records the dataplanes send (ctl_chan.c, TRACK
 * frames), it counts per source address over a sliding window:
 *   virus    recipients whose verdict is "virus";
 *   dha      recipients the downstream refused as unknown (directory
 *            harvest): downstream_reply with code 550 or status 5.1.1;
 *   bounce   messages with the null sender (sender "").
 * A counter reaching its threshold blocks the address: a blocklist row
 * (source 'profiler', reason naming the counter and its evidence,
 * expires_at = now + profiler_block_s), which the blocklist push carries to
 * every dataplane within a second. The breach is logged.
 *
 * Settings (table settings, reloaded on NOTIFY mxg_settings):
 *   profiler_window_s (600), profiler_virus_threshold (10),
 *   profiler_dha_threshold (20), profiler_bounce_threshold (50),
 *   profiler_block_s (3600), profiler_max_ips (100000).
 * A threshold of 0 turns its counter off; profiler_block_s 0 turns the
 * profiler off.
 *
 * Memory is bounded: at most profiler_max_ips addresses are tracked, the
 * least recently seen one is evicted for a new one; addresses idle for a
 * whole window are dropped by the tick.
 */
#ifndef CTL_PROF_H
#define CTL_PROF_H

#include <jansson.h>

#include "ctl.h"

int ctl_prof_init(struct ctl *c);
void ctl_prof_fini(struct ctl *c);

/* Re-reads the profiler_* settings (NOTIFY mxg_settings, database back). */
void ctl_prof_reload(struct ctl *c);

/* Every few seconds: forgets addresses idle for a whole window. */
void ctl_prof_tick(struct ctl *c);

/* One tracking record (checked by ctl_chan.c; borrowed). */
void ctl_prof_track(struct ctl *c, json_t *rec);

/* GET /api/v1/profiler: settings and counters (new reference). */
json_t *ctl_prof_status(const struct ctl *c);

#endif
