/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_srv_scan.c - the block content scan of smtp_srv.c against the
 * byte-at-a-time scan it replaced.
 *
 * The same file is built three times, each against its own copy of the
 * smtp library (tests/unit/smtp/meson.build):
 *	test_smtp_srv_scan		the scan this CPU gets (SSE2 on x86-64)
 *	test_smtp_srv_scan_swar		-DSMTP_SRV_SCAN_SWAR: the portable word scan
 *	test_smtp_srv_scan_ref		-DSMTP_SRV_SCAN_BYTEWISE: the old scan
 * With --dump a binary prints one line per case: the case name and a hash
 * of everything the engine did (callbacks in order with their arguments,
 * the content handed over, anomaly counters, reply bytes, bytes consumed,
 * state, message size). The test proper runs the other two with --dump
 * and requires every line to be equal to its own.
 *
 * Cases: every sequence of the smuggling corpus (../shared/corpus, skipped
 * if absent) and our own, after prefixes of 0 to 40 ordinary octets (so
 * each lands at every position of a 16-octet block), in DATA and BDAT, in
 * 7-bit and 8BITMIME, fed whole, byte by byte and split at random offsets;
 * then random bodies (runs of text, CR, LF, CR LF, dots at line start,
 * NUL, 8-bit octets, lines over 1000 octets, size limits hit and missed)
 * split at random offsets, in DATA and in BDAT chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_test.h"

/* ------------------------------------------------------------ recording */

struct rec {
	uint64_t h;              /* FNV-1a over the event log */
	uint64_t nchunk;         /* content octets seen */
};

static void rec_add(struct rec *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		r->h ^= b[i];
		r->h *= 0x100000001b3ULL;
	}
}

static void rec_tag(struct rec *r, char tag, long v)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "|%c%ld", tag, v);

	rec_add(r, t, (size_t)n);
}

static int cb_cmd(struct smtp_srv *s, const struct smtp_cmd *c, void *ud)
{
	rec_tag(ud, 'C', (long)c->verb);
	return 0;
}

/* Content is logged as one stream: chunk boundaries are the caller's
 * business, but the bytes and their order relative to events are not. */
static int cb_chunk(struct smtp_srv *s, const uint8_t *p, size_t n, void *ud)
{
	struct rec *r = ud;

	rec_add(r, "|D", 2);
	rec_add(r, p, n);
	r->nchunk += n;
	return 0;
}

static int cb_eod(struct smtp_srv *s, void *ud)
{
	rec_tag(ud, 'E', (long)smtp_srv_msg_size(s));
	return smtp_srv_reply_eod(s, 250, "2.0.0", "Ok");
}

static void cb_abort(struct smtp_srv *s, enum smtp_abort why, void *ud)
{
	rec_tag(ud, 'X', (long)why);
}

static int cb_anom(struct smtp_srv *s, enum smtp_anomaly a, void *ud)
{
	rec_tag(ud, 'A', (long)a);
	return 0;
}

static const struct smtp_srv_callbacks scan_cb = {
	.on_command = cb_cmd, .on_data_chunk = cb_chunk, .on_end_of_data = cb_eod,
	.on_data_abort = cb_abort, .on_anomaly = cb_anom,
};

