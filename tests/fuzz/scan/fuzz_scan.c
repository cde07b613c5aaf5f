/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_scan.c - libFuzzer target: a scan session fed random messages.
 *
 * One engine is built at start with the full configuration: a small rule
 * set (keywords and regexes on every field, one with SOM), a few body,
 * logical, hash and PE (section hash, EP/Sx/SL offset) signatures, DLP
 * templates (every detector, a custom keyword and regex) and content filters (subject, a named header, body,
 * attachment name, size, count, message size); URL extraction is on.
 * Each input is fed in chunks whose sizes come from the first byte, then
 * finished; every index in the result must be in range. Bit 0x40 of the
 * first byte runs the input on one session reused with scan_session_reset()
 * (a fresh one otherwise), so reset is fuzzed too.
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
	"Fz.Abs:0:0:4d5a\n"
	"Fz.PeEp:1:EP+0:e8??\n"          /* PE-relative offsets (scan_pe.c) */
	"Fz.PeSect:1:S0+0,16:0000\n"
	"Fz.PeLast:1:SL+0:4142\n";
static const char sigs_ldb[] = "Fz.Logic;Target:0;(0&1)|2>3;616263;646566::i;787878\n";
static const char sigs_hdb[] = "44d88612fea8a8f36de82e1278abb02f:68:Fz.Eicar.Md5\n";
/* PE section hashes: any size (MD5 of 512 zero bytes), and SHA-256 of 512
 * zero bytes for 512-byte sections. */
static const char sigs_mdb[] = "*:bf619eac0cdf3f68d496ea9344137e8b:Fz.Sect.Md5:73\n";
static const char sigs_msb[] =
	"512:076a27c79e5ace2a3d47f9dd2e83e4ff6ea8872b3c2218f66c92b89b55f36560:Fz.Sect.Sha256\n";

static struct scan_session *reused;
static struct scan_scratch *scr; /* one per thread, as an lcore has */
static size_t ncf;

static void init_dlp_cf(struct scan_config *cfg)
{
	static const char *const kw[] = { "invoice", "urgent" };
	static const char *const re[] = { "^bad", "\\.(exe|js)$" };
	static const uint32_t kwf[] = { SCAN_PAT_CASELESS, SCAN_PAT_WORD };
	static const uint32_t ref[] = { SCAN_PAT_REGEX, SCAN_PAT_REGEX | SCAN_PAT_CASELESS };
	struct scan_dlp *d = scan_dlp_new(NULL);
	struct scan_cfilter *cf = scan_cfilter_new(NULL);
	int t, r;

	if (!d || !cf)
		abort();
	scan_dlp_add_template(d, "pci", SCAN_DLP_BIT(SCAN_DLP_PAN), 1);
	t = scan_dlp_add_template(d, "pii", SCAN_DLP_BIT(SCAN_DLP_IBAN) |
				  SCAN_DLP_BIT(SCAN_DLP_MYNUMBER) | SCAN_DLP_BIT(SCAN_DLP_SSN) |
				  SCAN_DLP_BIT(SCAN_DLP_EMAIL) | SCAN_DLP_BIT(SCAN_DLP_PHONE), 3);
	scan_dlp_add_pattern(d, t, "confidential", SCAN_PAT_CASELESS);
	scan_dlp_add_pattern(d, t, "[A-Z]{3}-[0-9]{4}", SCAN_PAT_REGEX);
	if (scan_dlp_compile(d, NULL, 0))
		abort();
	r = scan_cfilter_add_rule(cf, "subject", SCAN_CF_ANY);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_SUBJECT | 1u << SCAN_CF_BODY, NULL, kw, kwf, 2);
	r = scan_cfilter_add_rule(cf, "header", SCAN_CF_ALL);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_HEADER, "X-Mailer", re, ref, 1);
	scan_cfilter_add_msg_size(cf, r, 100);
	r = scan_cfilter_add_rule(cf, "attach", SCAN_CF_ANY);
	scan_cfilter_add_text(cf, r, 1u << SCAN_CF_ATTACH_NAME | 1u << SCAN_CF_HEADER, NULL,
			      re + 1, ref + 1, 1);
	scan_cfilter_add_attach_size(cf, r, 1000, 5000);
	scan_cfilter_add_attach_count(cf, r, 3);
	if (scan_cfilter_compile(cf, NULL, 0))
		abort();
	ncf = scan_cfilter_rule_count(cf);
	cfg->dlp = d;
	cfg->cfilter = cf;
}

static void init(void)
{
	struct scan_config cfg = { .rules = rules, .nrules = sizeof(rules) / sizeof(rules[0]) };
	struct scan_sigset *s = scan_sigset_new(NULL);

	scan_sigset_load_buf(s, SCAN_SIG_NDB, "n", (const uint8_t *)sigs_ndb, strlen(sigs_ndb));
	scan_sigset_load_buf(s, SCAN_SIG_LDB, "l", (const uint8_t *)sigs_ldb, strlen(sigs_ldb));
	scan_sigset_load_buf(s, SCAN_SIG_HDB, "h", (const uint8_t *)sigs_hdb, strlen(sigs_hdb));
	scan_sigset_load_buf(s, SCAN_SIG_MDB, "m", (const uint8_t *)sigs_mdb, strlen(sigs_mdb));
	scan_sigset_load_buf(s, SCAN_SIG_MSB, "s", (const uint8_t *)sigs_msb, strlen(sigs_msb));
	init_dlp_cf(&cfg);
	eng = scan_engine_build(&cfg, s, NULL, 0);
	if (!eng)
		abort();
	scr = scan_scratch_new();
	if (!scr || scan_scratch_prepare(scr, eng))
		abort();
	reused = scan_session_new_ex(eng, NULL, NULL, scr);
	if (!reused)
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
	if ((data[0] & 0x40) && !(data[0] & 0x80)) {
		s = reused;
		if (scan_session_reset(s, eng))
			abort();
	} else {
		s = scan_session_new_ex(eng, NULL, &lim, scr);
	}
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
	for (i = 0; i < r->ncf_hits; i++)
		if (r->cf_hits[i].rule >= ncf)
			abort();
	for (i = 0; i < r->nurls; i++) {
		const struct scan_url_entry *u = scan_result_url(r, i);

		if (!u || !u->url || !u->host ||
		    (strncmp(u->url, "http", 4) && strncmp(u->url, "ftp", 3)))
			abort();
	}
	if (!r->dlp || r->attachments > r->nparts || (r->dlp_matched & ~3ull))
		abort();
	if (s != reused)
		scan_session_free(s);
	return 0;
}
