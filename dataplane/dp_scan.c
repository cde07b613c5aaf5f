/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_scan.c - pass-through scan (dp_scan.h) until scan/scan.h's session
 * lands: the message streams through the MIME parser (so the proxy's
 * streaming and the parser's chunking are exercised on every message) and
 * the verdict is always PASS, unless the parser itself failed (out of
 * memory), which tempfails the message rather than deliver it unscanned.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dp_scan.h"
#include "mime.h"
#include "mxg_err.h"

struct dp_scan {
	struct mime_parser *mp;
	int err;                 /* first feed error */
};

static int on_event(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	return 0;
}

static const struct mime_callbacks mime_cbs = {.on_event = on_event};

struct dp_scan *dp_scan_begin(const struct dp_scan_env *env)
{
	struct dp_scan *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->mp = mime_parser_new(NULL, NULL, &mime_cbs, s);
	if (!s->mp) {
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
	rc = mime_parser_feed(s->mp, p, n);
	if (rc < 0)
		s->err = rc;
	return rc < 0 ? rc : 0;
}

void dp_scan_end(struct dp_scan *s, struct dp_scan_result *out)
{
	out->verdict = DP_SCAN_PASS;
	out->reason[0] = '\0';
	if (!s->err && mime_parser_finish(s->mp) < 0)
		s->err = MXG_E_NOMEM;
	out->parts = mime_parser_result(s->mp)->parts;
	if (s->err) {
		out->verdict = DP_SCAN_TEMPFAIL;
		snprintf(out->reason, sizeof(out->reason), "content scan failed: %s",
			 mxg_strerror(s->err));
	}
	dp_scan_abort(s);
}

void dp_scan_abort(struct dp_scan *s)
{
	if (!s)
		return;
	mime_parser_free(s->mp);
	s->mp = NULL;
	free(s);
}
