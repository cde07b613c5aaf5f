/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan_nsis.c - NSIS installers through scan_archive_expand(): a PE
 * stub built here with the first header after its image, then non-solid
 * (deflate and LZMA blocks, stored blocks) and solid (LZMA and deflate)
 * archives made with zlib's and liblzma's encoders; member names from the
 * script's EW_EXTRACTFILE entries (ANSI with NSIS 2 variable codes, NSIS 3
 * UTF-16), the sniff on a stub prefix, every malformed input with its
 * error, every truncation, the member limit and claimed sizes never
 * trusted; the ClamAV sample clam-nsis.exe when the corpus is present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lzma.h>
#include <zlib.h>

#include "scan_archive.h"
#include "scan_test.h"

#define FH_AT 0x400 /* the stub's image ends at 0x300: next 512 boundary */

enum comp { C_DEFLATE, C_LZMA };

static uint32_t le32_of(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void add32(struct sbuf *b, uint32_t v)
{
	uint8_t q[4];

	put_le32(q, v);
	sbuf_add(b, q, 4);
}

/* Compresses |p| as NSIS does: raw deflate, or LZMA properties and
 * dictionary size then raw LZMA1 with the end marker (lzma_alone's header
 * without its 8-byte size). */
static void pack(struct sbuf *out, enum comp c, const void *p, size_t n)
{
	size_t cap = n * 2 + 256, got;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	if (c == C_DEFLATE) {
		z_stream z = { 0 };

		assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		z.next_in = (Bytef *)p;
		z.avail_in = (uInt)n;
		z.next_out = buf;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		got = cap - z.avail_out;
		deflateEnd(&z);
		sbuf_add(out, buf, got);
	} else {
		lzma_stream x = LZMA_STREAM_INIT;
		lzma_options_lzma o;

		assert_false(lzma_lzma_preset(&o, 6));
		o.dict_size = 1u << 16;
		assert_int_equal(lzma_alone_encoder(&x, &o), LZMA_OK);
		x.next_in = p;
		x.avail_in = n;
		x.next_out = buf;
		x.avail_out = cap;
		assert_int_equal(lzma_code(&x, LZMA_FINISH), LZMA_STREAM_END);
		got = cap - x.avail_out;
		lzma_end(&x);
		assert_true(got > 13);
		assert_int_equal(buf[0], 0x5d);
		sbuf_add(out, buf, 5);
		sbuf_add(out, buf + 13, got - 13);
	}
	free(buf);
}

/* The PE stub: one section (|ndata|: NSIS's ".ndata") whose raw data is
 * 0x200-0x300, holding a decoy first header NSIS would never look at. */
static void stub(struct sbuf *b, bool ndata)
{
	uint8_t s[FH_AT];

	memset(s, 0xcc, sizeof(s));
	memset(s, 0, 0x200);
	s[0] = 'M';
	s[1] = 'Z';
	put_le32(s + 0x3c, 0x40);
	memcpy(s + 0x40, "PE\0\0", 4);
	s[0x44] = 0x4c;
	s[0x45] = 0x01;
	s[0x46] = 1;                         /* one section, no optional header */
	memcpy(s + 0x58, ndata ? ".ndata" : ".text", ndata ? 6 : 5);
	put_le32(s + 0x58 + 16, 0x100);         /* SizeOfRawData */
	put_le32(s + 0x58 + 20, 0x200);         /* PointerToRawData */
	put_le32(s + 0x204, 0xdeadbeef);
	memcpy(s + 0x208, "NullsoftInst", 12);
	sbuf_add(b, s, sizeof(s));
}

/* The first header at b->n (== FH_AT) for an archive of |alen| bytes. */
static void first_header(struct sbuf *b, uint32_t flags, uint32_t hlen, uint32_t alen)
{
	add32(b, flags);
	add32(b, 0xdeadbeef);
	sbuf_add(b, "NullsoftInst", 12);
	add32(b, hlen);
	add32(b, alen);
}

/* A script header: flags, eight {offset, count} blocks, EW_EXTRACTFILE
 * entries for data offsets 0 and |off2|, the string table. |wide|: NSIS 3
 * UTF-16 strings. */
static void script(struct sbuf *h, uint32_t off2, bool wide)
{
	static const char s1[] = "hello.txt";
	uint8_t e[2][28];
	struct sbuf str = { 0 };
	uint32_t n1, n2;

	memset(e, 0, sizeof(e));
	/* strings: "", "hello.txt", $INSTDIR "\sub\evil.exe" */
	if (wide) {
		sbuf_add(&str, "\0\0", 2);
		n1 = 1;
		for (size_t i = 0; i < sizeof(s1); i++)
			sbuf_add(&str, (uint8_t[2]){ (uint8_t)s1[i], 0 }, 2);
		n2 = (uint32_t)(str.n / 2);
		sbuf_add(&str, "\x03\x00\x15\x80", 4); /* NS_VAR_CODE, variable 21 */
		for (const char *q = "\\sub\\evil.exe"; ; q++) {
			sbuf_add(&str, (uint8_t[2]){ (uint8_t)*q, 0 }, 2);
			if (*q == 0)
				break;
		}
	} else {
		sbuf_add(&str, "", 1);
		n1 = 1;
		sbuf_add(&str, s1, sizeof(s1));
		n2 = (uint32_t)str.n;
		sbuf_add(&str, "\xfd\x15\x80\\sub\\evil.exe", 16);
	}
	put_le32(e[0], 20);
	put_le32(e[0] + 8, n1);
	put_le32(e[0] + 12, 0);
	put_le32(e[1], 20);
	put_le32(e[1] + 8, n2);
	put_le32(e[1] + 12, off2);
	add32(h, 0);
	for (int i = 0; i < 8; i++) {
		add32(h, i == 2 ? 68 : i == 3 ? 68 + 56 : 0);
		add32(h, i == 2 ? 2 : 0);
	}
	sbuf_add(h, e, sizeof(e));
	sbuf_add(h, str.p, str.n);
	sbuf_free(&str);
}

static const char d1[] = "Hello, NSIS world! Hello, NSIS world! Hello, NSIS world!";
static const char d2[] = "MZ stored bytes";
static const char d3[] = "third block, no name in the script";

/* A whole installer: stub, first header, blocks (non-solid: the header
 * and d1 compressed, d2 stored, d3 compressed) or one solid stream, CRC. */
static void installer(struct sbuf *b, enum comp c, bool solid, bool wide, bool ndata)
{
	struct sbuf h = { 0 }, body = { 0 }, blk = { 0 };
	uint32_t off2;

	/* d2's data offset: after d1's block (length prefix and bytes) */
	if (solid) {
		off2 = 4 + sizeof(d1);
	} else {
		pack(&blk, c, d1, sizeof(d1));
		off2 = (uint32_t)(4 + blk.n);
		sbuf_free(&blk);
	}
	script(&h, off2, wide);
	if (solid) {
		struct sbuf raw = { 0 };

		add32(&raw, (uint32_t)h.n);
		sbuf_add(&raw, h.p, h.n);
		add32(&raw, sizeof(d1));
		sbuf_add(&raw, d1, sizeof(d1));
		add32(&raw, sizeof(d2));
		sbuf_add(&raw, d2, sizeof(d2));
		add32(&raw, sizeof(d3));
		sbuf_add(&raw, d3, sizeof(d3));
		pack(&body, c, raw.p, raw.n);
		sbuf_free(&raw);
	} else {
		pack(&blk, c, h.p, h.n);
		add32(&body, 0x80000000u | (uint32_t)blk.n);
		sbuf_add(&body, blk.p, blk.n);
		blk.n = 0;
		pack(&blk, c, d1, sizeof(d1));
		add32(&body, 0x80000000u | (uint32_t)blk.n);
		sbuf_add(&body, blk.p, blk.n);
		add32(&body, sizeof(d2));
		sbuf_add(&body, d2, sizeof(d2));
		blk.n = 0;
		pack(&blk, c, d3, sizeof(d3));
		add32(&body, 0x80000000u | (uint32_t)blk.n);
		sbuf_add(&body, blk.p, blk.n);
	}
	stub(b, ndata);
	first_header(b, 0, (uint32_t)h.n, (uint32_t)(28 + body.n + 4));
	sbuf_add(b, body.p, body.n);
	add32(b, 0x12345678); /* CRC-32, not checked */
	sbuf_free(&h);
	sbuf_free(&body);
	sbuf_free(&blk);
}

/* The expected member list after the header member (data with NULs). */
static void expect_tail(struct sbuf *t)
{
	sbuf_add(t, "hello.txt:", 10);
	sbuf_add(t, d1, sizeof(d1));
	sbuf_add(t, "|evil.exe:", 10);
	sbuf_add(t, d2, sizeof(d2));
	sbuf_add(t, "|nsis-3:", 8);
	sbuf_add(t, d3, sizeof(d3));
	sbuf_add(t, "|", 1);
}

static void check_ok(const struct sbuf *b)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct sbuf t = { 0 };

	expect_tail(&t);
	assert_true(scan_archive_sniff((const uint8_t *)b->p, b->n));
	members_expand(b->p, b->n, "setup.exe", NULL, &g, &res);
	assert_null(res.error);
	assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_OK);
	assert_string_equal(res.format, "nsis");
	assert_int_equal(g.begins, 4);
	members_list(&g, "|");
	assert_memory_equal(g.list.p, "nsis-header:", 12);
	assert_true(g.list.n > t.n + 12);
	assert_memory_equal(g.list.p + g.list.n - t.n, t.p, t.n);
	members_free(&g);
	sbuf_free(&t);
}

