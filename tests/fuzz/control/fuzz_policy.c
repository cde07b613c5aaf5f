/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the compiled policy (control/pol.c). Input: a policy
 * snapshot document (see control/pol.h), a NUL byte, then a message (no
 * NUL: the whole input is the document and the message is empty). When
 * the document loads, it is evaluated for two recipients (one local by
 * local_domains, one not) on that message with a zeroed scan_result, then
 * once more as a reprocessed message. Invariants: no crash, no leak,
 * pol_decision_same() reflexive and symmetric, evaluation deterministic.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pol.h"
#include "scan.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_decision(const struct pol_decision *d)
{
	CHECK(d->fate >= POL_DELIVER && d->fate <= POL_REJECT);
	CHECK(d->rule_name && d->area && d->strip_notice);
	CHECK(d->ntag <= POL_MAX_MODS && d->nhdr <= POL_MAX_MODS);
	CHECK(d->nnotify <= POL_MAX_MODS && d->nbcc <= POL_MAX_MODS);
	CHECK(d->nmatched <= POL_MAX_MATCHED);
	for (unsigned i = 0; i < d->ntag; i++)
		CHECK(d->tag[i]);
	for (unsigned i = 0; i < d->nhdr; i++)
		CHECK(d->hdr[i].name && d->hdr[i].value);
	for (unsigned i = 0; i < d->nbcc; i++)
		CHECK(d->bcc[i]);
	for (unsigned i = 0; i < d->nnotify; i++)
		CHECK(d->notify[i].tmpl);
	if (d->fate == POL_REROUTE)
		CHECK(d->reroute_host);
	CHECK(pol_decision_same(d, d));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpt[2] = {"bob@example.com", "carol@other.test"};
	const uint8_t *sep = memchr(data, 0, size);
	size_t doclen = sep ? (size_t)(sep - data) : size;
	struct scan_result scan;
	struct pol_decision d[2], again;
	struct pol_msg m;
	struct pol_snap *s;
	char err[512];
	char *doc;

	/* a copy of exactly the document's bytes, so that a read past its
	 * end is caught */
	doc = malloc(doclen ? doclen : 1);
	if (!doc)
		return 0;
	memcpy(doc, data, doclen);
	s = pol_snap_load(doc, doclen, err, sizeof(err));
	free(doc);
	if (!s) {
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		return 0;
	}

	CHECK(pol_snap_version(s) >= 0);
	memset(&scan, 0, sizeof(scan));
	memset(&m, 0, sizeof(m));
	m.sender = "alice@example.net";
	m.rcpt = rcpt;
	m.nrcpt = 2;
	m.msg = sep ? sep + 1 : (const uint8_t *)"";
	m.len = sep ? size - doclen - 1 : 0;
	m.scan = &scan;
	for (size_t i = 0; i < 2; i++) {
		pol_eval(s, &m, i, &d[i]);
		check_decision(&d[i]);
		pol_eval(s, &m, i, &again);
		CHECK(pol_decision_same(&d[i], &again));
		CHECK(again.fate == d[i].fate && again.nmatched == d[i].nmatched);
	}
	CHECK(pol_decision_same(&d[0], &d[1]) == pol_decision_same(&d[1], &d[0]));
	m.reprocess = true;
	pol_eval(s, &m, 0, &again);
	check_decision(&again);
	/* the same snapshot through a second reference */
	{
		struct pol_snap *r = pol_snap_ref(s);

		pol_snap_unref(s);
		m.reprocess = false;
		pol_eval(r, &m, 1, &again);
		CHECK(pol_decision_same(&d[1], &again));
		pol_snap_unref(r);
	}
	pol_thread_release();
	return 0;
}
