/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_parser.c - the streaming MIME parser: every case in cases/NAME.eml
 * runs whole, one byte per call and split at every offset (STYLE.md 2.7),
 * in LF and CRLF form; the traces must be identical and (LF form) equal to
 * cases/<name>.ref. MXG_SCAN_WRITE_REF=1 writes missing .ref files for review.
 * Also: limits, callback errors, and a failing allocator.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime.h"
#include "mxg_err.h"
#include "scan_test.h"

#ifndef CASES_DIR
#define CASES_DIR "cases"
#endif

static uint8_t *to_crlf(const uint8_t *in, size_t n, size_t *out_n)
{
	uint8_t *o = malloc(n * 2 + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			o[k++] = '\r';
		o[k++] = in[i];
	}
	*out_n = k;
	return o;
}

/* Whole, byte-by-byte and every split give the same trace; returns it. */
static char *three_ways(const char *name, const uint8_t *m, size_t n,
			const struct mime_limits *lim)
{
	struct sbuf whole = { 0 }, t = { 0 };

	assert_int_equal(trace_parse(m, n, FEED_WHOLE, 0, lim, NULL, &whole), 0);
	assert_int_equal(trace_parse(m, n, FEED_BYTE, 0, lim, NULL, &t), 0);
	if (strcmp(whole.p, t.p) != 0)
		fail_msg("%s: byte-by-byte differs\n--- whole\n%s--- bytes\n%s", name, whole.p, t.p);
	sbuf_free(&t);
	for (size_t k = 0; k <= n; k++) {
		assert_int_equal(trace_parse(m, n, FEED_SPLIT, k, lim, NULL, &t), 0);
		if (strcmp(whole.p, t.p) != 0)
			fail_msg("%s: split at %zu differs\n--- whole\n%s--- split\n%s", name, k,
				 whole.p, t.p);
		sbuf_free(&t);
	}
	return whole.p;
}

static void test_cases(void **state)
{
	DIR *d = opendir(CASES_DIR);
	struct dirent *e;
	int ncases = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), n, cn;
		char path[1024], ref[1024];

		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", CASES_DIR, e->d_name);
		snprintf(ref, sizeof(ref), "%s/%.*s.ref", CASES_DIR, (int)(l - 4), e->d_name);
		uint8_t *m = load_file(path, &n);

		assert_non_null(m);
		char *tr = three_ways(e->d_name, m, n, NULL);
		uint8_t *crlf = to_crlf(m, n, &cn);
		char *tc = three_ways(e->d_name, crlf, cn, NULL);
		size_t rn;
		char *want = (char *)load_file(ref, &rn);

		if (!want && getenv("MXG_SCAN_WRITE_REF")) {
			FILE *f = fopen(ref, "w");

			assert_non_null(f);
			fputs(tr, f);
			fclose(f);
			want = strdup(tr);
		}
		if (!want)
			fail_msg("%s: no reference %s; trace:\n%s", e->d_name, ref, tr);
		if (strcmp(want, tr) != 0)
			fail_msg("%s: trace differs from %s\n--- got\n%s--- want\n%s", e->d_name, ref,
				 tr, want);
		free(want);
		free(tr);
		free(tc);
		free(crlf);
		free(m);
		ncases++;
	}
	closedir(d);
	print_message("[ cases    ] %d messages, each whole/byte/every split, LF and CRLF\n",
		      ncases);
	assert_true(ncases >= 20);
}

static const char nested_msg[] =
	"Content-Type: multipart/mixed; boundary=a\n\n"
	"--a\nContent-Type: multipart/mixed; boundary=b\n\n"
	"--b\nContent-Type: message/rfc822\n\n"
	"Subject: x\nContent-Type: multipart/mixed; boundary=c\n\n"
	"--c\nContent-Type: text/plain\n\ndeep\n--c--\n"
	"--b--\n--a\nContent-Type: text/plain\n\nsecond\n--a--\n";

static bool has(const char *t, const char *s)
{
	return strstr(t, s) != NULL;
}