static void test_nsis_nonsolid(void **state)
{
	struct sbuf b = { 0 };

	installer(&b, C_DEFLATE, false, false, false);
	check_ok(&b);
	sbuf_free(&b);
	installer(&b, C_LZMA, false, false, true);
	check_ok(&b);
	sbuf_free(&b);
	/* NSIS 3 Unicode strings */
	installer(&b, C_LZMA, false, true, false);
	check_ok(&b);
	sbuf_free(&b);
}

static void test_nsis_solid(void **state)
{
	struct sbuf b = { 0 };

	installer(&b, C_LZMA, true, false, false);
	check_ok(&b);
	sbuf_free(&b);
	installer(&b, C_DEFLATE, true, true, false);
	check_ok(&b);
	sbuf_free(&b);
}

static void test_nsis_sniff(void **state)
{
	struct sbuf b = { 0 };
	uint8_t *p;

	installer(&b, C_DEFLATE, false, false, false);
	p = (uint8_t *)b.p;
	/* the first header shows only past the stub's first 1 KiB: a prefix
	 * is claimed for ".ndata" only */
	assert_false(scan_archive_sniff(p, 1024));
	memcpy(p + 0x58, ".ndata", 6);
	assert_true(scan_archive_sniff(p, 1024));
	memcpy(p + 0x58, ".text\0", 6);
	/* not a PE */
	p[0x40] = 'X';
	assert_false(scan_archive_sniff(p, b.n));
	p[0x40] = 'P';
	/* the header off a 512-byte boundary is not one */
	memmove(p + FH_AT + 4, p + FH_AT, b.n - FH_AT - 4);
	assert_false(scan_archive_sniff(p, b.n));
	sbuf_free(&b);
}

