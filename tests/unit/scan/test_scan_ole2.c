/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_ole2.c - OLE2 compound files through scan_archive_expand(): a
 * file built here (FAT, directory, mini FAT and mini stream, a big stream,
 * an Ole10Native package), then damaged: bad header, a directory chain
 * that loops,
 * a sector beyond the file, a package that lies about its size; a
 * PowerPoint stream with a compressed embedded object; every truncation.
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

#define SS 512
#define END 0xfffffffeu

static uint8_t *sect(uint8_t *f, int s)
{
	return f + (size_t)(s + 1) * SS;
}

static void dirent(uint8_t *d, const char *name, uint8_t type, uint32_t start, uint32_t size)
{
	size_t i, n = strlen(name);

	for (i = 0; i < n; i++)
		d[2 * i] = (uint8_t)name[i];
	d[0x40] = (uint8_t)(2 * n + 2);
	d[0x42] = type;
	put_le32(d + 0x44, 0xffffffffu);
	put_le32(d + 0x48, 0xffffffffu);
	put_le32(d + 0x4c, 0xffffffffu);
	put_le32(d + 0x74, start);
	put_le32(d + 0x78, size);
}

/* Package native data (Ole10Native) holding |file| as |label|. */
static size_t native(uint8_t *o, const char *label, const char *file, uint32_t fsize)
{
	size_t n = 4;

	o[n++] = 2;
	o[n++] = 0;
	memcpy(o + n, label, strlen(label) + 1);
	n += strlen(label) + 1;
	memcpy(o + n, "C:\\x\0", 5);
	n += 5;
	memcpy(o + n, "\0\0\3\0", 4);
	n += 4;
	put_le32(o + n, 4);
	memcpy(o + n + 4, "C:\\t", 4);
	n += 8;
	put_le32(o + n, fsize);
	n += 4;
	memcpy(o + n, file, strlen(file));
	n += strlen(file);
	put_le32(o, (uint32_t)(n - 4));
	return n;
}

/* Sectors: 0 FAT, 1 directory, 2 mini FAT, 3 mini stream, 4..11 the big
 * stream |big| ("Big" when NULL: the alphabet; else |bd|, |bn| <= 4096
 * bytes, zero-padded to 4096). */
static uint8_t *build_ex(size_t *len, uint32_t fsize_lie, const char *big, const void *bd,
			 size_t bn)
{
	size_t n = 13 * SS, nn;
	uint8_t *f = calloc(1, n), *fat, *mf;
	uint32_t k;

	assert_non_null(f);
	memcpy(f, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
	f[0x18] = 0x3e;
	f[0x1a] = 3;
	f[0x1c] = 0xfe;
	f[0x1d] = 0xff;
	f[0x1e] = 9;
	f[0x20] = 6;
	put_le32(f + 0x2c, 1);
	put_le32(f + 0x30, 1);
	put_le32(f + 0x38, 4096);
	put_le32(f + 0x3c, 2);
	put_le32(f + 0x40, 1);
	put_le32(f + 0x44, END);
	for (k = 0; k < 109; k++)
		put_le32(f + 0x4c + 4 * k, k == 0 ? 0 : 0xffffffffu);
	fat = sect(f, 0);
	for (k = 0; k < 128; k++)
		put_le32(fat + 4 * k, 0xffffffffu);
	put_le32(fat + 0, 0xfffffffdu);
	put_le32(fat + 4, END);
	put_le32(fat + 8, END);
	put_le32(fat + 12, END);
	for (k = 4; k < 11; k++)
		put_le32(fat + 4 * k, k + 1);
	put_le32(fat + 44, END);
	nn = native(sect(f, 3), "evil.exe", "MZ evil pay", fsize_lie ? fsize_lie : 11);
	mf = sect(f, 2);
	for (k = 0; k < 128; k++)
		put_le32(mf + 4 * k, 0xffffffffu);
	for (k = 0; k * 64 < nn; k++)
		put_le32(mf + 4 * k, (k + 1) * 64 < nn ? k + 1 : END);
	dirent(sect(f, 1), "Root Entry", 5, 3, 512);
	dirent(sect(f, 1) + 128, "\001Ole10Native", 2, 0, (uint32_t)nn);
	dirent(sect(f, 1) + 256, big ? big : "Big", 2, 4, 4096);
	for (k = 0; k < 4096; k++)
		sect(f, 4)[k] = (uint8_t)('a' + k % 26);
	if (big) {
		memset(sect(f, 4), 0, 4096);
		memcpy(sect(f, 4), bd, bn);
	}
	*len = n;
	return f;
}

static uint8_t *build(size_t *len, uint32_t fsize_lie)
{
	return build_ex(len, fsize_lie, NULL, NULL, 0);
}

/* A kept member |name| declaring |declared| bytes whose data begins with
 * |head|; returns its index. */
static int member(const struct arch_members *g, const char *name, int64_t declared,
		  const char *head)
{
	int i = members_find(g, name);
	size_t n = strlen(head);

	assert_true(i >= 0);
	assert_int_equal(g->m[i].declared, declared);
	assert_true(g->m[i].data.n >= n);
	assert_memory_equal(g->m[i].data.p, head, n);
	return i;
}

static void test_ole2_streams(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	size_t n;
	uint8_t *f = build(&n, 0);
	int i;

	assert_true(scan_archive_sniff(f, n));
	members_expand(f, n, "doc.doc", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "ole2");
	/* the package's file first, then its stream; the 4096-byte stream
	 * pushed sector by sector (12 bytes of each recorded) */
	i = member(&g, "evil.exe", 11, "MZ evil pay");
	assert_int_equal(g.m[i].data.n, 11);
	assert_string_equal(g.m[i + 1].name, "_Ole10Native");
	assert_true(member(&g, "Big", 4096, "abcdefghijkl") > 0);
	assert_int_equal(g.begins, 3);
	members_free(&g);
	free(f);
}

static void check(uint8_t *f, size_t n, const char *err)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(f, n, "doc.doc", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, err);
	members_free(&g);
	free(f);
}

