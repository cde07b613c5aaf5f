/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_scan.c - libFuzzer target: a scan session fed random messages.
 *
 * One engine is built at start with a small rule set (keywords and regexes
 * on every field, one with SOM) and a few body, logical and hash
 * signatures. Each input is fed in chunks whose sizes come from the first
 * byte, then finished; every index in the result must be in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

static struct scan_engine *eng;

static const struct scan_rule rules[] = {
	{ 1, SCAN_W_SUBJECT, SCAN_RF_LITERAL | SCAN_RF_CASELESS, "viagra" },
	{ 2, SCAN_W_BODY, SCAN_RF_CASELESS, "cheap\\s+pills" },
	{ 3, SCAN_W_HEADER, 0, "^X-[a-z]+: yes" },
	{ 4, SCAN_W_ATTACH_NAME, SCAN_RF_CASELESS, "\\.(exe|scr|js)$" },
	{ 5, SCAN_W_ALL, SCAN_RF_LITERAL, "secret" },
	{ 6, SCAN_W_BODY, SCAN_RF_SOM, "a[bc]+d" },
	{ 7, SCAN_W_BODY | SCAN_W_SUBJECT, SCAN_RF_UTF8 | SCAN_RF_CASELESS, "grüße" },
};

static const char sigs_ndb[] =
	"Fz.Body:0:*:41??43{2-4}44(45|4647)\n"
	"Fz.Eof:0:EOF-4:5a5a5a5a\n"
	"Fz.Abs:0:0:4d5a\n";
static const char sigs_ldb[] = "Fz.Logic;Target:0;(0&1)|2>3;616263;646566::i;787878\n";
static const char sigs_hdb[] = "44d88612fea8a8f36de82e1278abb02f:68:Fz.Eicar.Md5\n";

static void init(void)
{
	struct scan_config cfg = { .rules = rules, .nrules = sizeof(rules) / sizeof(rules[0]) };
	struct scan_sigset *s = scan_sigset_new(NULL);

	scan_sigset_load_buf(s, SCAN_SIG_NDB, "n", (const uint8_t *)sigs_ndb, strlen(sigs_ndb));
	scan_sigset_load_buf(s, SCAN_SIG_LDB, "l", (const uint8_t *)sigs_ldb, strlen(sigs_ldb));
	scan_sigset_load_buf(s, SCAN_SIG_HDB, "h", (const uint8_t *)sigs_hdb, strlen(sigs_hdb));
	eng = scan_engine_build(&cfg, s, NULL, 0);
	if (!eng)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_limits lim;
	struct scan_session *s;
	const struct scan_result *r;
	size_t off = 1, i, chunk;

	if (!eng)
		init();
	if (size < 1)
		return 0;
	scan_limits_default(&lim);
	if (data[0] & 0x80) { /* small limits */
		lim.mime.max_parts = 8;
		lim.mime.max_depth = 3;
		lim.max_files = 4;
		lim.max_hits = 3;
	}
	s = scan_session_new(eng, NULL, &lim);
	if (!s)
		return 0;
	chunk = (size_t)(data[0] & 0x3f) + 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (scan_session_feed(s, data + off, n) < 0)
			break;
		off += n;
		chunk = chunk * 7 % 61 + 1;
	}
	r = scan_session_finish(s);
	for (i = 0; i < r->nviruses; i++)
		if (r->viruses[i].part >= r->nparts || !r->viruses[i].name)
			abort();
	for (i = 0; i < r->nrules; i++)
		if (r->rules[i].part > r->nparts)
			abort();
	for (i = 0; i < r->nparts; i++)
		if (r->parts[i].parent != UINT32_MAX && r->parts[i].parent >= i)
			abort();
	scan_session_free(s);
	return 0;
}