/* A PE with a ".ndata" section but no NSIS archive, with a zip appended
 * (a self-extractor's layout): the NSIS sniff claims it, the decoder finds
 * no first header and hands the file back, and libarchive expands the
 * zip - nothing hides behind the section name. */
static void test_nsis_not_mine(void **state)
{
	static const char data[] = "appended to a stub";
	struct scan_archive_result res;
	struct arch_members g;
	struct sbuf b = { 0 };
	uint8_t h[46];
	uint32_t crc = (uint32_t)crc32(0, (const Bytef *)data, sizeof(data) - 1);
	size_t at, cd;

	stub(&b, true);
	/* the decoy first header inside the image is no archive: drop it */
	memset((uint8_t *)b.p + 0x204, 0, 16);
	at = b.n;
	memset(h, 0, sizeof(h));
	memcpy(h, "PK\x03\x04", 4);
	h[4] = 20;
	put_le32(h + 14, crc);
	put_le32(h + 18, sizeof(data) - 1);
	put_le32(h + 22, sizeof(data) - 1);
	h[26] = 5;
	sbuf_add(&b, h, 30);
	sbuf_add(&b, "a.txt", 5);
	sbuf_add(&b, data, sizeof(data) - 1);
	cd = b.n;
	memset(h, 0, sizeof(h));
	memcpy(h, "PK\x01\x02", 4);
	h[4] = h[6] = 20;
	put_le32(h + 16, crc);
	put_le32(h + 20, sizeof(data) - 1);
	put_le32(h + 24, sizeof(data) - 1);
	h[28] = 5;
	put_le32(h + 42, (uint32_t)(at));
	sbuf_add(&b, h, 46);
	sbuf_add(&b, "a.txt", 5);
	memset(h, 0, 22);
	memcpy(h, "PK\x05\x06", 4);
	h[8] = h[10] = 1;
	put_le32(h + 12, (uint32_t)(b.n - cd));
	put_le32(h + 16, (uint32_t)cd);
	sbuf_add(&b, h, 22);
	assert_true(scan_archive_sniff((const uint8_t *)b.p, 1024));
	members_expand(b.p, b.n, "setup.exe", NULL, &g, &res);
	assert_true(members_is(&g, 0, "a.txt", data, sizeof(data) - 1));
	assert_string_not_equal(res.format, "nsis");
	members_free(&g);
	sbuf_free(&b);
}