/* -------------------------------------------------------------- random */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t rndn(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* ---------------------------------------------------------------- run */

enum split { SPLIT_WHOLE, SPLIT_BYTE, SPLIT_RANDOM };

/* Feeds |in| to a fresh server and returns the hash of all it did. */
static uint64_t run(const struct bstr *in, enum split how, uint64_t size_max)
{
	struct smtp_srv_config cfg;
	struct rec r = { .h = 0xcbf29ce484222325ULL };
	struct smtp_srv *s;
	size_t off = 0;

	smtp_srv_config_init(&cfg);
	cfg.limits.msg_size_max = size_max;
	s = smtp_srv_new(NULL, &cfg, &scan_cb, &r);
	assert_non_null(s);
	assert_int_equal(smtp_srv_start(s, NULL, 0, 0), 0);
	while (off < in->len && !smtp_srv_want_close(s)) {
		size_t n = in->len - off;
		const uint8_t *o;
		size_t on;
		ssize_t got;

		if (how == SPLIT_BYTE)
			n = 1;
		else if (how == SPLIT_RANDOM && n > 1)
			n = 1 + (rnd() & 1 ? rndn(n) : rndn(n < 40 ? n : 40));
		got = smtp_srv_input(s, (const uint8_t *)in->p + off, n, 0);
		rec_tag(&r, 'I', (long)got);
		if (got <= 0)
			break;
		off += (size_t)got;
		on = smtp_srv_output(s, &o);
		rec_add(&r, "|O", 2);
		rec_add(&r, o, on);
		smtp_srv_output_consumed(s, on);
	}
	for (int a = 0; a < SMTP_ANOM_MAX; a++)
		rec_tag(&r, 'N', (long)smtp_srv_anomalies(s, (enum smtp_anomaly)a));
	rec_tag(&r, 'S', (long)smtp_srv_state(s));
	rec_tag(&r, 'M', (long)smtp_srv_msg_size(s));
	rec_tag(&r, 'F', (long)off);
	smtp_srv_free(s);
	return r.h;
}

/* A session carrying |body| as DATA (with a final CRLF.CRLF after it) or
 * as BDAT chunks (the last one LAST), then a second transaction and QUIT:
 * whatever the body smuggles shows up as extra events. */
static void session(struct bstr *in, const struct bstr *body, bool bdat, bool eight)
{
	bstr_adds(in, "EHLO c\r\n");
	bstr_adds(in, eight ? "MAIL FROM:<a@x> BODY=8BITMIME\r\n" : "MAIL FROM:<a@x>\r\n");
	bstr_adds(in, "RCPT TO:<b@y>\r\n");
	if (bdat) {
		size_t off = 0;

		do {
			size_t n = body->len - off;
			char hdr[64];

			if (n > 1 && rnd() % 3 == 0)
				n = 1 + rndn(n - 1);
			snprintf(hdr, sizeof(hdr), "BDAT %zu%s\r\n", n,
				 off + n == body->len ? " LAST" : "");
			bstr_adds(in, hdr);
			bstr_add(in, body->p + off, n);
			off += n;
		} while (off < body->len);
	} else {
		bstr_adds(in, "DATA\r\n");
		bstr_add(in, body->p, body->len);
		bstr_adds(in, "\r\n.\r\n");
	}
	bstr_adds(in, "MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n");
}

static struct bstr out;          /* this binary's transcript */

static void line(const char *name, uint64_t h)
{
	char t[160];
	int n = snprintf(t, sizeof(t), "%s %016llx\n", name, (unsigned long long)h);

	bstr_add(&out, t, (size_t)n);
}

/* One body in every mode; |seed| makes the random splits repeatable. */
static void cases_for(const char *id, const struct bstr *body, uint64_t seed,
		      uint64_t size_max, int nsplit)
{
	static const char *const how_name[] = { "whole", "byte", "rand" };

	for (int bdat = 0; bdat < 2; bdat++) {
		for (int eight = 0; eight < 2; eight++) {
			for (int how = 0; how < 2 + nsplit; how++) {
				struct bstr in = { 0 };
				char name[128];
				enum split sp = how < 2 ? (enum split)how : SPLIT_RANDOM;

				if (sp == SPLIT_BYTE && body->len > 3000)
					continue;
				rng = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)how * 7919 + 1;
				session(&in, body, bdat, eight);
				snprintf(name, sizeof(name), "%s/%s/%s/%s%d", id,
					 bdat ? "bdat" : "data", eight ? "8bit" : "7bit",
					 how_name[sp], how);
				line(name, run(&in, sp, size_max));
				bstr_free(&in);
			}
		}
	}
}

static void seq_cases(const char *id, const char *p, size_t n)
{
	for (size_t pre = 0; pre <= 40; pre += (pre < 18 ? 1 : 11)) {
		struct bstr body = { 0 };
		char name[96];

		bstr_adds(&body, "Subject: t\r\n\r\n");
		for (size_t i = 0; i < pre; i++)
			bstr_add(&body, "abcdefghijklmnopqrstuvwxyz0123456789" + i % 36, 1);
		bstr_add(&body, p, n);
		bstr_adds(&body, "MAIL FROM:<smuggled@evil>\r\nRCPT TO:<b@y>\r\nDATA\r\nsmuggled\r\n");
		snprintf(name, sizeof(name), "%s+%zu", id, pre);
		cases_for(name, &body, pre * 131 + n, 0, 2);
		bstr_free(&body);
	}
}