static void test_limit_depth(void **state)
{
	struct mime_limits lim;

	(void)state;
	mime_limits_default(&lim);
	lim.max_depth = 2;
	char *t = three_ways("depth", (const uint8_t *)nested_msg, strlen(nested_msg), &lim);

	assert_true(has(t, "ANOMALY 1.1.1 limit_depth"));
	/* The too-deep message is a leaf: its bytes are still delivered. */
	assert_true(has(t, "BEGIN 1.1.1 leaf message/rfc822"));
	assert_true(has(t, "deep"));
	assert_true(has(t, "BEGIN 1.2 leaf text/plain"));
	assert_true(has(t, "RESULT flags=0x2"));
	free(t);
}

static void test_limit_parts(void **state)
{
	struct mime_limits lim;

	(void)state;
	mime_limits_default(&lim);
	lim.max_parts = 3;
	char *t = three_ways("parts", (const uint8_t *)nested_msg, strlen(nested_msg), &lim);

	assert_true(has(t, "limit_parts"));
	assert_true(has(t, "UNPARSED"));
	assert_true(has(t, "second")); /* not silently dropped */
	free(t);
}

static void test_limit_decoded(void **state)
{
	static const char m[] = "Content-Type: text/plain\n\n0123456789abcdef\n";
	struct mime_limits lim;

	(void)state;
	mime_limits_default(&lim);
	lim.max_decoded_bytes = 5;
	char *t = three_ways("decoded", (const uint8_t *)m, strlen(m), &lim);

	assert_true(has(t, "BODY 1 5 01234\n"));
	assert_true(has(t, "ANOMALY 1 limit_decoded"));
	assert_true(has(t, "RESULT flags=0x6"));
	free(t);
}

static void test_limit_headers(void **state)
{
	struct sbuf m = { 0 };
	struct mime_limits lim;

	(void)state;
	mime_limits_default(&lim);
	lim.max_headers = 3;
	lim.max_header_line = 300;
	for (int i = 0; i < 5; i++)
		sbuf_printf(&m, "X-H%d: v\n", i);
	sbuf_printf(&m, "X-Long: ");
	for (int i = 0; i < 50; i++)
		sbuf_printf(&m, "0123456789");
	sbuf_printf(&m, "\nContent-Type: text/html\n\n<b>x</b>\n");
	char *t = three_ways("headers", (const uint8_t *)m.p, m.n, &lim);

	assert_true(has(t, "ANOMALY 1 headers_many"));
	assert_true(has(t, "ANOMALY 1 header_long"));
	assert_false(has(t, "HEADER 1 X-H3"));
	/* Headers over the limit are still interpreted. */
	assert_true(has(t, "BEGIN 1 leaf text/html"));
	free(t);
	sbuf_free(&m);
}

static int stop_cb(struct mime_parser *p, const struct mime_event *ev, void *ud)
{
	int *n = ud;

	return ++*n == 3 ? MXG_E_RANGE : 0;
}

static void test_callback_error(void **state)
{
	struct mime_callbacks cb = { .on_event = stop_cb };
	int n = 0;
	struct mime_parser *p = mime_parser_new(NULL, NULL, &cb, &n);

	(void)state;
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)nested_msg, strlen(nested_msg)),
			 MXG_E_RANGE);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)"x", 1), MXG_E_RANGE);
	assert_int_equal(mime_parser_finish(p), MXG_E_RANGE);
	mime_parser_free(p);
}

static void test_failing_alloc(void **state)
{
	size_t n;
	char path[1024];
	struct sbuf ok = { 0 };

	(void)state;
	snprintf(path, sizeof(path), "%s/rfc822.eml", CASES_DIR);
	uint8_t *m = load_file(path, &n);

	assert_non_null(m);
	assert_int_equal(trace_parse(m, n, FEED_BYTE, 0, NULL, NULL, &ok), 0);
	for (unsigned long k = 1;; k++) {
		struct failmem fm;
		struct sbuf t = { 0 };
		int rc;

		failmem_init(&fm, k);
		rc = trace_parse(m, n, FEED_BYTE, 0, NULL, &fm.mem, &t);
		assert_int_equal(fm.live, 0); /* no leak on any failure */
		if (rc == 0) {
			assert_string_equal(t.p, ok.p);
			sbuf_free(&t);
			print_message("[ failmem  ] succeeded once %lu allocations were allowed\n",
				      k - 1);
			break;
		}
		assert_int_equal(rc, MXG_E_NOMEM);
		sbuf_free(&t);
		assert_true(k < 1000);
	}
	sbuf_free(&ok);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_limit_decoded),
		cmocka_unit_test(test_limit_headers),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_failing_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