static void expect_error(const void *p, size_t n, const char *err, unsigned members)
{
	struct scan_archive_result res;
	struct arch_members g;

	members_expand(p, n, "setup.exe", NULL, &g, &res);
	if (err == NULL) {
		assert_null(res.error);
	} else {
		assert_non_null(res.error);
		assert_string_equal(res.error, err);
		assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
	}
	assert_int_equal(g.begins, members);
	members_free(&g);
}

static void test_nsis_malformed(void **state)
{
	struct sbuf b = { 0 }, s = { 0 };
	uint8_t *p;
	size_t n;

	/* a stub without its archive: nothing, no error */
	stub(&s, true);
	expect_error(s.p, s.n, NULL, 0);
	sbuf_free(&s);

	installer(&b, C_DEFLATE, false, false, false);
	p = (uint8_t *)b.p;
	n = b.n;
	/* the archive claims more than the file holds */
	put_le32(p + FH_AT + 24, (uint32_t)(n - FH_AT + 100));
	expect_error(p, n, "nsis: archive longer than the file", 4);
	put_le32(p + FH_AT + 24, 10);
	expect_error(p, n, "nsis: bad archive length", 0);
	put_le32(p + FH_AT + 24, 30);
	expect_error(p, n, "nsis: truncated archive", 0);
	put_le32(p + FH_AT + 24, (uint32_t)(n - FH_AT));
	/* the file cut inside the CRC: every block is there */
	expect_error(p, n - 1, "nsis: archive longer than the file", 4);
	/* the archive ends inside the last block */
	put_le32(p + FH_AT + 24, (uint32_t)(n - FH_AT - 8));
	expect_error(p, n, "nsis: block longer than the archive", 3);
	put_le32(p + FH_AT + 24, (uint32_t)(n - FH_AT));
	/* damaged deflate in the first data block: header delivered */
	{
		uint32_t hl = le32_of(p + FH_AT + 28) & 0x7fffffff;
		size_t d = FH_AT + 28 + 4 + hl + 4;

		p[d] = 0xff; /* BTYPE 11: invalid */
		expect_error(p, n, "nsis: damaged compressed data", 4);
	}
	sbuf_free(&b);

	/* bzip2 (NSIS's variant): unsupported, said so */
	installer(&b, C_DEFLATE, false, false, false);
	p = (uint8_t *)b.p;
	p[FH_AT + 28 + 4] = 0x31;
	expect_error(p, b.n, "nsis: bzip2 compression not supported", 0);
	/* solid bzip2 */
	memset(p + FH_AT + 28, 0, 4);
	p[FH_AT + 28] = 0x31;
	p[FH_AT + 28 + 3] = 0x7f;
	expect_error(p, b.n, "nsis: bzip2 compression not supported", 0);
	p[FH_AT + 28] = 0x32;
	expect_error(p, b.n, "nsis: unknown compression", 0);
	sbuf_free(&b);

	/* solid: a file longer than the stream (claimed 2 GiB, not trusted) */
	{
		struct sbuf raw = { 0 }, body = { 0 };

		add32(&raw, 4);
		add32(&raw, 0);
		add32(&raw, 0x7fffffff);
		sbuf_add(&raw, "abc", 3);
		pack(&body, C_LZMA, raw.p, raw.n);
		stub(&b, false);
		first_header(&b, 0, 4, (uint32_t)(28 + body.n));
		sbuf_add(&b, body.p, body.n);
		expect_error(b.p, b.n, "nsis: solid stream ends inside a file", 2);
		/* the stream cut short */
		b.n -= 3;
		put_le32((uint8_t *)b.p + FH_AT + 24, (uint32_t)(b.n - FH_AT));
		expect_error(b.p, b.n, "nsis: compressed data cut short", 2);
		sbuf_free(&b);
		sbuf_free(&raw);
		sbuf_free(&body);
	}
}

