/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_proxy.c - PROXY protocol v1/v2 parser (smtp_proxy.c): valid
 * headers at every prefix length (need more, then complete), malformed
 * ones rejected as early as possible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_test.h"

/* Every strict prefix needs more; the whole is complete with |len|. */
static void check_valid(const struct bstr *h, size_t hlen, struct smtp_proxy_info *pi)
{
	for (size_t n = 0; n < hlen; n++)
		assert_int_equal(smtp_proxy_parse((const uint8_t *)h->p, n, pi), 0);
	assert_int_equal(smtp_proxy_parse((const uint8_t *)h->p, h->len, pi), (int)hlen);
}

static void test_smtp_proxy_v1(void **state)
{
	struct smtp_proxy_info pi;
	struct bstr h = { 0 };
	char buf[64];

	bstr_adds(&h, "PROXY TCP4 192.0.2.1 198.51.100.2 65535 25\r\nEHLO x\r\n");
	check_valid(&h, 44, &pi);
	assert_int_equal(pi.version, 1);
	assert_false(pi.local);
	assert_string_equal(mxg_ip_str(&pi.src, buf, sizeof(buf)), "192.0.2.1");
	assert_string_equal(mxg_ip_str(&pi.dst, buf, sizeof(buf)), "198.51.100.2");
	assert_int_equal(pi.sport, 65535);
	assert_int_equal(pi.dport, 25);
	bstr_reset(&h);
	bstr_adds(&h, "PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
	check_valid(&h, h.len, &pi);
	assert_string_equal(mxg_ip_str(&pi.src, buf, sizeof(buf)), "2001:db8::1");
	bstr_reset(&h);
	bstr_adds(&h, "PROXY UNKNOWN\r\n");
	check_valid(&h, h.len, &pi);
	assert_true(pi.local);
	bstr_free(&h);
}

static void test_smtp_proxy_v1_bad(void **state)
{
	static const char *const bad[] = {
		"EHLO x\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "PROXY \r\n",
	};
	struct smtp_proxy_info pi;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = smtp_proxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &pi);

		if (rc != MXG_E_INVAL)
			fail_msg("accepted: %s (%d)", bad[i], rc);
	}
	/* Too long without LF: invalid at 107 bytes, not "need more" forever. */
	{
		char big[200] = "PROXY TCP4 ";

		memset(big + 11, '1', sizeof(big) - 12);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(smtp_proxy_parse((const uint8_t *)big, 106, &pi), 0);
		assert_int_equal(smtp_proxy_parse((const uint8_t *)big, 107, &pi), MXG_E_INVAL);
	}
	/* Early rejection: the first wrong byte decides. */
	assert_int_equal(smtp_proxy_parse((const uint8_t *)"E", 1, &pi), MXG_E_INVAL);
	assert_int_equal(smtp_proxy_parse((const uint8_t *)"PROX", 4, &pi), 0);
	assert_int_equal(smtp_proxy_parse((const uint8_t *)"\r\n\r\n\0\r\nQUIX", 12, &pi), MXG_E_INVAL);
}

static void test_smtp_proxy_v2(void **state)
{
	struct smtp_proxy_info pi;
	struct bstr h = { 0 };
	char buf[64];

	bstr_add_hex(&h, "0d0a0d0a000d0a515549540a 21 11 000c c0000201 c6336402 1f90 0019 45484c4f");
	check_valid(&h, 28, &pi);
	assert_int_equal(pi.version, 2);
	assert_string_equal(mxg_ip_str(&pi.src, buf, sizeof(buf)), "192.0.2.1");
	assert_int_equal(pi.sport, 8080);
	assert_int_equal(pi.dport, 25);
	bstr_reset(&h);
	/* PROXY over IPv6 with a TLV */
	bstr_add_hex(&h, "0d0a0d0a000d0a515549540a 21 21 0029"
		     "20010db8000000000000000000000001 00000000000000000000000000000001 0001 0002"
		     "04 0002 abcd");
	check_valid(&h, h.len, &pi);
	assert_string_equal(mxg_ip_str(&pi.src, buf, sizeof(buf)), "2001:db8::1");
	bstr_reset(&h);
	/* LOCAL with addresses: the addresses are ignored */
	bstr_add_hex(&h, "0d0a0d0a000d0a515549540a 20 11 000c c0000201 c6336402 1f90 0019");
	check_valid(&h, h.len, &pi);
	assert_true(pi.local);
	bstr_reset(&h);
	/* UNIX stream: local */
	bstr_add_hex(&h, "0d0a0d0a000d0a515549540a 21 31 00d8");
	for (int i = 0; i < 216; i++)
		bstr_add(&h, "", 1);
	check_valid(&h, h.len, &pi);
	assert_true(pi.local);
	bstr_free(&h);
}

static void test_smtp_proxy_v2_bad(void **state)
{
	static const char *const bad[] = {
		"0d0a0d0a000d0a515549540a 11 11 000c c0000201 c6336402 1f90 0019", /* version 1 */
		"0d0a0d0a000d0a515549540a 22 11 000c c0000201 c6336402 1f90 0019", /* command 2 */
		"0d0a0d0a000d0a515549540a 21 12 000c c0000201 c6336402 1f90 0019", /* UDP */
		"0d0a0d0a000d0a515549540a 21 22 0024",                             /* UDP6 */
		"0d0a0d0a000d0a515549540a 21 41 000c",                             /* family 4 */
		"0d0a0d0a000d0a515549540a 21 11 000b c0000201 c6336402 1f90 00",   /* short */
		"0d0a0d0a000d0a515549540a 21 21 000c",                             /* short v6 */
		"0d0a0d0a000d0a515549540a 21 11 ffff",                             /* too long */
	};
	struct smtp_proxy_info pi;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bstr h = { 0 };

		bstr_add_hex(&h, bad[i]);
		if (smtp_proxy_parse((const uint8_t *)h.p, h.len, &pi) != MXG_E_INVAL)
			fail_msg("accepted: %s", bad[i]);
		bstr_free(&h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_proxy_v1),
		cmocka_unit_test(test_smtp_proxy_v1_bad),
		cmocka_unit_test(test_smtp_proxy_v2),
		cmocka_unit_test(test_smtp_proxy_v2_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
