/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_onenote.c - OneNote sections through scan_archive_expand():
 * FileDataStoreObjects built here (both paddings writers use, garbage in
 * the padding), a header GUID without its footer, a length beyond the
 * file, every truncation; web exports (FSSHTTPB Object Data BLOBs, both
 * length forms), malformed blobs, truncations and bit flips.
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

#define SOH_TYPE 0x02u /* Object Data BLOB */

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
	struct arch_members g;

	section(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "onenote");
	assert_string_equal(members_list(&g, "\n"),
			    "file1:first embedded file\nfile2:eight by\nfile3:x\n");
	members_free(&g);
	sbuf_free(&b);
}

static void test_onenote_malformed(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	/* padding of 9: no footer where it may be; the next object is read */
	sbuf_add(&b, file_type, 16);
	fdso(&b, "lost", 4, 9);
	fdso(&b, "kept", 4, 4);
	members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "onenote: file data without its footer");
	assert_string_equal(members_list(&g, "\n"), "file1:kept\n");
	members_free(&g);
	sbuf_free(&b);
	/* a length past the end */
	sbuf_add(&b, file_type, 16);
	fdso(&b, "short", 1u << 30, 0);
	members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "onenote: file data longer than the file");
	assert_int_equal(g.begins, 0);
	members_free(&g);
	sbuf_free(&b);
}

static void test_onenote_truncations(void **state)
{
	struct sbuf b = { 0 };

	section(&b);
	for (size_t k = 16; k < b.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(b.p, k, "notes.one", NULL, &g, &res);
		assert_true(g.begins <= 3);
		members_free(&g);
	}
	sbuf_free(&b);
}

/* Web export ([MS-ONESTORE] 2.8, FSSHTTPB): Object Data BLOB stream
 * objects, 32-bit header, compact lengths of every width. */
static const char file_format[] =
	"\x2f\xe9\x8d\x63\xd4\xa6\xc1\x4b\x9a\x36\xb3\xfc\x25\x11\xa5\xb7";

static void compact(struct sbuf *b, uint64_t v, int wide)
{
	uint8_t x[9];

	if (wide) { /* the 9-byte form */
		x[0] = 0x80;
		for (int k = 0; k < 8; k++)
			x[1 + k] = (uint8_t)(v >> (8 * k));
		sbuf_add(b, x, 9);
	} else if (v < 128) {
		x[0] = (uint8_t)(v << 1 | 1);
		sbuf_add(b, x, 1);
	} else { /* 14 bits */
		uint16_t w = (uint16_t)(v << 2 | 2);

		x[0] = (uint8_t)w;
		x[1] = (uint8_t)(w >> 8);
		sbuf_add(b, x, 2);
	}
}

/* An Object Data BLOB holding |d|; |big| puts the length after the
 * header (32767) and the item length in the 9-byte form. */
static void blob(struct sbuf *b, const char *d, int big)
{
	size_t n = strlen(d), cl = big ? 9 : n < 128 ? 1 : 2;
	uint32_t h = 2u | SOH_TYPE << 3;
	uint8_t x[4];

	h |= (uint32_t)(big ? 32767 : cl + n) << 17;
	for (int k = 0; k < 4; k++)
		x[k] = (uint8_t)(h >> (8 * k));
	sbuf_add(b, x, 4);
	if (big)
		compact(b, cl + n, 0);
	compact(b, n, big);
	sbuf_add(b, d, n);
}

static void web_export(struct sbuf *b)
{
	sbuf_add(b, file_type, 16);
	sbuf_add(b, "guidFile........", 16);
	sbuf_add(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	sbuf_add(b, file_format, 16);
	sbuf_add(b, "storage index, cells", 20);
	blob(b, "first blob", 0);
	sbuf_add(b, "\x12\x00\x44\x04", 4); /* a header whose length runs past the end... */
	sbuf_add(b, "object group", 12);     /* ...is no blob */
	blob(b, "second blob, its length after the header", 1);
	blob(b, "0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789", 0);
}

static void test_onenote_web_export(void **state)
{
	struct scan_archive_result res;
	struct sbuf b = { 0 };
	struct arch_members g;

	web_export(&b);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, b.n));
	members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "onenote");
	assert_string_equal(members_list(&g, "\n"),
			    "blob1:first blob\nblob2:second blob, its length after the header\n"
			    "blob3:0123456789012345678901234567890123456789012345678901234567890123456789"
			    "0123456789012345678901234567890123456789012345678901234567890123456789\n");
	members_free(&g);
	sbuf_free(&b);
}

/* Malformed blobs are skipped: lengths that disagree, an item longer
 * than its object, a zero-length item, a compound header, lengths past
 * the end; every truncation and every byte of a blob's header flipped. */
static void test_onenote_web_malformed(void **state)
{
#define C(s, w) { s, sizeof(s) - 1, w }
	static const struct {
		const char *d;
		size_t n;
		unsigned want;
	} cases[] = {
		C("\x12\x00\x0a\x00\x09" "abcd", 1),  /* valid: object 5 = item 1 + 4 */
		C("\x12\x00\x0c\x00\x09" "abcdx", 0), /* object 6, item 1 + 4 */
		C("\x12\x00\x08\x00\x0b" "abc", 0),   /* item 5 in an object of 4 */
		C("\x12\x00\x02\x00\x01", 0),         /* item of 0 bytes */
		C("\x16\x00\x0a\x00\x09" "abcd", 0),  /* compound */
		C("\x1a\x00\x0a\x00\x09" "abcd", 0),  /* type 3 */
		C("\x12\x00\xfe\xff\x80\x01\x00", 0), /* 32767, 9-byte length cut */
		C("\x12\x00\xfe\xff\x0f", 0),         /* 32767, length 7 past the end */
		C("\x12\x00\x0a\x00\x09" "ab", 0),    /* object past the end */
	};
#undef C
	struct sbuf b = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scan_archive_result res;
		struct arch_members g;

		sbuf_add(&b, file_type, 16);
		sbuf_add(&b, "guidFile........................", 32);
		sbuf_add(&b, file_format, 16);
		sbuf_add(&b, cases[i].d, cases[i].n);
		members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
		if (g.begins != cases[i].want)
			fail_msg("case %zu: %u blobs: %s", i, g.begins, members_list(&g, "\n"));
		if (cases[i].want)
			assert_string_equal(members_list(&g, "\n"), "blob1:abcd\n");
		members_free(&g);
		sbuf_free(&b);
	}
	web_export(&b);
	for (size_t k = 16; k < b.n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(b.p, k, "notes.one", NULL, &g, &res);
		assert_true(g.begins <= 3);
		members_free(&g);
	}
	for (size_t k = 84; k < 84 + 4 + 2; k++) {
		for (int bit = 0; bit < 8; bit++) {
			struct scan_archive_result res;
			struct arch_members g;

			b.p[k] ^= (char)(1 << bit);
			members_expand(b.p, b.n, "notes.one", NULL, &g, &res);
			assert_true(g.begins <= 4);
			members_free(&g);
			b.p[k] ^= (char)(1 << bit);
		}
	}
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_onenote_files),
		cmocka_unit_test(test_onenote_malformed),
		cmocka_unit_test(test_onenote_truncations),
		cmocka_unit_test(test_onenote_web_export),
		cmocka_unit_test(test_onenote_web_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
