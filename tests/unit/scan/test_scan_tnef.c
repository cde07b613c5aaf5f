/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_tnef.c - TNEF (winmail.dat) through scan_archive_expand():
 * attachments named by a title that follows the data (as Outlook writes
 * it), an untitled one, the body, every malformed input with its precise
 * error, every truncation, and a TNEF part of a message scanned for EICAR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan.h"
#include "scan_archive.h"
#include "scan_test.h"

/* ---- builder ---- */

static void tnef_start(struct sbuf *b)
{
	sbuf_add(b, "\x78\x9f\x3e\x22\x01\x00", 6);
}

static void attr(struct sbuf *b, uint8_t level, uint32_t id, const void *d, uint32_t n)
{
	uint8_t h[9] = { level, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
			 (uint8_t)(id >> 24), (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
			 (uint8_t)(n >> 24) };
	uint16_t sum = 0;
	uint8_t ck[2];

	for (uint32_t i = 0; i < n; i++)
		sum = (uint16_t)(sum + ((const uint8_t *)d)[i]);
	ck[0] = (uint8_t)sum;
	ck[1] = (uint8_t)(sum >> 8);
	sbuf_add(b, h, 9);
	sbuf_add(b, d, n);
	sbuf_add(b, ck, 2);
}

#define REND 0x00069002u
#define DATA 0x0006800fu
#define TITLE 0x00018010u
#define BODY 0x0002800cu

static void sample(struct sbuf *b)
{
	tnef_start(b);
	attr(b, 1, 0x00089006u, "\0\0\1\0", 4);          /* attTnefVersion */
	attr(b, 1, BODY, "Hello from Outlook", 18);
	attr(b, 2, REND, "\1\0\0\0\0\0\0\0\0\0\0\0\0\0", 14);
	attr(b, 2, DATA, "first file bytes", 16);
	attr(b, 2, TITLE, "report.pdf\0", 11);
	attr(b, 2, REND, "\1\0\0\0\0\0\0\0\0\0\0\0\0\0", 14);
	attr(b, 2, DATA, "second", 6);                     /* no title */
}

/* ---- expansion ---- */

static void test_tnef_members(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	sample(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	members_expand(b.p, b.n, "winmail.dat", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "tnef");
	assert_null(res.error);
	assert_int_equal(g.begins, 3);
	assert_true(members_is(&g, 0, "body.txt", "Hello from Outlook", 18));
	assert_int_equal(g.m[0].declared, 18);
	assert_true(members_is(&g, 1, "report.pdf", "first file bytes", 16));
	assert_int_equal(g.m[1].declared, 16);
	assert_true(members_is(&g, 2, "attachment2", "second", 6));
	assert_int_equal(g.m[2].declared, 6);
	members_free(&g);
	/* a line end appended by the carrying mail is no error */
	sbuf_add(&b, "\n", 1);
	members_expand(b.p, b.n, "winmail.dat", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	members_free(&g);
	sbuf_free(&b);
}

static void check_error(const struct sbuf *b, const char *err, unsigned members)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(b->p, b->n, "winmail.dat", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_non_null(res.error);
	assert_string_equal(res.error, err);
	assert_int_equal(g.begins, members);
	members_free(&g);
}

static void test_tnef_malformed(void **state)
{
	struct sbuf b = { 0 };

	sbuf_add(&b, "\x78\x9f\x3e\x22\x01", 5);
	check_error(&b, "tnef: truncated header", 0);
	sbuf_free(&b);
	/* level 3 */
	tnef_start(&b);
	attr(&b, 3, BODY, "x", 1);
	check_error(&b, "tnef: bad attribute level", 0);
	sbuf_free(&b);
	/* a length beyond the end: the body before it is still delivered */
	tnef_start(&b);
	attr(&b, 1, BODY, "text", 4);
	sbuf_add(&b, "\x02\x0f\x80\x06\x00\xff\xff\xff\x7f" "abc", 12);
	check_error(&b, "tnef: attribute longer than the file", 1);
	sbuf_free(&b);
	/* five bytes of an attribute header */
	tnef_start(&b);
	attr(&b, 1, BODY, "text", 4);
	sbuf_add(&b, "\x02\x0f\x80\x06\x00", 5);
	check_error(&b, "tnef: truncated attribute", 1);
	sbuf_free(&b);
	/* 5000 empty attributes */
	tnef_start(&b);
	for (int i = 0; i < 5000; i++)
		attr(&b, 1, 0x00018004u, "", 0);
	check_error(&b, "tnef: too many attributes", 0);
	sbuf_free(&b);
}

static void test_tnef_truncations(void **state)
{
	struct sbuf b = { 0 };

	sample(&b);
	for (size_t k = 4; k < b.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(b.p, k, "winmail.dat", NULL, &g, &res);
		assert_true(g.begins <= 3);
		members_free(&g);
	}
	sbuf_free(&b);
}

/* application/ms-tnef, base64, holding EICAR: found in its member. */
static void test_tnef_in_mail(void **state)
{
	static const char eicar[] =
		"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct scan_sigset *ss = scan_sigset_new(NULL);
	struct scan_engine *e;
	struct scan_session *s;
	const struct scan_result *r;
	struct sbuf t = { 0 }, m = { 0 };
	bool found = false;

	tnef_start(&t);
	attr(&t, 2, REND, "\1\0\0\0\0\0\0\0\0\0\0\0\0\0", 14);
	attr(&t, 2, DATA, eicar, sizeof(eicar) - 1);
	attr(&t, 2, TITLE, "eicar.com\0", 10);
	sbuf_printf(&m, "From: a@example.org\r\nMIME-Version: 1.0\r\n"
			"Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < t.n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)t.p[i] << 16;
		size_t k = t.n - i;

		v |= k > 1 ? (uint32_t)(uint8_t)t.p[i + 1] << 8 : 0;
		v |= k > 2 ? (uint8_t)t.p[i + 2] : 0;
		sbuf_printf(&m, "%c%c%c%c", b64[v >> 18], b64[v >> 12 & 63],
			    k > 1 ? b64[v >> 6 & 63] : '=', k > 2 ? b64[v & 63] : '=');
		if (i % 57 == 54)
			sbuf_printf(&m, "\r\n");
	}
	sbuf_printf(&m, "\r\n");
	assert_non_null(ss);
	e = scan_engine_build(NULL, ss, NULL, 0);
	assert_non_null(e);
	s = scan_session_new(e, NULL, NULL);
	assert_non_null(s);
	assert_int_equal(scan_session_feed(s, (const uint8_t *)m.p, m.n), 0);
	r = scan_session_finish(s);
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && !strcmp(r->parts[i].filename, "eicar.com"))
			found = (r->parts[i].flags & SCAN_PF_MEMBER) != 0;
	assert_true(found);
	assert_true(r->flags & SCAN_R_VIRUS);
	scan_session_free(s);
	scan_engine_unref(e);
	sbuf_free(&t);
	sbuf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tnef_members),
		cmocka_unit_test(test_tnef_malformed),
		cmocka_unit_test(test_tnef_truncations),
		cmocka_unit_test(test_tnef_in_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
