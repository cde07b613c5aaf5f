/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_pdf.c - PDF streams through scan_archive_expand(): an
 * uncompressed embedded file, a FlateDecode one with an indirect /Length,
 * a wrong /Length, streams that are not delivered (images, content),
 * damaged and unterminated streams with their precise errors, an
 * encrypted document, a deflate bomb cut by the member limit, every
 * truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "scan_archive.h"
#include "scan_test.h"

/* Appends object |num| with dictionary |dict| and stream bytes |d|. */
static void obj(struct sbuf *b, int num, const char *dict, const void *d, size_t n)
{
	sbuf_printf(b, "%d 0 obj\r\n<< %s >>\r\nstream\r\n", num, dict);
	sbuf_add(b, d, n);
	sbuf_printf(b, "\r\nendstream\r\nendobj\r\n");
}

static size_t deflate_buf(const char *in, size_t n, uint8_t *out, size_t cap)
{
	uLongf ol = cap;

	assert_int_equal(compress2(out, &ol, (const Bytef *)in, n, 9), Z_OK);
	return ol;
}

static void sample(struct sbuf *b)
{
	static const char js[] = "app.alert('compressed embedded file');";
	uint8_t z[256];
	size_t zn = deflate_buf(js, sizeof(js) - 1, z, sizeof(z));
	char dict[128];

	sbuf_printf(b, "%%PDF-1.4\r\n%%\xe2\xe3\xcf\xd3\r\n");
	obj(b, 1, "/Length 5", "BT ET", 5);                           /* content: not delivered */
	obj(b, 2, "/Type /EmbeddedFile /Length 12", "MZ raw bytes", 12);
	obj(b, 3, "/Length 9 0 R /Filter /FlateDecode /Type /EmbeddedFile", z, zn);
	snprintf(dict, sizeof(dict), "/Length 999 /Filter [/FlateDecode]");
	obj(b, 4, dict, z, zn);                                        /* wrong length */
	obj(b, 5, "/Subtype /Image /Filter /DCTDecode /Length 4", "\xff\xd8\xff\xe0", 4);
	sbuf_printf(b, "trailer\r\n<< /Root 1 0 R >>\r\n%%%%EOF\r\n");
}

static void test_pdf_streams(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	sample(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	members_expand(b.p, b.n, "doc.pdf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "pdf");
	assert_null(res.error);
	assert_int_equal(g.begins, 3);
	assert_true(members_is(&g, 0, "embedded2", "MZ raw bytes", 12));
	assert_true(members_is(&g, 1, "embedded3", "app.alert('compressed embedded file');", 38));
	assert_true(members_is(&g, 2, "stream4", "app.alert('compressed embedded file');", 38));
	members_free(&g);
	/* encrypted: nothing can be inflated, nothing is claimed */
	sbuf_printf(&b, "<< /Encrypt 9 0 R >>\r\n");
	members_expand(b.p, b.n, "doc.pdf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.begins, 0);
	members_free(&g);
	sbuf_free(&b);
}

static void test_pdf_malformed(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	sbuf_printf(&b, "%%PDF-1.4\r\n");
	obj(&b, 1, "/Filter /FlateDecode /Length 8", "\x78\x9c\xff\xff\xff\xff\xff\xff", 8);
	members_expand(b.p, b.n, "doc.pdf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "pdf: damaged FlateDecode stream");
	members_free(&g);
	sbuf_free(&b);
	sbuf_printf(&b, "%%PDF-1.4\r\n1 0 obj << /Type /EmbeddedFile >> stream\r\nMZ cut off");
	members_expand(b.p, b.n, "doc.pdf", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "pdf: stream without endstream");
	assert_int_equal(g.begins, 1); /* still scanned */
	assert_true(members_is(&g, 0, "embedded1", "MZ cut off", 10));
	members_free(&g);
	sbuf_free(&b);
}

/* 64 MiB of zeros deflated (about 64 KiB): cut at the member limit. */
static void test_pdf_bomb(void **state)
{
	struct scan_archive_limits lim;
	struct sbuf b = { 0 };
	size_t zn = 1u << 20, n = 64u << 20;
	uint8_t *z = malloc(zn);
	char *zeros = calloc(1, n);

	assert_non_null(z);
	assert_non_null(zeros);
	zn = deflate_buf(zeros, n, z, zn);
	free(zeros);
	sbuf_printf(&b, "%%PDF-1.4\r\n");
	obj(&b, 1, "/Filter /FlateDecode", z, zn);
	free(z);
	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 4u << 20;
	members_cut(b.p, b.n, "doc.pdf", &lim);
	sbuf_free(&b);
}

static void test_pdf_truncations(void **state)
{
	struct sbuf b = { 0 };

	sample(&b);
	for (size_t k = 5; k < b.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(b.p, k, "doc.pdf", NULL, &g, &res);
		assert_true(g.begins <= 3);
		members_free(&g);
	}
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pdf_streams),
		cmocka_unit_test(test_pdf_malformed),
		cmocka_unit_test(test_pdf_bomb),
		cmocka_unit_test(test_pdf_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