static void test_ole2_malformed(void **state)
{
	size_t n;
	uint8_t *f;

	f = build(&n, 0);
	f[0x1e] = 10;
	check(f, n, "ole2: bad header");
	f = build(&n, 0);
	put_le32(sect(f, 0) + 4 * 1, 1); /* the directory sector chains to itself */
	check(f, n, "ole2: chain loops or ends early");
	f = build(&n, 0);
	put_le32(sect(f, 1) + 256 + 0x74, 999);
	check(f, n, "ole2: sector out of range");
	f = build(&n, 100000);
	check(f, n, "ole2: package header damaged");
}

/* A presentation whose ExOleObjStg record holds the compound file above,
 * zlib-compressed: the record is inflated and read as OLE2 again. */
static void test_ole2_powerpoint(void **state)
{
	struct scan_archive_result res;
	uint8_t rec[4096] = { 0 }, *inner, *f;
	uLongf zn = sizeof(rec) - 24;
	size_t in, n;
	struct arch_members g;

	inner = build(&in, 0);
	assert_int_equal(compress2(rec + 20, &zn, inner, in, 9), Z_OK);
	free(inner);
	rec[0] = 0x0f;                       /* container, DocumentContainer */
	rec[2] = 0xe8;
	rec[3] = 0x03;
	put_le32(rec + 4, (uint32_t)(12 + zn));
	rec[8] = 0x10;                       /* instance 1: compressed */
	rec[10] = 0x11;                      /* ExOleObjStg */
	rec[11] = 0x10;
	put_le32(rec + 12, (uint32_t)(4 + zn));
	put_le32(rec + 16, (uint32_t)in);
	f = build_ex(&n, 0, "PowerPoint Document", rec, sizeof(rec));
	members_expand(f, n, "doc.doc", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_true(member(&g, "oleobject1", -1, "") > 0);
	/* the package inside the embedded object, one level deeper */
	assert_int_equal(res.max_depth, 2);
	assert_int_equal(g.m[member(&g, "evil.exe", 11, "MZ evil pay")].data.n, 11);
	members_free(&g);
	/* a damaged compressed object */
	rec[30] ^= 0xff;
	rec[31] ^= 0xff;
	rec[32] ^= 0xff;
	memcpy(f + 5 * SS, rec, sizeof(rec));
	members_expand(f, n, "doc.doc", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	members_free(&g);
	free(f);
}

static void test_ole2_truncations(void **state)
{
	size_t n;
	uint8_t *f = build(&n, 0);

	for (size_t k = 8; k < n; k += 7) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(f, k, "doc.doc", NULL, &g, &res);
		assert_true(g.begins <= 3);
		members_free(&g);
	}
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ole2_streams),
		cmocka_unit_test(test_ole2_malformed),
		cmocka_unit_test(test_ole2_powerpoint),
		cmocka_unit_test(test_ole2_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