static void random_body(struct bstr *b)
{
	size_t target = rndn(8) == 0 ? 2000 + rndn(6000) : rndn(600);

	while (b->len < target) {
		unsigned k = (unsigned)rndn(100);

		if (k < 45) {            /* a run of text */
			size_t n = rndn(8) == 0 ? 900 + rndn(300) : rndn(90);

			for (size_t i = 0; i < n; i++)
				bstr_add(b, &"The quick brown fox jumps over the lazy dog ."[rndn(45)], 1);
		} else if (k < 75) {
			bstr_adds(b, "\r\n");
		} else if (k < 83) {
			bstr_adds(b, "\r\n.");
		} else if (k < 86) {
			bstr_adds(b, rndn(2) ? "\r\n..\r\n" : "\r\n.\r\n");
		} else if (k < 89) {
			bstr_add(b, "\r", 1);
		} else if (k < 92) {
			bstr_add(b, "\n", 1);
		} else if (k < 94) {
			bstr_add(b, "", 1);
		} else {
			char c = (char)(0x80 + rndn(128));

			bstr_add(b, &c, 1);
		}
	}
}

static void build_transcript(void)
{
#define SEQ(x) { x, sizeof(x) - 1 }
	static const struct { const char *p; size_t n; } extra[] = {
		SEQ("\n.\n"), SEQ("\r\n.\n"), SEQ("\n.\r\n"), SEQ("\r.\r"), SEQ("\r\n.\r\r\n"),
		SEQ("\r\n..\r\n"), SEQ("\r\n.\x00\r\n"), SEQ("\r\n \r\n.\r\n"),
		SEQ("\r\r\n.\r\r\n"), SEQ("\n\n.\n\n"), SEQ("\r\n.\n\r\n"),
		SEQ("\r\n\r\n.\r\n"), SEQ("\r\n.\r\n"), SEQ("\r\n\x00.\r\n"),
		SEQ("\r\n.\r\x00\n"), SEQ("\x80\r\n.\r\n"), SEQ("\r\n.\x80\r\n"),
		SEQ("\r\n\r"), SEQ("\r\n\n"), SEQ("\r\n.\r"),
	};
#undef SEQ
	const char *path = getenv("SMTP_SMUGGLING");
	FILE *f = path ? fopen(path, "r") : NULL;
	char buf[1024];

	if (f) {
		while (fgets(buf, sizeof(buf), f)) {
			char *id = strtok(buf, "\t"), *src = strtok(NULL, "\t"),
			     *fam = strtok(NULL, "\t"), *hex = strtok(NULL, "\t");
			struct bstr seq = { 0 };

			if (!id || !src || !fam || !hex || !strcmp(id, "id"))
				continue;
			bstr_add_hex(&seq, hex);
			seq_cases(id, seq.p, seq.len);
			bstr_free(&seq);
		}
		fclose(f);
	} else {
		line("corpus-absent", 0);
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		char id[32];

		snprintf(id, sizeof(id), "extra-%zu", i);
		seq_cases(id, extra[i].p, extra[i].n);
	}
	for (uint64_t k = 0; k < 600; k++) {
		struct bstr body = { 0 };
		uint64_t size_max = 0;
		char id[32];

		rng = k * 0x2545f4914f6cdd1dULL + 12345;
		random_body(&body);
		if (rndn(4) == 0)
			size_max = body.len / 2 + rndn(body.len + 1);
		snprintf(id, sizeof(id), "random-%llu", (unsigned long long)k);
		cases_for(id, &body, k + 1, size_max, 4);
		bstr_free(&body);
	}
}

/* ---------------------------------------------------------------- test */

static char **others;
static int nothers;

static void compare_with(const char *exe)
{
	char cmd[4096], buf[256];
	const char *mine = out.p;
	size_t nlines = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --dump", exe);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(buf, sizeof(buf), p)) {
		const char *nl = strchr(mine, '\n');
		size_t len = nl ? (size_t)(nl - mine) + 1 : strlen(mine);

		if (strlen(buf) != len || memcmp(buf, mine, len)) {
			pclose(p);
			fail_msg("%s differs at line %zu:\n  this: %.*s  that: %s", exe, nlines + 1,
				 (int)len, mine, buf);
		}
		mine += len;
		nlines++;
	}
	assert_int_equal(pclose(p), 0);
	if (*mine)
		fail_msg("%s stopped after %zu lines", exe, nlines);
	printf("%s: %zu cases, all equal\n", exe, nlines);
}

static void test_smtp_srv_scan_equal(void **state)
{
	if (!nothers) {
		printf("SKIP: no reference binaries given\n");
		skip();
		return;
	}
	for (int i = 0; i < nothers; i++)
		compare_with(others[i]);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_srv_scan_equal),
	};

	build_transcript();
	if (argc > 1 && !strcmp(argv[1], "--dump")) {
		fwrite(out.p, 1, out.len, stdout);
		return 0;
	}
	others = argv + 1;
	nothers = argc - 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
