/* SPDX-License-Identifier: BSD-3-Clause */
/* Tests for common/mxg_conf.c: the INI parser and its typed getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mxg_conf.h"
#include "mxg_err.h"

static struct mxg_conf *parse_ok(const char *text)
{
	struct mxg_conf *c;
	char err[256] = "";
	int rc = mxg_conf_parse(text, strlen(text), "t.conf", &c, err, sizeof(err));

	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	return c;
}

static void parse_err(const char *text, int want_rc, const char *want_msg)
{
	struct mxg_conf *c = (void *)1;
	char err[256] = "";

	assert_int_equal(mxg_conf_parse(text, strlen(text), "t.conf", &c, err, sizeof(err)),
			 want_rc);
	assert_null(c);
	assert_string_equal(err, want_msg);
}

static void test_sections_and_values(void **st)
{
	struct mxg_conf *c = parse_ok("top = 1\n"
				      "# comment\n"
				      "; comment\n"
				      "[dataplane]\n"
				      "  idle =  adaptive   # trailing comment\n"
				      "[port mxg0]\n"
				      "devargs = \"iface=a # not a comment \"\n"
				      "empty =\n");
	struct mxg_conf_sec *s;

	assert_int_equal(mxg_conf_nsec(c), 3);
	assert_string_equal(mxg_conf_get(mxg_conf_sec_at(c, 0), "top"), "1");
	s = mxg_conf_find(c, "dataplane", NULL);
	assert_non_null(s);
	assert_string_equal(mxg_conf_get(s, "idle"), "adaptive");
	assert_null(mxg_conf_get(s, "absent"));
	s = mxg_conf_find(c, "port", "mxg0");
	assert_non_null(s);
	assert_string_equal(mxg_conf_sec_arg(s), "mxg0");
	assert_string_equal(mxg_conf_get(s, "devargs"), "iface=a # not a comment ");
	assert_string_equal(mxg_conf_get(s, "empty"), "");
	assert_null(mxg_conf_find(c, "port", "other"));
	mxg_conf_free(c);
}

static void test_syntax_errors(void **st)
{
	parse_err("[dataplane\n", MXG_E_INVAL, "t.conf:1: malformed section header");
	parse_err("\n\njunk\n", MXG_E_INVAL, "t.conf:3: expected 'key = value'");
	parse_err("[a]\nk = 1\nk = 2\n", MXG_E_INVAL, "t.conf:3: key 'k' repeated (first at line 2)");
	parse_err("[a]\n[a]\n", MXG_E_INVAL, "t.conf:2: section [a] repeated (first at line 1)");
	parse_err("k = \"open\n", MXG_E_INVAL, "t.conf:1: k: unterminated quoted value");
	parse_err("b@d = 1\n", MXG_E_INVAL, "t.conf:1: bad key name 'b@d'");
}

static void test_nul_and_long_lines(void **st)
{
	static char big[5000];
	struct mxg_conf *c;
	char err[256];

	memset(big, 'a', sizeof(big) - 1);
	assert_int_equal(mxg_conf_parse(big, strlen(big), "t.conf", &c, err, sizeof(err)),
			 MXG_E_RANGE);
	assert_string_equal(err, "t.conf:1: line longer than 4096 bytes");
	assert_int_equal(mxg_conf_parse("k = a\0b\n", 8, "t.conf", &c, err, sizeof(err)),
			 MXG_E_INVAL);
	assert_string_equal(err, "t.conf:1: NUL byte in line");
}

static void test_typed_getters(void **st)
{
	struct mxg_conf *c = parse_ok("[s]\nn = 42\nhex = 0x10\nneg = -1\nbig = 99\n"
				      "b = Yes\nbad = maybe\ne = busy\nf = fast\n");
	struct mxg_conf_sec *s = mxg_conf_find(c, "s", "");
	static const char *const modes[] = {"adaptive", "busy", NULL};
	char err[256];
	uint64_t v;
	bool b;
	int e;

	assert_int_equal(mxg_conf_get_u64(s, "n", 7, 0, 100, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mxg_conf_get_u64(s, "hex", 0, 0, 100, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 16);
	assert_int_equal(mxg_conf_get_u64(s, "absent", 7, 0, 100, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 7);
	assert_int_equal(mxg_conf_get_u64(s, "neg", 0, 0, 100, &v, err, sizeof(err)), MXG_E_INVAL);
	assert_string_equal(err, "t.conf:4: neg: '-1' is not a number");
	assert_int_equal(mxg_conf_get_u64(s, "big", 0, 0, 50, &v, err, sizeof(err)), MXG_E_RANGE);
	assert_string_equal(err, "t.conf:5: big: 99 is outside 0..50");
	assert_int_equal(mxg_conf_get_bool(s, "b", false, &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(mxg_conf_get_bool(s, "bad", false, &b, err, sizeof(err)), MXG_E_INVAL);
	assert_string_equal(err, "t.conf:7: bad: 'maybe' is not yes/no");
	assert_int_equal(mxg_conf_get_enum(s, "e", modes, 0, &e, err, sizeof(err)), 0);
	assert_int_equal(e, 1);
	assert_int_equal(mxg_conf_get_enum(s, "f", modes, 0, &e, err, sizeof(err)), MXG_E_INVAL);
	assert_string_equal(err, "t.conf:9: f: 'fast' is not one of: adaptive, busy");
	mxg_conf_free(c);
}

static void test_unused_keys(void **st)
{
	struct mxg_conf *c = parse_ok("[dataplane]\nidle = busy\nidel = busy\n[smtp]\nx = 1\n");
	struct mxg_conf_sec *s = mxg_conf_find(c, "dataplane", "");
	static const char *const mine[] = {"dataplane", NULL};
	char err[256];

	assert_string_equal(mxg_conf_get(s, "idle"), "busy");
	assert_int_equal(mxg_conf_check_unused(c, mine, err, sizeof(err)), MXG_E_INVAL);
	assert_string_equal(err, "t.conf:3: idel: unknown key in [dataplane]");
	mxg_conf_get(s, "idel");
	/* [smtp] belongs to another process: not ours to judge. */
	assert_int_equal(mxg_conf_check_unused(c, mine, err, sizeof(err)), 0);
	assert_int_equal(mxg_conf_check_unused(c, NULL, err, sizeof(err)), MXG_E_INVAL);
	assert_string_equal(err, "t.conf:5: x: unknown key in [smtp]");
	mxg_conf_free(c);
}

static void test_load_missing_file(void **st)
{
	struct mxg_conf *c;
	char err[256];

	assert_int_equal(mxg_conf_load("/nonexistent/mxgate.conf", &c, err, sizeof(err)), MXG_E_IO);
	assert_string_equal(err, "/nonexistent/mxgate.conf: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_and_values),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_typed_getters),
		cmocka_unit_test(test_unused_keys),
		cmocka_unit_test(test_load_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
