/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_arj.c - ARJ archives through scan_archive_expand(): stored
 * members (names with DOS separators, directories skipped), the "fastest"
 * method 4 and the Huffman methods 1-3 (single-symbol codes built here;
 * real codes from the ClamAV sample clam.arj when the corpus is present),
 * the per-file CRC, garbled (encrypted) and multi-volume files, every
 * malformed header with its error, every truncation and the member limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zlib.h>

#include "scan_archive.h"
#include "scan_test.h"


static uint32_t crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

/* A header (main when |type| is 2) at |out|: fixed part of 30 bytes, the
 * name, an empty comment, the CRC, no extended header. Returns its size. */
static size_t header(uint8_t *out, uint8_t flags, uint8_t method, uint8_t type, uint32_t csize,
		     uint32_t osize, uint32_t fcrc, const char *name)
{
	uint8_t *b = out + 4;
	size_t nl = strlen(name) + 1, size = 30 + nl + 1;

	out[0] = 0x60;
	out[1] = 0xea;
	put_le16(out + 2, (unsigned)size);
	memset(b, 0, 30);
	b[0] = 30;
	b[1] = 11;
	b[2] = 1;
	b[4] = flags;
	b[5] = method;
	b[6] = type;
	put_le32(b + 12, csize);
	put_le32(b + 16, osize);
	put_le32(b + 20, fcrc);
	memcpy(b + 30, name, nl);
	b[30 + nl] = '\0';
	put_le32(b + size, crc(b, size));
	put_le16(b + size + 4, 0);
	return 4 + size + 4 + 2;
}

static size_t main_header(uint8_t *out, uint8_t flags)
{
	return header(out, flags, 0, 2, 0, 0, 0, "t.arj");
}

static size_t end_marker(uint8_t *out)
{
	out[0] = 0x60;
	out[1] = 0xea;
	put_le16(out + 2, 0);
	return 4;
}

/* A stored file |name| holding |s|. */
static size_t stored(uint8_t *out, uint8_t flags, const char *name, const char *s)
{
	size_t l = strlen(s), n = header(out, flags, 0, 0, (uint32_t)l, (uint32_t)l, crc(s, l), name);

	memcpy(out + n, s, l);
	return n + l;
}

static void test_arj_stored(void **state)
{
	struct scan_archive_result res;
	uint8_t buf[512];
	struct arch_members g;
	size_t n = main_header(buf, 0);

	n += header(buf + n, 0, 0, 3, 0, 0, 0, "dir");   /* a directory: no member */
	n += stored(buf + n, 0, "dir\\a.txt", "hello, world");
	n += end_marker(buf + n);
	assert_true(scan_archive_sniff(buf, n));
	members_expand(buf, n, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "arj");
	assert_null(res.error);
	assert_int_equal(g.begins, 1);
	assert_string_equal(g.m[0].name, "dir/a.txt");
	assert_int_equal(g.m[0].data.n, 12);
	assert_memory_equal(g.m[0].data.p, "hello, world", 12);
	members_free(&g);
	/* a bad CRC in the main header: not ARJ at all */
	buf[10] ^= 1;
	assert_false(scan_archive_sniff(buf, n));
}

/* MSB-first bit writer. */
struct bw {
	uint8_t *p;
	size_t n;
	unsigned acc, k;
};

static void bits(struct bw *w, unsigned v, unsigned k)
{
	while (k-- > 0) {
		w->acc = w->acc << 1 | ((v >> k) & 1);
		if (++w->k == 8) {
			w->p[w->n++] = (uint8_t)w->acc;
			w->acc = w->k = 0;
		}
	}
}

static size_t bw_end(struct bw *w)
{
	if (w->k > 0)
		bits(w, 0, 8 - w->k);
	return w->n;
}

/* Method 4 number: unary prefix from |start| to |stop| bits, then value. */
static void fast_num(struct bw *w, unsigned v, unsigned start, unsigned stop)
{
	unsigned width = start, base = 0;

	while (width < stop && v >= base + (1u << width)) {
		base += 1u << width;
		width++;
		bits(w, 1, 1);
	}
	if (width < stop)
		bits(w, 0, 1);
	bits(w, v - base, width);
}

/* "abc", then a match of 6 at distance 3, "!" -> "abcabcabc!". */
static size_t fast_sample(uint8_t *out, uint8_t method_flags)
{
	uint8_t data[32];
	struct bw w = { data, 0, 0, 0 };
	size_t n, dn;
	const char *s = "abcabcabc!";

	for (const char *q = "abc"; *q; q++) {
		fast_num(&w, 0, 0, 7);
		bits(&w, (uint8_t)*q, 8);
	}
	fast_num(&w, 6 - 2, 0, 7);
	fast_num(&w, 3 - 1, 9, 13);
	fast_num(&w, 0, 0, 7);
	bits(&w, '!', 8);
	dn = bw_end(&w);
	n = main_header(out, 0);
	n += header(out + n, method_flags, 4, 0, (uint32_t)dn, 10, crc(s, 10), "f.txt");
	memcpy(out + n, data, dn);
	n += dn;
	return n + end_marker(out + n);
}

