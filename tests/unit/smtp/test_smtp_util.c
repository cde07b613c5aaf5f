/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_util.c - output buffer, reply formatting and text helpers
 * (smtp_util.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_int.h"
#include "smtp_test.h"

static void test_smtp_util_buf(void **state)
{
	const struct mxg_mem *m = mxg_mem_default();
	struct smtp_buf b = { 0 };
	char big[5000];

	assert_int_equal(smtp_buf_reply(&b, m, 250, '-', "2.0.0", "Ok %d", 1), 0);
	assert_int_equal(smtp_buf_reply(&b, m, 250, ' ', NULL, "host"), 0);
	assert_int_equal(smtp_buf_pending(&b), strlen("250-2.0.0 Ok 1\r\n250 host\r\n"));
	assert_memory_equal(b.p + b.off, "250-2.0.0 Ok 1\r\n250 host\r\n", smtp_buf_pending(&b));
	smtp_buf_consume(&b, 4);
	assert_memory_equal(b.p + b.off, "2.0.0", 5);
	memset(big, 'x', sizeof(big));
	assert_int_equal(smtp_buf_append(&b, m, big, sizeof(big)), 0);
	assert_int_equal(smtp_buf_pending(&b), 26 - 4 + sizeof(big));
	smtp_buf_consume(&b, 100000);
	assert_int_equal(smtp_buf_pending(&b), 0);
	/* over-long text is truncated, the line still ends in CRLF */
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(smtp_buf_reply(&b, m, 550, ' ', "5.0.0", "%s", big), 0);
	assert_true(smtp_buf_pending(&b) < 700);
	assert_memory_equal(b.p + b.len - 2, "\r\n", 2);
	smtp_buf_free(&b, m);
	assert_null(b.p);
}

static void test_smtp_util_buf_nomem(void **state)
{
	struct failmem fm;
	struct smtp_buf b = { 0 };

	failmem_init(&fm, 1);
	assert_int_equal(smtp_buf_append(&b, &fm.mem, "x", 1), MXG_E_NOMEM);
	assert_int_equal(smtp_buf_append(&b, &fm.mem, "x", 1), 0);
	smtp_buf_free(&b, &fm.mem);
}

static void test_smtp_util_text(void **state)
{
	char out[8];
	uint64_t v;

	assert_true(smtp_kw_eq("ehlo", 4, "EHLO"));
	assert_false(smtp_kw_eq("ehl", 3, "EHLO"));
	assert_false(smtp_kw_eq("ehloo", 5, "EHLO"));
	assert_int_equal(smtp_parse_u64("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(smtp_parse_u64("18446744073709551616", 20, &v), MXG_E_RANGE);
	assert_int_equal(smtp_parse_u64("", 0, &v), MXG_E_INVAL);
	assert_int_equal(smtp_parse_u64("1a", 2, &v), MXG_E_INVAL);
	smtp_copy_text(out, sizeof(out), "a\r\nb\0cdefgh", 11);
	assert_string_equal(out, "a  b cd");
	assert_true(smtp_xtext_valid("a+2Bb", 5));
	assert_false(smtp_xtext_valid("a+2b", 4));
	assert_false(smtp_xtext_valid("a+2", 3));
	assert_false(smtp_xtext_valid("a=b", 3));
	assert_false(smtp_xtext_valid("a b", 3));
	assert_string_equal(smtp_anomaly_name(SMTP_ANOM_BARE_LF), "bare_lf");
	assert_string_equal(smtp_anomaly_name(SMTP_ANOM_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_util_buf),
		cmocka_unit_test(test_smtp_util_buf_nomem),
		cmocka_unit_test(test_smtp_util_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
