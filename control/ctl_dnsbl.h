/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_dnsbl.h - email reputation: DNSBL lookups of connecting clients on
 * behalf of the dataplanes (issue 7; zones in control/sql/0005_dnsbl.sql).
 *
 * A dataplane asks about one address (MXG_CHAN_DNSBL_QUERY, ctl_chan.c);
 * every enabled zone is asked at once with libevent's evdns (reversed
 * octets or nibbles under the zone, type A), bounded by dnsbl_timeout_ms.
 * The combined answer is cached per address for the shortest TTL of the
 * zones' answers (NXDOMAIN: DNSBL_NEG_TTL; both clamped to
 * DNSBL_TTL_MIN..DNSBL_TTL_MAX); timeouts are not cached.
 *
 * The verdict (MXG_CHAN_DNSBL_ANSWER, common/mxg_chan.h): the first zone
 * (by position) that lists the address with action reject or tempfail
 * decides (1 or 2, with that zone and the answer's address); else a
 * listing by a score zone is reported with verdict 0 (served); else, if a
 * zone did not answer in time, verdict 3 with dnsbl_default_action as the
 * code; else 0 with no zone. Without an enabled zone the answer is 0 at
 * once (TTL DNSBL_IDLE_TTL).
 */
#ifndef CTL_DNSBL_H
#define CTL_DNSBL_H

#include <stdint.h>

#include <jansson.h>

#include "ctl.h"

enum ctl_dnsbl_verdict {
	CTL_DNSBL_PASS = 0,
	CTL_DNSBL_REJECT = 1,
	CTL_DNSBL_TEMPFAIL = 2,
	CTL_DNSBL_TIMEOUT = 3,
};

/* Called exactly once per ctl_dnsbl_query (possibly before it returns):
 * |zone| and |code| are "" when nothing was listed. */
typedef void ctl_dnsbl_fn(void *ud, unsigned serial, uint64_t req, enum ctl_dnsbl_verdict v,
			  uint32_t ttl, const char *zone, const char *code);

int ctl_dnsbl_init(struct ctl *c);
/* Drops pending lookups without answering (process end). */
void ctl_dnsbl_fini(struct ctl *c);
/* Re-reads the zones and the dnsbl_* settings (NOTIFY mxg_settings, or the
 * database came back); forgets the cached answers when they changed. */
void ctl_dnsbl_reload(struct ctl *c);
/* Looks |ip| (text) up; |fn|(|ud|, |serial|, |req|, ...) gets the answer. */
void ctl_dnsbl_query(struct ctl *c, const char *ip, ctl_dnsbl_fn *fn, void *ud, unsigned serial,
		     uint64_t req);
/* Counters and the loaded configuration (GET /api/v1/dnsbl "stats"). */
json_t *ctl_dnsbl_status(const struct ctl *c);

#endif
