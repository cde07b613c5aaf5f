/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_scan.h - the seam between the SMTP proxy and the scan engine.
 *
 * The proxy sees only these four calls: a scan per message, fed with the
 * message bytes exactly as they stream to the downstream (after
 * dot-unstuffing), and a result at the end of data, before the downstream
 * gets its end of data; the policy (dp_smtp_pol.c) decides on it. dp_scan.c runs scan/scan.h's session; the process
 * builds one engine at start (dp_scan_init) from the [scan] section.
 */
#ifndef DP_SCAN_H
#define DP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxg_addr.h"
#include "mxg_conf.h"

/* [scan] of mxgate.conf. */
struct dp_scan_conf {
	bool enabled;            /* enable: no = messages go downstream
	                          * unscanned (the policy still runs, with no
	                          * scan result) */
	char signatures[1024];   /* ClamAV-format files (.hdb .hsb .ndb .ldb .cvd
	                          * .cld), comma-separated; EICAR is built in */
};

/* Reads [scan] (keys marked used for mxg_conf_check_unused). */
int dp_scan_conf_load(struct mxg_conf *mc, struct dp_scan_conf *c, char *err, size_t errlen);
/* Builds the process's engine: loads the signature files and compiles
 * them. 0 or a negative MXG_E_* (logged with the file and reason). With
 * scanning off (c->enabled false) builds nothing and logs a warning. */
int dp_scan_init(const struct dp_scan_conf *c);
/* False when [scan] enable = no: the proxy then starts no scan per
 * message (dp_scan_begin would return NULL). */
bool dp_scan_enabled(void);
/* Frees the engine and the per-lcore scratches, after the workers stop. */
void dp_scan_fini(void);

struct dp_scan;

enum dp_scan_verdict {
	DP_SCAN_PASS = 0,        /* scanned: the policy decides on |result| */
	DP_SCAN_TEMPFAIL,        /* 4xx to the client (engine trouble) */
};

struct dp_scan_env {             /* borrowed for dp_scan_begin only */
	const struct mxg_ip *client;
	const char *mail_from;
	const char *const *rcpt;
	size_t nrcpt;
};

struct scan_result;

struct dp_scan_result {
	enum dp_scan_verdict verdict;
	char reason[128];        /* the worst finding ("virus found: X"), or
	                          * why the scan failed; "" when clean */
	uint32_t parts;          /* MIME parts seen */
	const struct scan_result *result; /* PASS: the full result, valid
	                          * until dp_scan_abort() */
};

/* Starts the scan of one message. NULL when out of memory (the caller
 * tempfails the message: nothing unscanned is delivered). */
struct dp_scan *dp_scan_begin(const struct dp_scan_env *env);
/* Feeds |n| bytes (borrowed). 0 or a negative MXG_E_* (verdict TEMPFAIL). */
int dp_scan_feed(struct dp_scan *s, const uint8_t *p, size_t n);
/* Ends the message; fills |out|. |s| stays alive (its result with it)
 * until dp_scan_abort(). */
void dp_scan_end(struct dp_scan *s, struct dp_scan_result *out);
/* Ends |s| (after dp_scan_end, or to drop a message): its session goes
 * back to this lcore's pool for the next message. NULL is allowed. */
void dp_scan_abort(struct dp_scan *s);

#endif
