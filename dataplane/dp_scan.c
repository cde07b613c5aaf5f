/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_scan.c - the SMTP proxy's content scan (dp_scan.h) on scan/scan.h.
 *
 * One engine for the process, built at start from the built-in EICAR
 * signature and the ClamAV-format files listed in [scan] signatures
 * (immutable afterwards, shared read-only by every worker; the control
 * plane's compiled policy snapshots will replace it through the engine
 * slot). Each message gets its own scan_session (several messages of one
 * worker are in flight at once) on a per-lcore Hyperscan scratch, fed the
 * message bytes as they stream to the downstream.
 *
 * The scan only reports: what happens to a message is the policy's
 * decision (dp_smtp_pol.c, control/pol.h), per recipient, on the result
 * kept here until the message is answered. Sessions keep the message's
 * body text (scan_limits.keep_text = POL_BODY_MAX): the policy's body
 * conditions match the decoded, UTF-8, HTML-reduced text, not the raw
 * bytes. A scan that failed (out of memory, Hyperscan error) tempfails the
 * message, so nothing unscanned is ever delivered - unless the operator
 * turned scanning off ([scan] enable = no): then no engine is built, a
 * warning says so at start, and the proxy delivers every message
 * unscanned (its envelope checks, limits, smuggling protection, policy and
 * end-to-end acknowledgement unchanged).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>

#include "dp_scan.h"
#include "mxg_err.h"
#include "mxg_log.h"
#include "pol.h"
#include "scan.h"
#include "scan_dlp.h"
#include "scan_sig.h"

#define COMP "scan"

struct dp_scan {
	struct scan_session *sess;
	int err;                 /* first feed error */
};

static struct scan_engine *engine;
static struct scan_scratch *scratch[RTE_MAX_LCORE]; /* one per lcore, lazily */

/* Finished sessions kept per lcore and reset for the next message: their
 * parser, streams and buffers have grown already, so a warm worker does
 * not allocate a session per message. A session is only ever used on the
 * lcore whose scratch it borrows. */
#define POOL_MAX 16
static struct {
	struct dp_scan *s[POOL_MAX];
	unsigned n;
} pool[RTE_MAX_LCORE];

int dp_scan_conf_load(struct mxg_conf *mc, struct dp_scan_conf *c, char *err, size_t errlen)
{
	struct mxg_conf_sec *s = mxg_conf_find(mc, "scan", "");
	const char *v = mxg_conf_get(s, "signatures");
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = mxg_conf_get_bool(s, "enable", true, &c->enabled, err, errlen)))
		return rc;
	if (v && strlen(v) >= sizeof(c->signatures))
		return mxg_conf_err(s, "signatures", err, errlen, "longer than %zu bytes",
				    sizeof(c->signatures) - 1);
	snprintf(c->signatures, sizeof(c->signatures), "%s", v ? v : "");
	return 0;
}

/* Every DLP detector runs on every message, one template each (threshold
 * 1): the policy's dlp conditions read the detectors' counts
 * (scan_dlp_result.kind_hits) with their own min_count. */
static struct scan_dlp *dlp_build(char *err, size_t errlen)
{
	static const enum scan_dlp_kind kinds[] = {
		SCAN_DLP_PAN, SCAN_DLP_IBAN, SCAN_DLP_MYNUMBER, SCAN_DLP_SSN, SCAN_DLP_EMAIL,
		SCAN_DLP_PHONE,
	};
	struct scan_dlp *d = scan_dlp_new(NULL);

	snprintf(err, errlen, "out of memory");
	if (!d)
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (scan_dlp_add_template(d, scan_dlp_kind_name(kinds[i]), SCAN_DLP_BIT(kinds[i]),
					  1) < 0) {
			scan_dlp_free(d);
			return NULL;
		}
	if (scan_dlp_compile(d, err, errlen)) {
		scan_dlp_free(d);
		return NULL;
	}
	return d;
}

bool dp_scan_enabled(void)
{
	return engine != NULL;
}

