/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_rtf.c - RTF \objdata through scan_archive_expand(): a Package
 * object's file, hex padded the way droppers pad it (line ends, control
 * words, nested groups, junk), another class's native data, malformed
 * objects with their precise errors, every truncation.
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

static void hex(struct sbuf *b, const void *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sbuf_printf(b, "%02x", ((const uint8_t *)d)[i]);
}

static void hex32(struct sbuf *b, uint32_t v)
{
	uint8_t l[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	hex(b, l, 4);
}

static void lenstr(struct sbuf *b, const char *s)
{
	hex32(b, (uint32_t)strlen(s) + 1);
	hex(b, s, strlen(s) + 1);
}

/* OLE1 header of class |cls| with |nsize| bytes of native data (hex). */
static void ole1(struct sbuf *b, const char *cls, uint32_t nsize)
{
	hex32(b, 0x0501);
	hex32(b, 2);
	lenstr(b, cls);
	hex32(b, 0);
	hex32(b, 0);
	hex32(b, nsize);
}

/* A Package holding |file|, the hex of it split by |junk| every 7 digits. */
static void package_rtf(struct sbuf *out, const char *label, const char *file, const char *junk)
{
	struct sbuf nat = { 0 }, obj = { 0 };

	hex(&nat, "\x02\x00", 2);
	hex(&nat, label, strlen(label) + 1);
	hex(&nat, "C:\\tmp\\x", 9);
	hex(&nat, "\x00\x00\x03\x00", 4);
	hex32(&nat, 6);
	hex(&nat, "C:\\t\\x", 6);
	hex32(&nat, (uint32_t)strlen(file));
	hex(&nat, file, strlen(file));
	ole1(&obj, "Package", (uint32_t)nat.n / 2);
	sbuf_add(&obj, nat.p, nat.n);
	sbuf_printf(out, "{\\rtf1\\ansi {\\object\\objemb{\\*\\objclass Package}{\\*\\objdata ");
	for (size_t i = 0; i < obj.n; i += 7) {
		sbuf_add(out, obj.p + i, obj.n - i < 7 ? obj.n - i : 7);
		sbuf_printf(out, "%s", junk);
	}
	sbuf_printf(out, "}}}\r\n");
	sbuf_free(&nat);
	sbuf_free(&obj);
}

static void test_rtf_package(void **state)
{
	static const char *const junks[] = { "", "\r\n", " ", "\\par ", "{\\*\\foo 4142}",
					     "\\bin0 ", "zz" };
	struct scan_archive_result res;
	struct arch_members g;

	for (size_t j = 0; j < sizeof(junks) / sizeof(junks[0]); j++) {
		struct sbuf b = { 0 };

		package_rtf(&b, "invoice.exe", "MZ payload bytes", junks[j]);
		assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
		members_expand(b.p, b.n, "doc.rtf", NULL, &g, &res);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
		assert_string_equal(res.format, "rtf");
		assert_string_equal(members_list(&g, "\n"), "invoice.exe:MZ payload bytes\n");
		members_free(&g);
		sbuf_free(&b);
	}
}

static void test_rtf_native(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	sbuf_printf(&b, "{\\rtf1{\\object{\\*\\objdata ");
	ole1(&b, "Word.Document.8", 5);
	hex(&b, "\xd0\xcf\x11\xe0!", 5);
	sbuf_printf(&b, "}}}");
	members_expand(b.p, b.n, "doc.rtf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(members_list(&g, "\n"), "object1.Word.Document.8:\xd0\xcf\x11\xe0!\n");
	members_free(&g);
	sbuf_free(&b);
}

static void check(const char *body, const char *err, unsigned members)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	sbuf_printf(&b, "{\\rtf1{\\object{\\*\\objdata %s}}}", body);
	members_expand(b.p, b.n, "doc.rtf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, err);
	assert_int_equal(g.begins, members);
	members_free(&g);
	sbuf_free(&b);
}

static void test_rtf_malformed(void **state)
{
	check("0105000007000000", "rtf: objdata is not an OLE1 object", 0);
	check("0105000002000000ffffff7f41", "rtf: OLE1 name longer than the data", 0);
	/* class "X", native size 100 with 2 bytes: delivered, flagged */
	check("01050000020000000200000058000000000000000000640000004142",
	      "rtf: native data longer than the objdata", 1);
	/* a Package whose label never ends */
	check("0105000002000000080000005061636b616765000000000000000000"
	      "100000000200414141414141", "rtf: package header damaged", 0);
}

static void test_rtf_truncations(void **state)
{
	struct sbuf b = { 0 };

	package_rtf(&b, "a.exe", "MZ payload bytes", "\r\n");
	for (size_t k = 5; k < b.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(b.p, k, "doc.rtf", NULL, &g, &res);
		assert_true(g.begins <= 1);
		members_free(&g);
	}
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtf_package),
		cmocka_unit_test(test_rtf_native),
		cmocka_unit_test(test_rtf_malformed),
		cmocka_unit_test(test_rtf_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
