/* SPDX-License-Identifier: BSD-3-Clause */
/* Tests for common/mxg_addr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxg_addr.h"
#include "mxg_err.h"

static void test_prefix_parse(void **st)
{
	struct mxg_prefix p;
	struct mxg_ip ip;
	char buf[64];

	assert_int_equal(mxg_prefix_parse("198.18.0.1/24", &p), 0);
	assert_int_equal(p.ip.family, 4);
	assert_int_equal(p.len, 24);
	assert_string_equal(mxg_ip_str(&p.ip, buf, sizeof(buf)), "198.18.0.1");
	assert_int_equal(mxg_prefix_parse("2001:db8:18::1/64", &p), 0);
	assert_int_equal(p.ip.family, 6);
	assert_int_equal(p.len, 64);
	assert_int_equal(mxg_prefix_parse("2001:db8::1", &p), 0);
	assert_int_equal(p.len, 128);
	assert_int_equal(mxg_prefix_parse("10.0.0.1", &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(mxg_prefix_parse("10.0.0.1/33", &p), MXG_E_INVAL);
	assert_int_equal(mxg_prefix_parse("10.0.0.1/", &p), MXG_E_INVAL);
	assert_int_equal(mxg_prefix_parse("10.0.0.1/2x", &p), MXG_E_INVAL);
	assert_int_equal(mxg_prefix_parse("10.0.0/8", &p), MXG_E_INVAL);
	assert_int_equal(mxg_prefix_parse("/8", &p), MXG_E_INVAL);
	assert_int_equal(mxg_ip_parse("::ffff:1.2.3.4", &ip), 0);
	assert_int_equal(ip.family, 6);
}

static void test_prefix_contains(void **st)
{
	struct mxg_prefix p;
	struct mxg_ip ip;

	mxg_prefix_parse("198.18.0.1/23", &p);
	mxg_ip_parse("198.18.1.255", &ip);
	assert_true(mxg_prefix_contains(&p, &ip));
	mxg_ip_parse("198.18.2.0", &ip);
	assert_false(mxg_prefix_contains(&p, &ip));
	mxg_ip_parse("2001:db8::1", &ip);
	assert_false(mxg_prefix_contains(&p, &ip));
	mxg_prefix_parse("2001:db8:18::1/61", &p);
	mxg_ip_parse("2001:db8:18:7::9", &ip);
	assert_true(mxg_prefix_contains(&p, &ip));
	mxg_ip_parse("2001:db8:18:8::9", &ip);
	assert_false(mxg_prefix_contains(&p, &ip));
	mxg_prefix_parse("0.0.0.0/0", &p);
	mxg_ip_parse("203.0.113.9", &ip);
	assert_true(mxg_prefix_contains(&p, &ip));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_contains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
