/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_szdd.c - MS COMPRESS SZDD through scan_archive_expand():
 * literals and window matches (including the space-filled window), the
 * member name, every malformed input with its precise error, the member
 * limit (a declared 4 GiB size is never trusted) and every truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan_archive.h"
#include "scan_test.h"

/* SZDD header for |size| bytes, mode |mode|, missing name character |c|. */
static size_t header(uint8_t *out, char mode, char c, uint32_t size)
{
	memcpy(out, "SZDD\x88\xf0\x27\x33", 8);
	out[8] = (uint8_t)mode;
	out[9] = (uint8_t)c;
	out[10] = (uint8_t)size;
	out[11] = (uint8_t)(size >> 8);
	out[12] = (uint8_t)(size >> 16);
	out[13] = (uint8_t)(size >> 24);
	return 14;
}

/* "abc" as literals, then a match of 6 at the first literal (window
 * position 4096 - 16 = 0xff0), then a match of 3 at position 0, which was
 * never written: three spaces. */
static size_t sample(uint8_t *buf, uint32_t declared)
{
	size_t n = header(buf, 'A', 'e', declared);

	buf[n++] = 0x07;                 /* literal, literal, literal, match, match */
	buf[n++] = 'a';
	buf[n++] = 'b';
	buf[n++] = 'c';
	buf[n++] = 0xf0;                 /* position 0xff0 ... */
	buf[n++] = 0xf0 | (6 - 3);       /* ... length 6 */
	buf[n++] = 0x00;                 /* position 0 ... */
	buf[n++] = 0x00 | (3 - 3);       /* ... length 3 */
	return n;
}

static void test_szdd_decode(void **state)
{
	struct scan_archive_result res;
	uint8_t buf[64];
	struct arch_members g;
	size_t n = sample(buf, 12);

	assert_true(scan_archive_sniff(buf, n));
	members_expand(buf, n, "setup.ex_", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "szdd");
	assert_null(res.error);
	assert_int_equal(g.begins, 1);
	assert_string_equal(g.m[0].name, "setup.exe");
	assert_int_equal(g.bytes, 12);
	assert_memory_equal(g.m[0].data.p, "abcabcabc   ", 12);
	members_free(&g);
	/* a name without the trailing '_': the extension is dropped */
	members_expand(buf, n, "clam.exe.szdd", NULL, &g, &res);
	assert_string_equal(g.m[0].name, "clam.exe");
	members_free(&g);
	/* output stops at the declared size, extra input is ignored */
	n = sample(buf, 5);
	members_expand(buf, n, "x.tx_", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.bytes, 5);
	assert_memory_equal(g.m[0].data.p, "abcab", 5);
	members_free(&g);
}

static void check_error(const uint8_t *p, size_t n, const char *err, size_t out)
{
	members_corrupt(p, n, "bad.ex_", err, out);
}

static void test_szdd_malformed(void **state)
{
	uint8_t buf[64];
	size_t n;

	n = header(buf, 'A', 'e', 12);
	check_error(buf, 10, "szdd: truncated header", 0);
	n = header(buf, 'B', 'e', 12);
	check_error(buf, n, "szdd: unknown compression mode", 0);
	/* declared 100, the data gives 12 */
	n = sample(buf, 100);
	check_error(buf, n, "szdd: data ends before the declared size", 12);
	/* a match with only one of its two bytes */
	n = header(buf, 'A', 'e', 12);
	buf[n++] = 0x01;
	buf[n++] = 'z';
	buf[n++] = 0xf0;
	check_error(buf, n, "szdd: match cut by the end of data", 1);
}

/* Every prefix of a valid file: never a crash, a result every time. */
static void test_szdd_truncations(void **state)
{
	uint8_t buf[64];
	size_t n = sample(buf, 12);

	for (size_t k = 8; k <= n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(buf, k, "t.ex_", NULL, &g, &res);
		assert_true(g.bytes <= 12);
		if (k < n)
			assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		members_free(&g);
	}
}

/* A declared 4 GiB made of 18-byte matches: the member limit cuts it. */
static void test_szdd_member_limit(void **state)
{
	struct scan_archive_limits lim;
	static uint8_t buf[14 + 17 * 4096];
	size_t n = header(buf, 'A', 'e', 0xffffffffu);

	while (n + 17 <= sizeof(buf)) {
		buf[n++] = 0x00; /* eight matches of 18 spaces */
		for (int k = 0; k < 8; k++) {
			buf[n++] = 0x00;
			buf[n++] = 0x0f;
		}
	}
	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 100000;
	members_cut(buf, n, "big.ex_", &lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_szdd_decode),
		cmocka_unit_test(test_szdd_malformed),
		cmocka_unit_test(test_szdd_truncations),
		cmocka_unit_test(test_szdd_member_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
