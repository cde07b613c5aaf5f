/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mime_charset.c - charset to UTF-8: known charsets, unknown fallback,
 * multibyte sequences split at every offset, invalid input, small outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime_codec.h"

/* Converts |in| fed in two pieces split at |s|, with a tiny output buffer
 * to exercise the "output full" path. */
static size_t conv(const char *cs, const uint8_t *in, size_t len, size_t s, char *out,
		   uint32_t *errs, bool *unknown)
{
	struct mime_utf8 *u = mime_utf8_new(NULL, cs, unknown);
	size_t o = 0;
	size_t cut[3] = { 0, s < len ? s : len, len };

	assert_non_null(u);
	for (int k = 0; k < 2; k++) {
		const uint8_t *p = in + cut[k];
		size_t n = cut[k + 1] - cut[k];

		while (n) {
			size_t used;
			uint8_t tmp[16];
			size_t w = mime_utf8_conv(u, p, n, &used, tmp, sizeof(tmp));

			memcpy(out + o, tmp, w);
			o += w;
			p += used;
			n -= used;
			assert_true(used || w);
		}
	}
	uint8_t tmp[16];
	size_t w = mime_utf8_finish(u, tmp);

	memcpy(out + o, tmp, w);
	o += w;
	out[o] = '\0';
	*errs = mime_utf8_errors(u);
	mime_utf8_free(u);
	return o;
}

static void check(const char *cs, const char *in, const char *want, uint32_t want_err,
		  bool want_unknown)
{
	size_t len = strlen(in);

	for (size_t s = 0; s <= len; s++) {
		char out[1024];
		uint32_t errs;
		bool unknown = false;

		conv(cs, (const uint8_t *)in, len, s, out, &errs, &unknown);
		if (strcmp(out, want) != 0)
			fail_msg("%s split %zu: \"%s\", want \"%s\"", cs ? cs : "(null)", s, out,
				 want);
		assert_int_equal(errs, want_err);
		assert_int_equal(unknown, want_unknown);
	}
}

static void test_charsets(void **state)
{
	(void)state;
	check("utf-8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, false);
	check(NULL, "plain", "plain", 0, false);
	check("US-ASCII", "caf\xe9", "caf\xc3\xa9", 1, false);
	check("iso-8859-1", "caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac", 0, false);
	check("\"ISO-8859-15\"", "\xa4", "\xe2\x82\xac", 0, false);
	check("windows-1251", "\xcf\xf0\xe8", "\xd0\x9f\xd1\x80\xd0\xb8", 0, false);
	check("shift_jis", "\x93\xfa\x96\x7b", "\xe6\x97\xa5\xe6\x9c\xac", 0, false);
	check("euc-kr", "\xc7\xd1", "\xed\x95\x9c", 0, false);
	check("ks_c_5601-1987", "\xc7\xd1", "\xed\x95\x9c", 0, false);
	check("gb2312", "\xd6\xd0", "\xe4\xb8\xad", 0, false);
	check("iso-2022-jp", "\x1b$BF|K\\\x1b(B", "\xe6\x97\xa5\xe6\x9c\xac", 0, false);
	check("x-nonexistent", "caf\xe9", "caf\xc3\xa9", 0, true);
	/* Invalid UTF-8 sequences: read as latin1, counted. */
	check("utf-8", "a\xc3(b", "a\xc3\x83(b", 1, false);
	/* Truncated at the end. */
	check("utf-8", "x\xe2\x82", "x\xc3\xa2\xc2\x82", 1, false);
	check("shift_jis", "\x93", "\xef\xbf\xbd", 1, false);
}

static void test_oneshot(void **state)
{
	char out[8];

	(void)state;
	/* Truncation stays on a character boundary. */
	mime_utf8_oneshot("utf-8", (const uint8_t *)"ab\xc3\xa9\xc3\xa9\xc3\xa9", 8, out, 6, NULL);
	assert_string_equal(out, "ab\xc3\xa9");
	assert_true(mime_utf8_valid((const uint8_t *)"\xc3\xa9", 2));
	assert_false(mime_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
	assert_false(mime_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_oneshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
