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

struct got {
	struct sbuf list;
	unsigned begins, ends;
	uint64_t bytes;
};

static int on_begin(const struct scan_archive_member *m, void *ud)
{
	struct got *g = ud;

	g->begins++;
	sbuf_printf(&g->list, "%s:", m->name);
	return 0;
}

static int on_data(const struct scan_archive_member *m, const uint8_t *p, size_t n, void *ud)
{
	struct got *g = ud;

	g->bytes += n;
	if (g->list.n < 4096)
		sbuf_add(&g->list, p, n < 64 ? n : 64);
	return 0;
}

static int on_end(const struct scan_archive_member *m, void *ud)
{
	((struct got *)ud)->ends++;
	sbuf_printf(&((struct got *)ud)->list, "\n");
	return 0;
}

static const struct scan_archive_callbacks cbs = { on_begin, on_data, on_end };

static void expand(const void *p, size_t n, const struct scan_archive_limits *lim, struct got *g,
		   struct scan_archive_result *res)
{
	struct scan_archive *a = scan_archive_new(NULL, lim);

	assert_non_null(a);
	memset(g, 0, sizeof(*g));
	sbuf_printf(&g->list, "%s", "");
	assert_int_equal(scan_archive_expand(a, p, n, "doc.pdf", &cbs, g, res), 0);
	assert_int_equal(g->begins, g->ends);
	scan_archive_free(a);
}

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
	struct got g;

	sample(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	expand(b.p, b.n, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "pdf");
	assert_null(res.error);
	assert_string_equal(g.list.p, "embedded2:MZ raw bytes\n"
				      "embedded3:app.alert('compressed embedded file');\n"
				      "stream4:app.alert('compressed embedded file');\n");
	sbuf_free(&g.list);
	/* encrypted: nothing can be inflated, nothing is claimed */
	sbuf_printf(&b, "<< /Encrypt 9 0 R >>\r\n");
	expand(b.p, b.n, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.begins, 0);
	sbuf_free(&g.list);
	sbuf_free(&b);
}

static void test_pdf_malformed(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct got g;

	sbuf_printf(&b, "%%PDF-1.4\r\n");
	obj(&b, 1, "/Filter /FlateDecode /Length 8", "\x78\x9c\xff\xff\xff\xff\xff\xff", 8);
	expand(b.p, b.n, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "pdf: damaged FlateDecode stream");
	sbuf_free(&g.list);
	sbuf_free(&b);
	sbuf_printf(&b, "%%PDF-1.4\r\n1 0 obj << /Type /EmbeddedFile >> stream\r\nMZ cut off");
	expand(b.p, b.n, NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "pdf: stream without endstream");
	assert_string_equal(g.list.p, "embedded1:MZ cut off\n"); /* still scanned */
	sbuf_free(&g.list);
	sbuf_free(&b);
}

/* 64 MiB of zeros deflated (about 64 KiB): cut at the member limit. */
static void test_pdf_bomb(void **state)
{
	struct scan_archive_limits lim;
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	size_t zn = 1u << 20, n = 64u << 20;
	uint8_t *z = malloc(zn);
	char *zeros = calloc(1, n);
	struct got g;

	assert_non_null(z);
	assert_non_null(zeros);
	zn = deflate_buf(zeros, n, z, zn);
	free(zeros);
	sbuf_printf(&b, "%%PDF-1.4\r\n");
	obj(&b, 1, "/Filter /FlateDecode", z, zn);
	free(z);
	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 4u << 20;
	expand(b.p, b.n, &lim, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_BOMB);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_MEMBER_BYTES);
	assert_int_equal(g.bytes, 4u << 20);
	sbuf_free(&g.list);
	sbuf_free(&b);
}

static void test_pdf_truncations(void **state)
{
	struct sbuf b = { 0 };

	sample(&b);
	for (size_t k = 5; k < b.n; k++) {
		struct scan_archive_result res;
		struct got g;

		expand(b.p, k, NULL, &g, &res);
		assert_true(g.begins <= 3);
		sbuf_free(&g.list);
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