int dp_scan_init(const struct dp_scan_conf *c)
{
	struct scan_sigset *sigs;
	struct scan_config cfg = {0};
	struct scan_engine_info info;
	char list[sizeof(c->signatures)], *tok, *save, err[256];

	/* Off: no engine, so no scan session is ever started. Said loudly at
	 * every start - an operator must never believe mail is scanned when
	 * it is not. The signature files are then not even read. */
	if (!c->enabled) {
		MXG_WARN(COMP, "content scanning is OFF ([scan] enable = no): messages are "
			 "delivered without a virus, archive or DLP scan; the policy sees no scan "
			 "result%s", c->signatures[0] ? "; [scan] signatures not loaded" : "");
		return 0;
	}
	sigs = scan_sigset_new(NULL);
	if (!sigs)
		return MXG_E_NOMEM;
	snprintf(list, sizeof(list), "%s", c->signatures);
	for (tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int rc = scan_sigset_load_file(sigs, tok);

		if (rc < 0) {
			MXG_ERR(COMP, "signatures %s: %s", tok, mxg_strerror(rc));
			scan_sigset_free(sigs);
			return rc;
		}
	}
	/* Lines the loader could not express are reported, never dropped
	 * silently (the first 64 by line, then the count). */
	for (size_t i = 0; i < scan_sigset_nerrors(sigs) && scan_sigset_error(sigs, i); i++)
		MXG_WARN(COMP, "%s", scan_sigset_error(sigs, i));
	if (scan_sigset_nerrors(sigs))
		MXG_WARN(COMP, "%zu signature lines not loaded", scan_sigset_nerrors(sigs));
	cfg.dlp = dlp_build(err, sizeof(err));
	if (!cfg.dlp) {
		MXG_ERR(COMP, "DLP detectors: %s", err);
		scan_sigset_free(sigs);
		return MXG_E_NOMEM;
	}
	engine = scan_engine_build(&cfg, sigs, err, sizeof(err));
	if (!engine) {
		MXG_ERR(COMP, "cannot build the scan engine: %s", err);
		return MXG_E_NOMEM;
	}
	scan_engine_info(engine, &info);
	MXG_INFO(COMP, "engine generation %llu: %u body and %u hash signatures plus the "
		 "built-in EICAR", (unsigned long long)info.generation, info.body_patterns,
		 info.hash_sigs);
	return 0;
}

void dp_scan_fini(void)
{
	for (unsigned i = 0; i < RTE_MAX_LCORE; i++) {
		while (pool[i].n) {
			struct dp_scan *s = pool[i].s[--pool[i].n];

			scan_session_free(s->sess);
			free(s);
		}
		scan_scratch_free(scratch[i]);
		scratch[i] = NULL;
	}
	scan_engine_unref(engine);
	engine = NULL;
}

static struct scan_scratch *lcore_scratch(void)
{
	unsigned id = rte_lcore_id();
	struct scan_scratch **s;

	if (id >= RTE_MAX_LCORE)
		return NULL;
	s = &scratch[id];
	if (!*s) {
		*s = scan_scratch_new();
		if (*s && scan_scratch_prepare(*s, engine) != 0) {
			scan_scratch_free(*s);
			*s = NULL;
		}
	}
	return *s;
}

struct dp_scan *dp_scan_begin(const struct dp_scan_env *env)
{
	struct scan_scratch *sc = lcore_scratch();
	unsigned id = rte_lcore_id();
	struct scan_limits lim;
	struct dp_scan *s;

	if (!engine || !sc)
		return NULL;
	if (pool[id].n) {
		s = pool[id].s[--pool[id].n];
		if (scan_session_reset(s->sess, NULL) == 0) {
			s->err = 0;
			return s;
		}
		scan_session_free(s->sess);
		free(s);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* The defaults, plus the body text for the policy's body conditions. */
	scan_limits_default(&lim);
	lim.keep_text = POL_BODY_MAX;
	s->sess = scan_session_new_ex(engine, NULL, &lim, sc);
	if (!s->sess) {
		free(s);
		return NULL;
	}
	return s;
}

int dp_scan_feed(struct dp_scan *s, const uint8_t *p, size_t n)
{
	int rc;

	if (s->err)
		return s->err;
	rc = scan_session_feed(s->sess, p, n);
	if (rc < 0)
		s->err = rc;
	return rc < 0 ? rc : 0;
}

void dp_scan_end(struct dp_scan *s, struct dp_scan_result *out)
{
	const struct scan_result *r = s->err ? NULL : scan_session_finish(s->sess);

	memset(out, 0, sizeof(*out));
	out->verdict = DP_SCAN_PASS;
	if (!r || (r->flags & SCAN_R_ERROR)) {
		out->verdict = DP_SCAN_TEMPFAIL;
		snprintf(out->reason, sizeof(out->reason), "content scan failed: %s",
			 mxg_strerror(r ? r->error : s->err));
		return;
	}
	out->result = r;
	out->parts = (uint32_t)r->nparts;
	if (r->nviruses)
		snprintf(out->reason, sizeof(out->reason), "virus found: %s", r->viruses[0].name);
	else if (r->archive_verdict == SCAN_ARCHIVE_BOMB ||
		 r->archive_verdict == SCAN_ARCHIVE_TOO_DEEP)
		snprintf(out->reason, sizeof(out->reason), "%s",
			 r->archive_verdict == SCAN_ARCHIVE_BOMB ? "archive bomb"
								 : "archive nested too deep");
}

void dp_scan_abort(struct dp_scan *s)
{
	unsigned id = rte_lcore_id();

	if (!s)
		return;
	if (id < RTE_MAX_LCORE && pool[id].n < POOL_MAX) {
		pool[id].s[pool[id].n++] = s;
		return;
	}
	scan_session_free(s->sess);
	s->sess = NULL;
	free(s);
}