static void test_arj_fastest(void **state)
{
	struct scan_archive_result res;
	uint8_t buf[512];
	struct arch_members g;
	size_t n = fast_sample(buf, 0);

	members_expand(buf, n, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.m[0].data.n, 10);
	assert_memory_equal(g.m[0].data.p, "abcabcabc!", 10);
	members_free(&g);
}

/* Method 1, |blocks| blocks of |count| symbols (0: 65536) with
 * single-symbol codes: the literal |lit| (zero bits per symbol). */
static size_t huf_sample(uint8_t *out, unsigned count, uint8_t lit, unsigned blocks)
{
	uint8_t data[64], want[64];
	struct bw w = { data, 0, 0, 0 };
	size_t n, dn;

	for (unsigned b = 0; b < blocks; b++) {
		bits(&w, count, 16);
		bits(&w, 0, 5);  /* code-length code: one symbol ... */
		bits(&w, 3, 5);  /* ... unused */
		bits(&w, 0, 9);  /* literal/length code: one symbol ... */
		bits(&w, lit, 9);
		bits(&w, 0, 5);  /* position code: one symbol */
		bits(&w, 0, 5);
	}
	dn = bw_end(&w);
	memset(want, lit, count < sizeof(want) ? count : sizeof(want));
	n = main_header(out, 0);
	n += header(out + n, 0, 1, 0, (uint32_t)dn, count, crc(want, count), "h.bin");
	memcpy(out + n, data, dn);
	n += dn;
	return n + end_marker(out + n);
}