/* Every truncation of every variant: no crash, members begun are ended,
 * the result names its error. */
static void test_nsis_truncations(void **state)
{
	for (int v = 0; v < 4; v++) {
		struct sbuf b = { 0 };

		installer(&b, v & 1 ? C_LZMA : C_DEFLATE, v >= 2, false, true);
		for (size_t n = 0; n < b.n; n++) {
			struct scan_archive_result res;
			struct arch_members g;

			members_expand(b.p, n, "setup.exe", NULL, &g, &res);
			if (n > FH_AT + 28 && n < b.n - 4)
				assert_non_null(res.error);
			if (res.error)
				assert_int_equal(scan_archive_verdict(&res), SCAN_ARCHIVE_CORRUPT);
			members_free(&g);
		}
		sbuf_free(&b);
	}
}

static unsigned lim_begins;

static int lim_begin(const struct scan_archive_member *m, void *ud)
{
	lim_begins++;
	return 0;
}

/* The member and byte limits cut the walk. */
static void test_nsis_limits(void **state)
{
	static const struct scan_archive_callbacks cb = { lim_begin, NULL, NULL };
	struct scan_archive_limits lim = {
		.max_depth = 4, .max_members = 2, .max_total_bytes = 1 << 20,
		.max_member_bytes = 1 << 20, .max_nested_bytes = 1 << 20, .max_ratio = 1000,
		.ratio_min_bytes = 1 << 20, .work_budget = 1 << 24,
	};
	struct scan_archive_result res;
	struct scan_archive *a;
	struct sbuf b = { 0 };

	for (int solid = 0; solid < 2; solid++) {
		installer(&b, C_LZMA, solid, false, false);
		a = scan_archive_new(NULL, &lim);
		assert_non_null(a);
		lim_begins = 0;
		assert_int_equal(scan_archive_expand(a, (uint8_t *)b.p, b.n, "x.exe", &cb, NULL,
						     &res), 0);
		assert_int_equal(lim_begins, 2);
		assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_MEMBERS);
		scan_archive_free(a);
		sbuf_free(&b);
	}
	/* a member cut at 16 bytes */
	lim.max_members = 16;
	lim.max_member_bytes = 16;
	installer(&b, C_DEFLATE, true, false, false);
	a = scan_archive_new(NULL, &lim);
	assert_non_null(a);
	lim_begins = 0;
	assert_int_equal(scan_archive_expand(a, (uint8_t *)b.p, b.n, "x.exe", &cb, NULL, &res), 0);
	assert_int_equal(lim_begins, 1);
	assert_int_equal(res.limit, SCAN_ARCHIVE_LIM_MEMBER_BYTES);
	assert_true(res.expanded_bytes <= 16);
	scan_archive_free(a);
	sbuf_free(&b);
}

/* clam-nsis.exe: NSIS 2.37, non-solid LZMA, clam.exe named by the script. */
static void test_nsis_corpus(void **state)
{
	struct scan_archive_result res;
	struct arch_members g;
	struct stat st;
	uint8_t *in, *exe;
	size_t in_n, exe_n;
	char *at;

	if (stat(CLAMAV_XOR_DIR "/clam-nsis.exe.xor", &st) != 0) {
		print_message("SKIP: %s absent\n", CLAMAV_XOR_DIR);
		skip();
	}
	in = load_clamav_xor("clam-nsis.exe", &in_n);
	assert_non_null(in);
	exe = load_clamav_xor("clam.exe", &exe_n);
	assert_non_null(exe);
	assert_true(scan_archive_sniff(in, 1024));
	members_expand(in, in_n, "clam-nsis.exe", NULL, &g, &res);
	assert_null(res.error);
	assert_int_equal(g.begins, 2);
	members_list(&g, "|");
	at = memmem(g.list.p, g.list.n, "|clam.exe:", 10);
	assert_non_null(at);
	at += 10;
	assert_int_equal((size_t)(g.list.p + g.list.n - at), exe_n + 1);
	assert_memory_equal(at, exe, exe_n);
	members_free(&g);
	free(in);
	free(exe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nsis_nonsolid),
		cmocka_unit_test(test_nsis_solid),
		cmocka_unit_test(test_nsis_sniff),
		cmocka_unit_test(test_nsis_not_mine),
		cmocka_unit_test(test_nsis_malformed),
		cmocka_unit_test(test_nsis_truncations),
		cmocka_unit_test(test_nsis_limits),
		cmocka_unit_test(test_nsis_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
