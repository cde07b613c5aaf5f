/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_smtp_acl.c - smtp_allow_client_ip lists (smtp_acl.c): every entry
 * form for IPv4 and IPv6, edges of each range, bad entries, failing
 * allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp.h"
#include "smtp_test.h"

static bool match(const struct smtp_acl *a, const char *ip)
{
	struct mxg_ip x;

	assert_int_equal(mxg_ip_parse(ip, &x), 0);
	return smtp_acl_match(a, &x);
}

static void test_smtp_acl_forms(void **state)
{
	struct smtp_acl *a = smtp_acl_new(NULL);
	size_t off = 99;

	assert_int_equal(smtp_acl_parse(a, "127.0.0.1, 10.0.0.0/8; 192.168.1.10-20\n"
				     "172.16.0.1-172.16.1.5 2001:db8::/32 2001:db8:ffff::1-ff "
				     "fe80::1 198.51.100.77/24", &off), 0);
	assert_int_equal(smtp_acl_count(a), 8);
	assert_true(match(a, "127.0.0.1"));
	assert_false(match(a, "127.0.0.2"));
	assert_true(match(a, "10.0.0.0"));
	assert_true(match(a, "10.255.255.255"));
	assert_false(match(a, "11.0.0.0"));
	assert_false(match(a, "192.168.1.9"));
	assert_true(match(a, "192.168.1.10"));
	assert_true(match(a, "192.168.1.20"));
	assert_false(match(a, "192.168.1.21"));
	assert_true(match(a, "172.16.0.255"));
	assert_true(match(a, "172.16.1.5"));
	assert_false(match(a, "172.16.1.6"));
	assert_true(match(a, "198.51.100.1"));   /* host bits ignored */
	assert_true(match(a, "2001:db8:1::1"));
	assert_false(match(a, "2001:db9::1"));
	assert_true(match(a, "2001:db8:ffff::ff"));
	assert_true(match(a, "fe80::1"));
	assert_false(match(a, "fe80::2"));
	assert_false(match(a, "::ffff:127.0.0.1")); /* families never mix */
	smtp_acl_free(a);

	a = smtp_acl_new(NULL);
	assert_int_equal(smtp_acl_parse(a, "fe80::10-1f", NULL), 0);
	assert_false(match(a, "fe80::f"));
	assert_true(match(a, "fe80::10"));
	assert_true(match(a, "fe80::1f"));
	assert_false(match(a, "fe80::20"));
	assert_false(match(a, "10.0.0.1"));
	smtp_acl_free(a);

	a = smtp_acl_new(NULL);
	assert_int_equal(smtp_acl_parse(a, "0.0.0.0/0", NULL), 0);
	assert_true(match(a, "203.0.113.1"));
	assert_false(match(a, "::1"));
	assert_int_equal(smtp_acl_parse(a, "::/0", NULL), 0);
	assert_true(match(a, "::1"));
	smtp_acl_free(a);
}

static void test_smtp_acl_bad(void **state)
{
	static const char *const bad[] = {
		"1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4-256", "1.2.3.10-9", "1.2.3.4-x",
		"2001:db8::/129", "2001:db8::1-10000", "2001:db8::1-g", "1.2.3.4-::1",
		"::1-1.2.3.4", "host.example", "1.2.3.4-", "-1.2.3.4", "1.2.3.4/-1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_acl *a = smtp_acl_new(NULL);
		size_t off = 99;
		char list[128];

		snprintf(list, sizeof(list), "10.0.0.1 %s", bad[i]);
		if (smtp_acl_parse(a, list, &off) != MXG_E_INVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(off, 9);
		assert_int_equal(smtp_acl_count(a), 1);
		smtp_acl_free(a);
	}
}

static void test_smtp_acl_failmem(void **state)
{
	for (long n = 1; n < 20; n++) {
		struct failmem fm;
		struct smtp_acl *a;
		int rc = 0;

		failmem_init(&fm, n);
		a = smtp_acl_new(&fm.mem);
		if (!a)
			continue;
		for (int i = 0; i < 40 && !rc; i++)
			rc = smtp_acl_parse(a, "10.0.0.0/8 ::1", NULL);
		if (!rc) {
			assert_int_equal(smtp_acl_count(a), 80);
			smtp_acl_free(a);
			return;
		}
		assert_int_equal(rc, MXG_E_NOMEM);
		smtp_acl_free(a);
	}
	fail_msg("never succeeded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_acl_forms),
		cmocka_unit_test(test_smtp_acl_bad),
		cmocka_unit_test(test_smtp_acl_failmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