static void test_arj_huffman(void **state)
{
	struct scan_archive_result res;
	uint8_t buf[512];
	struct arch_members g;
	size_t n = huf_sample(buf, 40, 'Z', 1);

	members_expand(buf, n, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_int_equal(g.m[0].data.n, 40);
	assert_memory_equal(g.m[0].data.p, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 40);
	members_free(&g);
}

/* clam.arj: clam.exe compressed with method 1 (real Huffman codes). */
static void test_arj_corpus(void **state)
{
	struct scan_archive_result res;
	struct stat st;
	uint8_t *arj, *exe;
	size_t an, en;
	struct arch_members g;

	if (stat(CLAMAV_XOR_DIR "/clam.arj.xor", &st)) {
		print_message("SKIP: corpus absent\n");
		skip();
	}
	arj = load_clamav_xor("clam.arj", &an);
	assert_non_null(arj);
	exe = load_clamav_xor("clam.exe", &en);
	assert_non_null(exe);
	members_expand(arj, an, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(g.m[0].name, "clam.exe");
	assert_int_equal(g.m[0].data.n, en);
	assert_memory_equal(g.m[0].data.p, exe, en);
	members_free(&g);
	/* a flipped data bit: the CRC (or the code) catches it */
	arj[an - 20] ^= 0x10;
	members_expand(arj, an, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_true(g.flags & SCAN_AMF_CORRUPT);
	members_free(&g);
	free(arj);
	free(exe);
}

static void test_arj_flags(void **state)
{
	struct scan_archive_result res;
	uint8_t buf[512];
	struct arch_members g;
	size_t n;

	/* garbled: counted, flagged, no data */
	n = main_header(buf, 0);
	n += stored(buf + n, 0x01, "secret.txt", "xxxxxx");
	n += stored(buf + n, 0, "plain.txt", "plain");
	n += end_marker(buf + n);
	members_expand(buf, n, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_ENCRYPTED);
	assert_int_equal(res.encrypted, 1);
	assert_int_equal(g.begins, 2);
	assert_true(g.flags & SCAN_AMF_ENCRYPTED);
	assert_int_equal(g.bytes, 5);
	assert_int_equal(g.m[1].data.n, 5);
	assert_memory_equal(g.m[1].data.p, "plain", 5);
	members_free(&g);
	/* multi-volume: reported, the part still delivered */
	n = main_header(buf, 0x04);
	n += stored(buf + n, 0x04, "part.txt", "first half");
	n += end_marker(buf + n);
	members_expand(buf, n, "t.arj", NULL, &g, &res);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	assert_string_equal(res.error, "arj: multi-volume archive, other volumes missing");
	assert_int_equal(res.decode_errors, 1);
	assert_int_equal(g.bytes, 10);
	members_free(&g);
}

static void check_error(const uint8_t *p, size_t n, const char *err, size_t out)
{
	members_corrupt(p, n, "t.arj", err, out);
}

static void test_arj_malformed(void **state)
{
	uint8_t buf[512];
	size_t n, m, f;

	/* file CRC mismatch */
	m = main_header(buf, 0);
	f = stored(buf + m, 0, "a", "data");
	n = m + f + end_marker(buf + m + f);
	buf[m + f - 1] = 'X';
	check_error(buf, n, "arj: CRC mismatch", 4);
	/* file header CRC mismatch */
	n = m + stored(buf + m, 0, "a", "data");
	n += end_marker(buf + n);
	buf[m + 10] ^= 0x40;
	check_error(buf, n, "arj: header CRC mismatch", 0);
	/* no end marker */
	n = m + stored(buf + m, 0, "a", "data");
	check_error(buf, n, "arj: truncated header", 4);
	/* data shorter than declared */
	check_error(buf, n - 1, "arj: compressed data truncated", 3);
	/* unknown method */
	n = m + header(buf + m, 0, 7, 0, 0, 0, 0, "a");
	n += end_marker(buf + n);
	check_error(buf, n, "arj: unknown compression method", 0);
	/* a file header size beyond the limit */
	n = m + end_marker(buf + m);
	put_le16(buf + m + 2, 3000);
	check_error(buf, n, "arj: bad header size", 0);
	/* an extended header running past the end */
	n = main_header(buf, 0);
	put_le16(buf + n - 2, 100);
	check_error(buf, n, "arj: truncated extended header", 0);
	/* method 1 tables: a one-symbol literal/length code out of range */
	{
		uint8_t d[16];
		struct bw w = { d, 0, 0, 0 };
		size_t h;

		bits(&w, 4, 16);
		bits(&w, 0, 5);
		bits(&w, 3, 5);
		bits(&w, 0, 9);
		bits(&w, 511, 9);
		bits(&w, 0, 10);
		bw_end(&w);
		m = main_header(buf, 0);
		h = header(buf + m, 0, 1, 0, (uint32_t)w.n, 4, 0, "h.bin");
		memcpy(buf + m + h, d, w.n);
		n = m + h + w.n;
		n += end_marker(buf + n);
		check_error(buf, n, "arj: bad code table", 0);
	}
	/* method 1: a match at distance 65535, beyond the 26624-byte window
	 * (one-symbol codes: length 3, position bits 16, then 15 bits) */
	{
		uint8_t d[16];
		struct bw w = { d, 0, 0, 0 };
		size_t h;

		bits(&w, 1, 16);
		bits(&w, 0, 5);
		bits(&w, 3, 5);
		bits(&w, 0, 9);
		bits(&w, 256, 9);
		bits(&w, 0, 5);
		bits(&w, 16, 5);
		bits(&w, 0x7fff, 15);
		bw_end(&w);
		m = main_header(buf, 0);
		h = header(buf + m, 0, 1, 0, (uint32_t)w.n, 3, 0, "x");
		memcpy(buf + m + h, d, w.n);
		n = m + h + w.n;
		n += end_marker(buf + n);
		check_error(buf, n, "arj: match distance beyond the window", 0);
	}
	/* method 4 declaring more than its data gives */
	n = fast_sample(buf, 0);
	m = main_header(buf, 0);
	put_le32(buf + m + 4 + 16, 1000);
	{
		size_t size = buf[m + 2] | buf[m + 3] << 8;

		put_le32(buf + m + 4 + size, crc(buf + m + 4, size));
	}
	check_error(buf, n, "arj: compressed data truncated", 10);
}

/* Every prefix of a valid archive: never a crash, a result every time. */
static void test_arj_truncations(void **state)
{
	uint8_t buf[512], mh[64];
	size_t n = fast_sample(buf, 0);
	/* from the main header's extension size on, the input is ARJ */
	size_t arj = main_header(mh, 0) - 2;

	for (size_t k = 0; k <= n; k++) {
		struct scan_archive_result res;
		struct arch_members g;

		members_expand(buf, k, "t.arj", NULL, &g, &res);
		assert_true(g.bytes <= 10);
		if (k < n && k >= arj)
			assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
		members_free(&g);
	}
}

/* Method 1 with a declared 4 GiB of one zero-bit symbol per byte: the
 * member limit cuts it. */
static void test_arj_member_limit(void **state)
{
	struct scan_archive_limits lim;
	uint8_t buf[512];
	size_t n = huf_sample(buf, 0, 'q', 2), m = main_header(buf, 0);
	size_t size = buf[m + 2] | buf[m + 3] << 8;

	put_le32(buf + m + 4 + 16, 0xffffffffu);
	put_le32(buf + m + 4 + size, crc(buf + m + 4, size));
	scan_archive_limits_default(&lim);
	lim.max_member_bytes = 100000;
	lim.max_ratio = 0xffffffffu;
	members_cut(buf, n, "t.arj", &lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arj_stored),
		cmocka_unit_test(test_arj_fastest),
		cmocka_unit_test(test_arj_huffman),
		cmocka_unit_test(test_arj_corpus),
		cmocka_unit_test(test_arj_flags),
		cmocka_unit_test(test_arj_malformed),
		cmocka_unit_test(test_arj_truncations),
		cmocka_unit_test(test_arj_member_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
