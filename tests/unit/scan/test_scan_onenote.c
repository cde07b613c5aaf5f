/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_onenote.c - OneNote sections through scan_archive_expand():
 * FileDataStoreObjects built here (both paddings writers use, garbage in
 * the padding), a header GUID without its footer, a length beyond the
 * file, every truncation.
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

static const char file_type[] = "\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3";
static const char hdr_guid[] = "\xe7\x16\xe3\xbd\x65\x26\x11\x45\xa4\xc4\x8d\x4d\x0b\x7a\x9e\xac";
static const char foot_guid[] = "\x22\xa7\xfb\x71\x79\x0f\x0b\x4a\xbb\x13\x89\x92\x56\x42\x6b\x24";

/* A FileDataStoreObject holding |d|, |pad| padding bytes of 0xcc. */
static void fdso(struct sbuf *b, const char *d, uint64_t len, size_t pad)
{
	uint8_t l[8];

	for (int k = 0; k < 8; k++)
		l[k] = (uint8_t)(len >> (8 * k));
	sbuf_add(b, hdr_guid, 16);
	sbuf_add(b, l, 8);
	sbuf_add(b, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	sbuf_add(b, d, strlen(d));
	for (size_t i = 0; i < pad; i++)
		sbuf_add(b, "\xcc", 1);
	sbuf_add(b, foot_guid, 16);
}

struct got {
	struct sbuf list;
	unsigned begins, ends;
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
	sbuf_add(&((struct got *)ud)->list, p, n);
	return 0;
}

static int on_end(const struct scan_archive_member *m, void *ud)
{
	((struct got *)ud)->ends++;
	sbuf_printf(&((struct got *)ud)->list, "\n");
	return 0;
}

static const struct scan_archive_callbacks cbs = { on_begin, on_data, on_end };

static void expand(const void *p, size_t n, struct got *g, struct scan_archive_result *res)
{
	struct scan_archive *a = scan_archive_new(NULL, NULL);

	assert_non_null(a);
	memset(g, 0, sizeof(*g));
	sbuf_printf(&g->list, "%s", "");
	assert_int_equal(scan_archive_expand(a, p, n, "notes.one", &cbs, g, res), 0);
	assert_int_equal(g->begins, g->ends);
	scan_archive_free(a);
}

static void section(struct sbuf *b)
{
	sbuf_add(b, file_type, 16);
	sbuf_add(b, "revision store bytes....", 24);
	fdso(b, "first embedded file", 19, 5);  /* aligned after 19 */
	sbuf_add(b, "more nodes", 10);
	fdso(b, "eight by", 8, 8);              /* 2007: 8 more after aligned data */
	fdso(b, "x", 1, 0);                     /* footer right after the data */
}

static void test_onenote_files(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct got g;

	section(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	expand(b.p, b.n, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "onenote");
	assert_string_equal(g.list.p, "file1:first embedded file\nfile2:eight by\nfile3:x\n");
	sbuf_free(&g.list);
	sbuf_free(&b);
}

static void test_onenote_malformed(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct got g;

	/* padding of 9: no footer where it may be; the next object is read */
	sbuf_add(&b, file_type, 16);
	fdso(&b, "lost", 4, 9);
	fdso(&b, "kept", 4, 4);
	expand(b.p, b.n, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "onenote: file data without its footer");
	assert_string_equal(g.list.p, "file1:kept\n");
	sbuf_free(&g.list);
	sbuf_free(&b);
	/* a length past the end */
	sbuf_add(&b, file_type, 16);
	fdso(&b, "short", 1u << 30, 0);
	expand(b.p, b.n, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "onenote: file data longer than the file");
	assert_int_equal(g.begins, 0);
	sbuf_free(&g.list);
	sbuf_free(&b);
}

static void test_onenote_truncations(void **state)
{
	struct sbuf b = { 0 };

	section(&b);
	for (size_t k = 16; k < b.n; k++) {
		struct scan_archive_result res;
		struct got g;

		expand(b.p, k, &g, &res);
		assert_true(g.begins <= 3);
		sbuf_free(&g.list);
	}
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_onenote_files),
		cmocka_unit_test(test_onenote_malformed),
		cmocka_unit_test(test_onenote_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
